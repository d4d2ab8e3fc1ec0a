// The object versions this process wrote, so that the watch event echoing a write does not wake
// the reconcile that made it: that reconcile went on from the object the API server returned, and
// reconciling again would only read what it just wrote; the same goes for a deletion it made. Any
// other version of the object (someone else's write or deletion) still wakes it. A watch event
// often arrives before the response to the write it echoes (both come over the same connection),
// so events of an object with a write in flight wait for that write's answer.

import type { KubernetesObject } from '@kubernetes/client-node';
import type { ChangeType } from './object-cache.ts';

interface Change {
  version: string | undefined;
  type: ChangeType;
  wake: () => void;
}

interface Entry {
  inFlight: number;
  /** Versions written and not yet seen on the watch. */
  versions: Set<string>;
  /** Deleted by this process, and the deletion not yet seen on the watch. */
  deleted: boolean;
  /** Changes seen while a write was in flight, in watch order. */
  parked: Change[];
}

const keyOf = (kind: string, object: KubernetesObject) => `${kind}/${object.metadata?.namespace ?? ''}/${object.metadata?.name ?? ''}`;

export class OwnWrites {
  private readonly entries = new Map<string, Entry>();

  /**
   * Runs `write`, a write of `target` (of `kind`), and records the version of the object it
   * returns (none when it returns undefined: nothing was written).
   */
  write<T extends KubernetesObject | undefined>(kind: string, target: KubernetesObject, write: () => Promise<T>): Promise<T> {
    return this.track(kind, target, write, (entry, written) => {
      const version = written?.metadata?.resourceVersion;
      if (version) entry.versions.add(version);
    });
  }

  /** Runs `remove`, a deletion of `target` (of `kind`) that answers whether it deleted it. */
  remove(kind: string, target: KubernetesObject, remove: () => Promise<boolean>): Promise<boolean> {
    return this.track(kind, target, remove, (entry, deleted) => {
      if (deleted) entry.deleted = true;
    });
  }

  private async track<R>(kind: string, target: KubernetesObject, call: () => Promise<R>, record: (entry: Entry, result: R) => void): Promise<R> {
    const key = keyOf(kind, target);
    const entry = this.entries.get(key) ?? { inFlight: 0, versions: new Set<string>(), deleted: false, parked: [] };
    this.entries.set(key, entry);
    entry.inFlight++;
    try {
      const result = await call();
      record(entry, result);
      return result;
    } finally {
      entry.inFlight--;
      if (entry.inFlight === 0) {
        for (const change of entry.parked.splice(0)) this.decide(entry, change);
      }
      this.forgetIfDone(key, entry);
    }
  }

  /**
   * Calls `wake` for the watch's `type` change of `object` unless it echoes one of this process's
   * writes; while a write of the object is in flight, once that write has answered.
   */
  onChange(kind: string, object: KubernetesObject, type: ChangeType, wake: () => void): void {
    const key = keyOf(kind, object);
    const entry = this.entries.get(key);
    if (!entry) return wake();
    const change = { version: object.metadata?.resourceVersion, type, wake };
    if (entry.inFlight > 0) {
      entry.parked.push(change);
      return;
    }
    this.decide(entry, change);
    this.forgetIfDone(key, entry);
  }

  /** Objects with writes in flight or not yet seen on the watch (for tests and memory checks). */
  get size(): number {
    return this.entries.size;
  }

  /**
   * A watch delivers an object's versions in order, so any other version than one written means
   * that those written before it will not be seen (a relist skips them): they are forgotten.
   */
  private decide(entry: Entry, { version, type, wake }: Change): void {
    if (type === 'delete' ? entry.deleted : version !== undefined && entry.versions.delete(version)) {
      if (type === 'delete') entry.deleted = false;
      return;
    }
    entry.versions.clear();
    entry.deleted = false;
    wake();
  }

  private forgetIfDone(key: string, entry: Entry): void {
    if (entry.inFlight === 0 && entry.versions.size === 0 && !entry.deleted && entry.parked.length === 0) this.entries.delete(key);
  }
}
