// An identity provider's signing keys (its JWKS), as the auth callout needs them: fetched once
// before the first login, refreshed in the background when they get old, fetched again at once
// for a key id not seen yet (a rotation at the provider; at most once per cooldown, so a flood of
// tokens with made-up key ids cannot turn into a flood of fetches), and kept when a fetch fails, so
// a provider that is down for a while still lets in tokens signed with keys already known.
//
// jose's createRemoteJWKSet fetches on an unknown kid with a cooldown too, but drops its keys when
// a refresh of an old set fails, and hides which keys it holds; so the fetching is done here, and
// jose's createLocalJWKSet picks the key for a token.

import { createLocalJWKSet, errors, type JSONWebKeySet, type JWTVerifyGetKey } from 'jose';
import type { Clock } from '../api/clock.ts';

/** Fetches the current JWKS, or throws a message fit for status and logs. */
export type JwksFetcher = () => Promise<JSONWebKeySet>;

export interface KeySetTiming {
  /** Keys older than this are refreshed in the background (default 10 min). */
  refreshMs: number;
  /** Least time between fetches for unknown key ids (default 10 s). */
  cooldownMs: number;
}

export const DEFAULT_KEY_SET_TIMING: KeySetTiming = { refreshMs: 10 * 60_000, cooldownMs: 10_000 };

export interface KeySetState {
  keyIds: string[];
  lastFetchTime: Date | undefined;
  /** Why the last fetch failed; undefined after a good one. */
  error: string | undefined;
}

export class KeySet {
  readonly #fetch: JwksFetcher;
  readonly #clock: Clock;
  readonly #timing: KeySetTiming;
  #keys: ReturnType<typeof createLocalJWKSet> | undefined;
  #keyIds: string[] = [];
  #fetchedAt = 0;
  #attemptedAt = Number.NEGATIVE_INFINITY;
  #lastFetchTime: Date | undefined;
  #error: string | undefined;
  #inFlight: Promise<void> | undefined;

  constructor(fetch: JwksFetcher, clock: Clock, timing: KeySetTiming = DEFAULT_KEY_SET_TIMING) {
    this.#fetch = fetch;
    this.#clock = clock;
    this.#timing = timing;
  }

  /** Whether the keys last fetched include key id `kid`. */
  has(kid: string): boolean {
    return this.#keyIds.includes(kid);
  }

  state(): KeySetState {
    return { keyIds: [...this.#keyIds], lastFetchTime: this.#lastFetchTime, error: this.#error };
  }

  /** Fetches now (once at a time); resolves either way, the outcome is in state(). */
  refresh(): Promise<void> {
    this.#inFlight ??= this.#load().finally(() => {
      this.#inFlight = undefined;
    });
    return this.#inFlight;
  }

  /** The key resolver for jose's jwtVerify. */
  readonly getKey: JWTVerifyGetKey = async (header, token) => {
    const now = this.#clock().getTime();
    if (!this.#keys) {
      await this.#refreshUnlessCooling(now);
    } else if (now - this.#fetchedAt >= this.#timing.refreshMs && now - this.#attemptedAt >= this.#timing.cooldownMs) {
      // Old keys: refreshed, but while the provider fails, not on every login (the cooldown).
      void this.refresh();
    }
    try {
      if (!this.#keys) throw new errors.JWKSNoMatchingKey(this.#error ? `no keys: ${this.#error}` : 'no keys');
      return await this.#keys(header, token);
    } catch (error) {
      if (!(error instanceof errors.JWKSNoMatchingKey)) throw error;
      // A key id not seen yet: perhaps the provider has rotated.
      if (!(await this.#refreshUnlessCooling(now)) || !this.#keys) throw error;
      return this.#keys(header, token);
    }
  };

  async #refreshUnlessCooling(now: number): Promise<boolean> {
    if (this.#inFlight) {
      await this.#inFlight;
      return true;
    }
    if (now - this.#attemptedAt < this.#timing.cooldownMs) return false;
    await this.refresh();
    return true;
  }

  async #load(): Promise<void> {
    this.#attemptedAt = this.#clock().getTime();
    try {
      const jwks = await this.#fetch();
      if (!Array.isArray(jwks?.keys)) throw new Error('the JWKS has no keys array');
      this.#keys = createLocalJWKSet(jwks);
      this.#keyIds = jwks.keys.map((key) => key.kid ?? '(no kid)');
      this.#fetchedAt = this.#clock().getTime();
      this.#lastFetchTime = this.#clock();
      this.#error = undefined;
    } catch (error) {
      // The keys known so far stay in use.
      this.#error = (error as Error).message;
    }
  }
}

const FETCH_TIMEOUT_MS = 5000;

/** GETs `url` as JSON, with a timeout; errors name the URL and the status, nothing of the body. */
async function fetchJson(url: string): Promise<unknown> {
  let response: Response;
  try {
    response = await fetch(url, { signal: AbortSignal.timeout(FETCH_TIMEOUT_MS), headers: { accept: 'application/json' } });
  } catch (error) {
    throw new Error(`GET ${url}: ${(error as Error).cause instanceof Error ? ((error as Error).cause as Error).message : (error as Error).message}`);
  }
  if (!response.ok) throw new Error(`GET ${url}: HTTP ${response.status}`);
  try {
    return await response.json();
  } catch {
    throw new Error(`GET ${url}: not JSON`);
  }
}

/**
 * An OpenID provider's keys: from `jwksUrl`, or from the jwks_uri of its discovery document
 * (looked up on every fetch, so a provider may move its keys).
 */
export function oidcJwksFetcher(issuerUrl: string, jwksUrl: string | undefined): JwksFetcher {
  return async () => {
    let url = jwksUrl;
    if (!url) {
      const discoveryUrl = `${issuerUrl.replace(/\/+$/, '')}/.well-known/openid-configuration`;
      const discovery = (await fetchJson(discoveryUrl)) as { jwks_uri?: unknown; issuer?: unknown };
      if (typeof discovery?.jwks_uri !== 'string') throw new Error(`GET ${discoveryUrl}: no jwks_uri`);
      if (discovery.issuer !== issuerUrl) throw new Error(`GET ${discoveryUrl}: issuer is not ${issuerUrl}`);
      url = discovery.jwks_uri;
    }
    return (await fetchJson(url)) as JSONWebKeySet;
  };
}
