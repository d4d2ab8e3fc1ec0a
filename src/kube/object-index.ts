// Cached objects grouped by a key computed from each (such as the access a Secret belongs to), kept
// in step with a watch: a reconcile asks for its own few objects instead of filtering all of a
// namespace's, which at 10,000 objects would make every reconcile touch all of them.

import type { KubernetesObject } from '@kubernetes/client-node';
import type { ChangeType } from './object-cache.ts';

const idOf = (object: KubernetesObject) => `${object.metadata?.namespace ?? ''}/${object.metadata?.name ?? ''}`;

export class ObjectIndex<T extends KubernetesObject> {
  private readonly groups = new Map<string, Map<string, T>>();
  /** The group each object is in now, so that a change of its key moves it. */
  private readonly groupOf = new Map<string, string>();
  private readonly keyOf: (object: T) => string | undefined;

  constructor(keyOf: (object: T) => string | undefined) {
    this.keyOf = keyOf;
  }

  /** Applies a watch's change of `object`. */
  update(object: T, type: ChangeType): void {
    const id = idOf(object);
    const before = this.groupOf.get(id);
    const after = type === 'delete' ? undefined : this.keyOf(object);
    if (before !== undefined && before !== after) {
      const group = this.groups.get(before);
      group?.delete(id);
      if (group?.size === 0) this.groups.delete(before);
      this.groupOf.delete(id);
    }
    if (after === undefined) return;
    const group = this.groups.get(after) ?? new Map<string, T>();
    group.set(id, object);
    this.groups.set(after, group);
    this.groupOf.set(id, after);
  }

  /** The objects whose key is `key`. */
  get(key: string): T[] {
    return [...(this.groups.get(key)?.values() ?? [])];
  }
}
