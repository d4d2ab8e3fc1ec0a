// The connections the audit knows to be open, each counted once however it was learnt (its
// connect advisory, a CONNZ listing, or both in either order), with counts per access and per
// issuer, and the ones that just closed, so that a listing asked for before a disconnect does not
// bring them back.

import type { AuditedConnection } from './drift.ts';

export interface LiveConnection extends AuditedConnection {
  /** When this process learnt of it: a listing asked for before then does not drop it. */
  seenAt: number;
}

export const issuerKey = (issuer: string) => `issuer/${issuer}`;

export class LiveConnections {
  readonly #live = new Map<string, LiveConnection>();
  /** Open connections by access key, and by issuerKey(). */
  readonly #active = new Map<string, number>();
  /** Connections closed lately, by id, and when. */
  readonly #closed = new Map<string, number>();

  get(id: string): LiveConnection | undefined {
    return this.#live.get(id);
  }

  values(): IterableIterator<LiveConnection> {
    return this.#live.values();
  }

  /** Adds `connection`, or puts it in place of the one with its id (counted once). */
  put(id: string, connection: LiveConnection): LiveConnection | undefined {
    const before = this.#live.get(id);
    if (before) this.#count(before, -1);
    this.#live.set(id, connection);
    this.#count(connection, +1);
    return before;
  }

  /** Removes the connection `id`, closed at `closedAt` (when known: a disconnect advisory). */
  remove(id: string, closedAt?: number): LiveConnection | undefined {
    const connection = this.#live.get(id);
    if (connection) {
      this.#live.delete(id);
      this.#count(connection, -1);
    }
    if (closedAt !== undefined) this.#closed.set(id, closedAt);
    return connection;
  }

  /** Whether the connection `id` closed at or after `time`. */
  closedSince(id: string, time: number): boolean {
    return (this.#closed.get(id) ?? -Infinity) >= time;
  }

  /** Forgets closings before `time`. */
  forgetClosedBefore(time: number): void {
    for (const [id, at] of this.#closed) if (at < time) this.#closed.delete(id);
  }

  /** Open connections of an access (by key) or an issuer (issuerKey()). */
  active(key: string): number {
    return this.#active.get(key) ?? 0;
  }

  #count({ issuer, accessKey }: LiveConnection, delta: number): void {
    for (const key of [issuerKey(issuer), accessKey]) {
      if (key === undefined) continue;
      const count = Math.max(0, this.active(key) + delta);
      if (count === 0) this.#active.delete(key);
      else this.#active.set(key, count);
    }
  }
}
