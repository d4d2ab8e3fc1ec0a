// The connection fields of each access's status (status.connections), written at most once per
// access per interval and not at all while they equal what is stored: a client reconnecting in a
// loop costs one write per interval, a quiet access none.

import { isDeepStrictEqual } from 'node:util';
import type { Logger } from '../log.ts';
import { describeError } from '../kube/errors.ts';

export interface ConnectionsStatus {
  active: number;
  lastConnectTime?: string;
  lastAuthFailureTime?: string;
}

export interface ConnectionStatusDeps {
  /** What the access's status holds now; null when the access is gone. */
  stored(accessKey: string): ConnectionsStatus | undefined | null;
  write(accessKey: string, connections: ConnectionsStatus): Promise<void>;
  intervalMs: number;
  log: Logger;
}

export class ConnectionStatusWriter {
  readonly #deps: ConnectionStatusDeps;
  readonly #wanted = new Map<string, ConnectionsStatus>();
  readonly #lastWrite = new Map<string, number>();
  readonly #timers = new Map<string, ReturnType<typeof setTimeout>>();
  readonly #writing = new Set<Promise<void>>();

  constructor(deps: ConnectionStatusDeps) {
    this.#deps = deps;
  }

  /** Changes some of the access's connection fields; the others stay as last wanted, or stored. */
  update(accessKey: string, change: Partial<ConnectionsStatus>): void {
    const base = this.#wanted.get(accessKey) ?? this.#deps.stored(accessKey) ?? { active: 0 };
    this.#set(accessKey, { ...base, ...change });
  }

  #set(accessKey: string, connections: ConnectionsStatus): void {
    this.#wanted.set(accessKey, connections);
    if (this.#timers.has(accessKey)) return;
    const last = this.#lastWrite.get(accessKey);
    const delay = last === undefined ? 0 : Math.max(0, last + this.#deps.intervalMs - Date.now());
    const timer = setTimeout(() => {
      this.#timers.delete(accessKey);
      const writing = this.#flush(accessKey).finally(() => this.#writing.delete(writing));
      this.#writing.add(writing);
    }, delay);
    timer.unref();
    this.#timers.set(accessKey, timer);
  }

  /** Drops what is due for `accessKey` (deleted). */
  forget(accessKey: string): void {
    clearTimeout(this.#timers.get(accessKey));
    this.#timers.delete(accessKey);
    this.#wanted.delete(accessKey);
  }

  /** Stops: pending writes are dropped (the next leader counts afresh), running ones awaited. */
  async stop(): Promise<void> {
    for (const timer of this.#timers.values()) clearTimeout(timer);
    this.#timers.clear();
    await Promise.all([...this.#writing]);
  }

  async #flush(accessKey: string): Promise<void> {
    const wanted = this.#wanted.get(accessKey);
    const stored = this.#deps.stored(accessKey);
    if (!wanted || stored === null || isDeepStrictEqual(stored ?? {}, wanted)) {
      this.#forget(accessKey, wanted);
      return;
    }
    this.#lastWrite.set(accessKey, Date.now());
    try {
      await this.#deps.write(accessKey, wanted);
      this.#forget(accessKey, wanted);
    } catch (error) {
      this.#deps.log.warn({ access: accessKey, error: describeError(error) }, 'connection status not written, retrying');
      this.#set(accessKey, this.#wanted.get(accessKey) ?? wanted);
      return;
    }
    // Time since this write is kept only as long as it holds the next one back.
    const written = this.#lastWrite.get(accessKey);
    setTimeout(() => {
      if (this.#lastWrite.get(accessKey) === written && !this.#timers.has(accessKey)) this.#lastWrite.delete(accessKey);
    }, this.#deps.intervalMs).unref();
  }

  /** Drops the wish if nothing newer came meanwhile. */
  #forget(accessKey: string, wanted: ConnectionsStatus | undefined): void {
    if (this.#wanted.get(accessKey) === wanted) this.#wanted.delete(accessKey);
  }
}
