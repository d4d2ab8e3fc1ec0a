// Several informers read as one: one per served namespace (MergedLister, customResourceInformers),
// and informers started when first needed (OnDemandInformers).

import type { KubernetesObject } from '@kubernetes/client-node';
import type { Logger } from '../log.ts';
import { customResourcePath, type CustomResource, type KubeClient } from './api.ts';
import { ResilientInformer, type ChangeType } from './informer.ts';
import type { OnDemandLister } from './lister.ts';

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

/** One informer of `resource` per namespace in `scopes` (undefined: all namespaces), merged. */
export function customResourceInformers<T extends KubernetesObject>(
  client: KubeClient,
  resource: CustomResource,
  scopes: readonly (string | undefined)[],
  options: { log: Logger; onChange: (object: T, type: ChangeType) => void },
): MergedLister<T> {
  return new MergedLister(
    scopes.map(
      (namespace) =>
        new ResilientInformer<T>(client, {
          name: namespace ? `${resource.plural} in ${namespace}` : resource.plural,
          path: customResourcePath(resource, namespace),
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
    client: KubeClient,
    scopes: (string | undefined)[],
    options: {
      name: string;
      path: (namespace: string | undefined) => string;
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
            new ResilientInformer<T & KubernetesObject>(client, {
              name: namespace ? `${options.name} in ${namespace}` : options.name,
              path: options.path(namespace),
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
