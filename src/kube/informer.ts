// Watch-backed caches. ResilientInformer caches one resource and never gives up: it lists (in pages
// of 500, so that 10,000 objects never arrive as one response), then watches from the list's
// resourceVersion with bookmarks, and resumes the watch from the last resourceVersion it saw when
// the API server ends it. It lists again on 410 Gone (a resourceVersion too old to resume from: at
// once if the watch had been working), or after an error the API server answered; after a network
// error it resumes the watch. Other restarts after an error wait, with exponential backoff (API
// server restarts, network loss, expired credentials, ...). merged-informers.ts groups several.

import type { KubernetesObject } from '@kubernetes/client-node';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Logger } from '../log.ts';
import type { KubeClient } from './api.ts';
import { describeError, statusCode } from './errors.ts';
import { ObjectCache, Relist, type ChangeType } from './object-cache.ts';
import { ApiError, type KubeTransport } from './transport.ts';
import { parseWatchEvent, type WatchEvent } from './watch-events.ts';

export type { ChangeType };

/** Objects per list page. */
export const PAGE_SIZE = 500;
/** A watch that ends sooner than this without an event is an error (backoff), not a normal end. */
const SHORT_WATCH_MS = 1000;

/**
 * `object` without its managedFields: the API server's bookkeeping of who set which field, often
 * the largest part of a small object. Nothing here reads them, and a replace that carries none
 * leaves the server's as they are.
 */
function trimmed<T extends KubernetesObject>(object: T): T {
  if (object.metadata) delete object.metadata.managedFields;
  return object;
}

/** A page of a list response, as the API server sends it. */
interface ListPage<T> {
  apiVersion?: string;
  kind?: string;
  metadata?: { resourceVersion?: string; continue?: string };
  items: T[];
}

export interface ResilientInformerOptions<T extends KubernetesObject> {
  /** Name for logs, such as "secrets". */
  name: string;
  /** API path listed and watched, such as /api/v1/secrets. */
  path: string;
  labelSelector?: string;
  /** Such as metadata.name=x, to watch one object. */
  fieldSelector?: string;
  log: Logger;
  /** Called for every added, changed or deleted object (also for the changes a relist finds). */
  onChange: (object: T, type: ChangeType) => void;
  minRestartDelayMs?: number;
  maxRestartDelayMs?: number;
}

export class ResilientInformer<T extends KubernetesObject> {
  private readonly transport: KubeTransport;
  private readonly options: ResilientInformerOptions<T>;
  private readonly cache = new ObjectCache<T>();
  private restartDelayMs: number;
  /** Where the watch resumes; undefined: list first. */
  private resourceVersion: string | undefined;
  /** Whether the last watch delivered events or lasted (see watch()). */
  private watchWorked = false;
  private running: Promise<void> | undefined;
  private stopping = new AbortController();
  private readonly synced: Promise<void>;
  private markSynced: () => void = () => {};

  constructor(client: KubeClient, options: ResilientInformerOptions<T>) {
    this.transport = client.transport;
    this.options = options;
    this.restartDelayMs = options.minRestartDelayMs ?? 500;
    this.synced = new Promise((resolve) => (this.markSynced = resolve));
  }

  /** Starts listing and watching; resolves once a list has filled the cache (after restarts, if need be). */
  async start(): Promise<void> {
    if (this.stopping.signal.aborted) this.stopping = new AbortController();
    this.running ??= this.run(this.stopping.signal);
    await this.synced;
  }

  /** Stops listing and watching; no change is reported after (what arrives later is dropped). */
  async stop(): Promise<void> {
    this.stopping.abort();
    await this.running;
    this.running = undefined;
  }

  get(name: string, namespace?: string): T | undefined {
    return this.cache.get(name, namespace);
  }

  list(namespace?: string): readonly T[] {
    return this.cache.list(namespace);
  }

  private async run(signal: AbortSignal): Promise<void> {
    while (!signal.aborted) {
      try {
        if (this.resourceVersion === undefined) await this.relist(signal);
        if (!(await this.watch(signal))) await this.backOff(new Error('the API server ended the watch at once'), signal);
      } catch (error) {
        if (signal.aborted) return;
        if (statusCode(error) === 410) {
          // Too old to resume from: list again, at once after a watch that had been working; after
          // one that failed at once, only after a pause, so that no loop of lists can start.
          this.resourceVersion = undefined;
          if (this.watchWorked) continue;
        }
        // An answer from the API server (403, 404, 5xx...) may mean it lost what we watched from.
        if (error instanceof ApiError) this.resourceVersion = undefined;
        await this.backOff(error, signal);
      }
    }
  }

  /** Lists page by page into the cache, calling onChange for what changed, and for what vanished. */
  private async relist(signal: AbortSignal): Promise<void> {
    const { path, labelSelector, fieldSelector, onChange } = this.options;
    let relist = new Relist(this.cache);
    let next: string | undefined;
    let resourceVersion = '';
    for (;;) {
      let page: ListPage<T>;
      try {
        page = await this.transport.request<ListPage<T>>('GET', path, { query: { limit: PAGE_SIZE, continue: next, labelSelector, fieldSelector }, signal });
      } catch (error) {
        // The continue token expired (its snapshot was compacted): list again from the start.
        if (next === undefined || statusCode(error) !== 410) throw error;
        relist = new Relist(this.cache);
        next = undefined;
        continue;
      }
      if (signal.aborted) throw new Error(`informer ${this.options.name} stopped`);
      // Items of a list carry no kind or apiVersion; watch events do: the cache has them alike.
      const kind = page.kind?.replace(/List$/, '');
      for (const item of page.items) {
        item.kind ??= kind;
        item.apiVersion ??= page.apiVersion;
        const change = relist.see(trimmed(item));
        if (change) onChange(item, change);
      }
      next = page.metadata?.continue || undefined;
      resourceVersion = page.metadata?.resourceVersion ?? '';
      if (next === undefined) break;
    }
    for (const object of relist.vanished()) onChange(object, 'delete');
    this.resourceVersion = resourceVersion;
    this.markSynced();
  }

  /**
   * Watches from this.resourceVersion until the API server ends the watch: true when that was a
   * normal end (after events, or after a while), false when it ended at once without any. A watch
   * that delivers events or lasts resets the backoff, however it ends.
   */
  private async watch(signal: AbortSignal): Promise<boolean> {
    const { path, labelSelector, fieldSelector } = this.options;
    // As client-go: the API server ends each watch after 5 to 10 minutes, spreading the restarts.
    const timeoutSeconds = 300 + Math.floor(Math.random() * 300);
    const startedMs = Date.now();
    this.watchWorked = false;
    const resetBackoff = () => {
      this.watchWorked = true;
      this.restartDelayMs = this.options.minRestartDelayMs ?? 500;
    };
    const lasting = setTimeout(resetBackoff, SHORT_WATCH_MS);
    const query = { watch: 1, resourceVersion: this.resourceVersion, allowWatchBookmarks: true, timeoutSeconds, labelSelector, fieldSelector };
    try {
      // No data for longer than the API server's own timeout means a dead connection.
      await this.transport.stream(path, query, { signal, idleMs: (timeoutSeconds + 60) * 1000 }, (line) => {
        if (signal.aborted) return;
        this.apply(parseWatchEvent<T>(line));
        if (!this.watchWorked) resetBackoff();
      });
    } finally {
      clearTimeout(lasting);
    }
    return this.watchWorked || Date.now() - startedMs >= SHORT_WATCH_MS;
  }

  private apply(event: WatchEvent<T>): void {
    const { object } = event;
    switch (event.type) {
      case 'ADDED':
      case 'MODIFIED': {
        const change = this.cache.put(trimmed(object));
        if (change) this.options.onChange(object, change);
        break;
      }
      case 'DELETED':
        this.cache.remove(object);
        this.options.onChange(trimmed(object), 'delete');
        break;
      case 'ERROR': {
        const { code } = object as { code?: unknown };
        throw new ApiError(`watch ${this.options.path}`, typeof code === 'number' ? code : 500, object);
      }
    }
    // Set once the event is in the cache: a resumed watch starts after it (BOOKMARK: only this).
    this.resourceVersion = object.metadata?.resourceVersion || this.resourceVersion;
  }

  private async backOff(error: unknown, signal: AbortSignal): Promise<void> {
    const delay = this.restartDelayMs;
    this.restartDelayMs = Math.min(delay * 2, this.options.maxRestartDelayMs ?? 30_000);
    this.options.log.warn({ informer: this.options.name, error: describeError(error), retryInMs: delay }, 'watch failed, restarting');
    // Ends early when stopped; the abort listener goes with the timer, so that backoffs over a long
    // outage do not pile listeners up on the informer's signal.
    await sleep(delay, undefined, { signal }).catch(() => undefined);
  }
}
