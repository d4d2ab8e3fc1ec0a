// Watch-backed caches. ResilientInformer caches one resource and never gives up:
// @kubernetes/client-node's informer relists after 410 Gone but stops on any other error; this one
// restarts it with exponential backoff after every error (API server restarts, network loss,
// expired credentials, ...). MergedLister reads several as one (one per served namespace), and
// OnDemandInformers starts them when first asked for.

import {
  CustomObjectsApi,
  ListWatch,
  Watch,
  type Informer,
  type KubeConfig,
  type KubernetesListObject,
  type KubernetesObject,
  type ObjectCache,
} from '@kubernetes/client-node';
import type { Logger } from '../log.ts';
import type { OnDemandLister } from './lister.ts';
import { describeError } from './errors.ts';

export type ChangeType = 'add' | 'update' | 'delete';

/**
 * `object` without its managedFields: the API server's bookkeeping of who set which field, often
 * the largest part of a small object. Nothing here reads them, and a replace that carries none
 * leaves the server's as they are.
 */
function trimmed<T extends KubernetesObject>(object: T): T {
  if (object.metadata) delete object.metadata.managedFields;
  return object;
}

export interface ResilientInformerOptions<T extends KubernetesObject> {
  /** Name for logs, such as "secrets". */
  name: string;
  /** API path watched, such as /api/v1/secrets. */
  path: string;
  list: () => Promise<KubernetesListObject<T>>;
  labelSelector?: string;
  /** Such as metadata.name=x, to watch one object. */
  fieldSelector?: string;
  log: Logger;
  /** Called for every added, changed or deleted object (also for the objects of a relist). */
  onChange: (object: T, type: ChangeType) => void;
  minRestartDelayMs?: number;
  maxRestartDelayMs?: number;
}

export class ResilientInformer<T extends KubernetesObject> {
  private readonly informer: Informer<T> & ObjectCache<T>;
  private readonly options: ResilientInformerOptions<T>;
  private stopped = false;
  private restartDelayMs: number;
  private restartTimer: NodeJS.Timeout | undefined;
  /** Set by the first successful list; the cache is filled once start() resolves after it. */
  private listed = false;
  private synced: Promise<void>;
  private markSynced: () => void = () => {};

  constructor(kubeConfig: KubeConfig, options: ResilientInformerOptions<T>) {
    this.options = options;
    this.restartDelayMs = options.minRestartDelayMs ?? 500;
    this.synced = new Promise((resolve) => (this.markSynced = resolve));
    const list = async () => {
      const result = await options.list();
      // Stopped meanwhile: failing here keeps the ListWatch from going on to watch (see stop()).
      if (this.stopped) throw new Error(`informer ${options.name} stopped`);
      // A successful list means the API server is back: the next error starts a fresh backoff.
      this.restartDelayMs = options.minRestartDelayMs ?? 500;
      this.listed = true;
      return result;
    };
    // makeInformer, with the field selector it does not pass on.
    this.informer = new ListWatch(options.path, new Watch(kubeConfig), list, false, options.labelSelector, options.fieldSelector);
    const handle = (type: ChangeType, object: T) => {
      if (this.stopped) {
        // A watch that was still connecting when stop() ran (see there): stopped now that it is known.
        void this.informer.stop();
        return;
      }
      options.onChange(type === 'delete' ? object : trimmed(object), type);
    };
    // The cache holds the very object passed to these handlers, registered first: trimmed here, it
    // is trimmed in the cache.
    this.informer.on('add', (object) => handle('add', object));
    this.informer.on('update', (object) => handle('update', object));
    this.informer.on('delete', (object) => handle('delete', object));
    this.informer.on('error', (error: unknown) => this.scheduleRestart(error));
  }

  /** Starts watching; resolves once a list has filled the cache (after restarts, if need be). */
  async start(): Promise<void> {
    this.stopped = false;
    await this.run();
    await this.synced;
  }

  /**
   * Stops watching; no change is reported after. The ListWatch can only abort a watch once it is
   * connected: one still connecting goes on, and is stopped at its first event.
   */
  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.restartTimer);
    await this.informer.stop();
  }

  get(name: string, namespace?: string): T | undefined {
    return this.informer.get(name, namespace);
  }

  list(namespace?: string): readonly T[] {
    return this.informer.list(namespace);
  }

  /**
   * One start of the underlying informer. It reports list and watch failures through 'error'
   * (scheduleRestart), but can also reject, for example when refreshing credentials fails.
   */
  private async run(): Promise<void> {
    try {
      await this.informer.start();
    } catch (error) {
      this.scheduleRestart(error);
      return;
    }
    if (this.listed) this.markSynced();
  }

  private scheduleRestart(error: unknown): void {
    if (this.stopped) return;
    const delay = this.restartDelayMs;
    this.restartDelayMs = Math.min(delay * 2, this.options.maxRestartDelayMs ?? 30_000);
    this.options.log.warn(
      { informer: this.options.name, error: describeError(error), retryInMs: delay },
      'watch failed, restarting',
    );
    clearTimeout(this.restartTimer);
    this.restartTimer = setTimeout(() => {
      if (!this.stopped) void this.run();
    }, delay);
  }
}

/** One cache over several informers of one resource, such as one per namespace. */
export class MergedLister<T extends KubernetesObject> {
  readonly informers: readonly ResilientInformer<T>[];

  constructor(informers: readonly ResilientInformer<T>[]) {
    this.informers = informers;
  }

  get(name: string, namespace?: string): T | undefined {
    for (const informer of this.informers) {
      const object = informer.get(name, namespace);
      if (object) return object;
    }
    return undefined;
  }

  list(namespace?: string): readonly T[] {
    return this.informers.flatMap((informer) => informer.list(namespace));
  }
}

/** A custom resource, and how it is listed in one namespace or in all. */
export interface CustomResource {
  group: string;
  version: string;
  plural: string;
}

/** The API path and list call of `resource` in `namespace` (all namespaces when undefined). */
export function customResourceScope<T extends KubernetesObject>(
  customObjects: CustomObjectsApi,
  resource: CustomResource,
  namespace: string | undefined,
): { path: string; list: () => Promise<KubernetesListObject<T>> } {
  const { group, version, plural } = resource;
  return {
    path: `/apis/${group}/${version}/${namespace ? `namespaces/${namespace}/` : ''}${plural}`,
    list: async () =>
      (await (namespace
        ? customObjects.listNamespacedCustomObject({ group, version, plural, namespace })
        : customObjects.listClusterCustomObject({ group, version, plural }))) as KubernetesListObject<T>,
  };
}

/** One informer of `resource` per namespace in `scopes` (undefined: all namespaces), merged. */
export function customResourceInformers<T extends KubernetesObject>(
  kubeConfig: KubeConfig,
  resource: CustomResource,
  scopes: readonly (string | undefined)[],
  options: { log: Logger; onChange: (object: T, type: ChangeType) => void },
): MergedLister<T> {
  const customObjects = kubeConfig.makeApiClient(CustomObjectsApi);
  return new MergedLister(
    scopes.map(
      (namespace) =>
        new ResilientInformer<T>(kubeConfig, {
          name: namespace ? `${resource.plural} in ${namespace}` : resource.plural,
          ...customResourceScope<T>(customObjects, resource, namespace),
          ...options,
        }),
    ),
  );
}

/**
 * Informers of one resource, one per served namespace, started on the first ready() call; ready()
 * answers once all have synced (calling `onSynced` then), and undefined until.
 */
export class OnDemandInformers<T extends { metadata?: { namespace?: string } }> implements OnDemandLister<T> {
  private lister: MergedLister<T & KubernetesObject> | undefined;
  private synced = false;
  private readonly create: () => MergedLister<T & KubernetesObject>;
  private readonly onSynced: () => void;

  constructor(
    kubeConfig: KubeConfig,
    scopes: (string | undefined)[],
    options: {
      name: string;
      path: (namespace: string | undefined) => string;
      list: (namespace: string | undefined) => Promise<KubernetesListObject<T>>;
      log: Logger;
      onChange: (object: T) => void;
    },
    onSynced: () => void,
  ) {
    this.onSynced = onSynced;
    this.create = () =>
      new MergedLister(
        scopes.map(
          (namespace) =>
            new ResilientInformer<T & KubernetesObject>(kubeConfig, {
              name: namespace ? `${options.name} in ${namespace}` : options.name,
              path: options.path(namespace),
              list: () => options.list(namespace) as Promise<KubernetesListObject<T & KubernetesObject>>,
              log: options.log,
              onChange: options.onChange,
            }),
        ),
      );
  }

  ready(): MergedLister<T & KubernetesObject> | undefined {
    if (!this.lister) {
      const lister = this.create();
      this.lister = lister;
      void Promise.all(lister.informers.map((informer) => informer.start())).then(() => {
        this.synced = true;
        this.onSynced();
      });
    }
    return this.synced ? this.lister : undefined;
  }

  informers(): readonly ResilientInformer<T & KubernetesObject>[] {
    return this.lister?.informers ?? [];
  }
}
