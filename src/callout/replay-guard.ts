// Copied tokens: an identity token is a bearer credential for its lifetime, so one presented from
// a second client address while it is still valid is refused. The workspace itself reconnects with
// the same token from the same address (a network blip, a server restart) and is let in again.
// Tokens are remembered by hash only, until they expire.

import { DenyReason } from '../api/reasons.ts';
import { Denial, type VerifiedIdentity } from '../identity/tokens.ts';

/** Above this many remembered tokens, expired ones are pruned before adding another. */
const PRUNE_AT = 50_000;

export class ReplayGuard {
  readonly #seen = new Map<string, { host: string; expiresAt: number }>();

  /** Remembers the token's first host; throws a Denial when `host` is another. */
  check(identity: VerifiedIdentity, host: string, now: Date): void {
    const seen = this.#seen.get(identity.tokenHash);
    if (seen && seen.expiresAt > now.getTime()) {
      if (seen.host !== host) throw new Denial(DenyReason.TokenReplayed, `token already in use from another address (${seen.host})`);
      return;
    }
    if (this.#seen.size >= PRUNE_AT) {
      for (const [hash, entry] of this.#seen) if (entry.expiresAt <= now.getTime()) this.#seen.delete(hash);
    }
    this.#seen.set(identity.tokenHash, { host, expiresAt: identity.expiresAt.getTime() });
  }
}
