// The entries an account JWT must carry, by user public key, kept in step with the account's
// RevocationStore: what was stored by an earlier process is merged in before the first cycle,
// and what is requested here is written back before it is pushed, so that a restart still knows.

import type { Clock } from '../api/clock.ts';
import type { RevocationEntry, RevocationStore } from './revocation-store.ts';

const toSeconds = (date: Date) => Math.floor(date.getTime() / 1000);

export class RevocationList {
  private readonly store: RevocationStore;
  private readonly account: string;
  private readonly clock: Clock;
  private readonly pruneGraceMs: number;
  private readonly entries = new Map<string, RevocationEntry>();
  private loaded = false;
  private storeBehind = false;

  constructor(options: { store: RevocationStore; account: string; clock: Clock; pruneGraceMs: number }) {
    this.store = options.store;
    this.account = options.account;
    this.clock = options.clock;
    this.pruneGraceMs = options.pruneGraceMs;
  }

  /**
   * Lists `user` of the access `access`, revoked `now`, until `expiresAt` (an entry listed earlier
   * keeps its revocation time, and the later expiry wins). True when this changed the list.
   */
  add(user: string, expiresAt: Date, access: string, now: Date): boolean {
    const current = this.entries.get(user);
    const expiresAtSeconds = Math.max(toSeconds(expiresAt), current?.expiresAt ?? 0);
    if (current && current.expiresAt >= expiresAtSeconds) return false;
    const revokedAt = current?.revokedAt ?? toSeconds(now);
    this.entries.set(user, { revokedAt, expiresAt: expiresAtSeconds, access });
    this.storeBehind = true;
    return true;
  }

  has(user: string): boolean {
    return this.entries.has(user);
  }

  /** What `user` was revoked for (an access key), if it is listed. */
  revokedFor(user: string): string | undefined {
    return this.entries.get(user)?.access;
  }

  users(): string[] {
    return [...this.entries.keys()];
  }

  /** A copy, which later changes leave alone. */
  snapshot(): Map<string, RevocationEntry> {
    return new Map(this.entries);
  }

  /** Drops `users` (pruned), from the store too at the next save. */
  remove(users: Iterable<string>): void {
    for (const user of users) this.entries.delete(user);
    this.storeBehind = true;
  }

  /** Merges the stored entries in, once (and again after a save found a ConfigMap changed). */
  async load(): Promise<void> {
    if (this.loaded) return;
    const stored = await this.store.load(this.account);
    for (const [user, entry] of stored) if (!this.entries.has(user)) this.entries.set(user, entry);
    this.storeBehind ||= this.entries.size > stored.size;
    this.loaded = true;
  }

  /**
   * Writes the entries as they are now, less those past their prune time (no JWT they cover is
   * valid any more, and they must not fill the ConfigMap). Requests arriving during the write mark
   * it behind again.
   */
  async save(): Promise<void> {
    if (!this.storeBehind) return;
    this.storeBehind = false;
    const horizon = this.clock().getTime() - this.pruneGraceMs;
    const live = new Map([...this.entries].filter(([, entry]) => entry.expiresAt * 1000 > horizon));
    try {
      await this.store.save(this.account, live);
    } catch (error) {
      // Maybe written by someone else: load and merge before the next save.
      this.storeBehind = true;
      this.loaded = false;
      throw error;
    }
  }
}
