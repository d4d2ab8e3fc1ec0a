// Tokens already verified, by hash: a workspace reconnecting (a NATS server restarted, a network
// blip) presents the same token again, and a connect storm is mostly that. A hit skips the parse
// and the signature check, nothing else: the entry goes when the token expires, when its provider
// is no longer the callout's (a changed spec), and when its key left the provider's JWKS (a key
// the provider withdrew). Who it maps to is decided afresh on every login (authorize.ts).

import type { KeySet } from './key-set.ts';

/** Entries kept at most; beyond it, expired ones are dropped, then the oldest. */
const MAX_ENTRIES = 20_000;

/** What is remembered of a token: when it expires, and its hash. */
interface Verified {
  expiresAt: Date;
  tokenHash: string;
}

interface Entry<T extends Verified> {
  identity: T;
  kid: string;
  keys: KeySet;
}

export class VerifiedTokens<T extends Verified> {
  readonly #entries = new Map<string, Entry<T>>();

  /** The identity of the token with `hash`, if verified before and still good at `now`. */
  get(hash: string, now: Date, current: (entry: { identity: T; keys: KeySet }) => boolean): T | undefined {
    const entry = this.#entries.get(hash);
    if (!entry) return undefined;
    if (entry.identity.expiresAt.getTime() <= now.getTime() || !entry.keys.has(entry.kid) || !current(entry)) {
      this.#entries.delete(hash);
      return undefined;
    }
    return entry.identity;
  }

  /** Remembers a verified token (only one whose key has an id: the check above needs it). */
  set(identity: T, kid: string | undefined, keys: KeySet, now: Date): void {
    if (kid === undefined) return;
    if (this.#entries.size >= MAX_ENTRIES) {
      for (const [hash, entry] of this.#entries) if (entry.identity.expiresAt.getTime() <= now.getTime()) this.#entries.delete(hash);
      // Still full: the oldest go (a Map iterates in insertion order).
      for (const hash of this.#entries.keys()) {
        if (this.#entries.size < MAX_ENTRIES) break;
        this.#entries.delete(hash);
      }
    }
    this.#entries.set(identity.tokenHash, { identity, kid, keys });
  }
}
