// An informer's cache: objects by namespace and name, and what a watch event or a relist changes
// in it. An object stored again at the same resourceVersion is no change (a relist or a resumed
// watch repeats what the cache holds); a relist removes the objects it no longer lists. Pure.

import type { KubernetesObject } from '@kubernetes/client-node';

export type ChangeType = 'add' | 'update' | 'delete';

export class ObjectCache<T extends KubernetesObject> {
  /** namespace ('' for cluster-scoped objects) -> name -> object. */
  private readonly namespaces = new Map<string, Map<string, T>>();

  get(name: string, namespace?: string): T | undefined {
    return this.namespaces.get(namespace || '')?.get(name);
  }

  /** The objects of `namespace`, or all when it is undefined. */
  list(namespace?: string): T[] {
    if (namespace) return [...(this.namespaces.get(namespace)?.values() ?? [])];
    return [...this.namespaces.values()].flatMap((objects) => [...objects.values()]);
  }

  /** Stores `object`: 'add' or 'update', or undefined when the cache holds this resourceVersion already. */
  put(object: T): ChangeType | undefined {
    const namespace = object.metadata?.namespace || '';
    const name = object.metadata?.name ?? '';
    let objects = this.namespaces.get(namespace);
    if (!objects) this.namespaces.set(namespace, (objects = new Map()));
    const cached = objects.get(name);
    if (cached && sameVersion(cached, object)) return undefined;
    objects.set(name, object);
    return cached ? 'update' : 'add';
  }

  /** Removes the object with `object`'s namespace and name; true if there was one. */
  remove(object: T): boolean {
    const namespace = object.metadata?.namespace || '';
    const objects = this.namespaces.get(namespace);
    const removed = objects?.delete(object.metadata?.name ?? '') ?? false;
    if (objects?.size === 0) this.namespaces.delete(namespace);
    return removed;
  }
}

const sameVersion = (a: KubernetesObject, b: KubernetesObject) =>
  a.metadata?.resourceVersion !== undefined && a.metadata.resourceVersion === b.metadata?.resourceVersion;

/**
 * One relist into `cache`, page by page: see() stores each listed object (the change, if any), and
 * vanished() then removes and returns the cached objects the list did not hold.
 */
export class Relist<T extends KubernetesObject> {
  private readonly cache: ObjectCache<T>;
  private readonly seen = new Set<T>();

  constructor(cache: ObjectCache<T>) {
    this.cache = cache;
  }

  see(object: T): ChangeType | undefined {
    const change = this.cache.put(object);
    // The cached object, which is `object` unless it was the same version.
    const cached = this.cache.get(object.metadata?.name ?? '', object.metadata?.namespace);
    if (cached) this.seen.add(cached);
    return change;
  }

  vanished(): T[] {
    const gone = this.cache.list().filter((object) => !this.seen.has(object));
    for (const object of gone) this.cache.remove(object);
    return gone;
  }
}
