// What one revocation cycle decides, from what it read: the revoker looks up the servers and
// their copies of the account JWT, asks planCycle what to do, and acts on the answer. Pure (the
// time is passed in), so that every case of a cluster out of sync is a table row in a unit test
// rather than a scenario against fake servers.

import { byCodeUnits } from '../api/order.ts';
import { notOk, ok, type Result } from '../api/failure.ts';
import {
  accountJwtSizer,
  MAX_JWT_BYTES,
  newestAccountJwt,
  readAccountJwt,
  revisedRevocations,
  sameRevocations,
  type AccountJwtInfo,
  type Revocations,
} from '../nats/account-jwt.ts';
import type { NatsServerRef, PushReply } from '../nats/system-client.ts';
import type { RevocationEntry } from './revocation-store.ts';

/** The JWT a server has in force; undefined where the account is not loaded (nothing to check). */
export interface InForce {
  server: NatsServerRef;
  jwt: string | undefined;
}

/** What a cycle read from the servers. */
export interface CycleReading {
  /** The servers that answered a PING. */
  servers: NatsServerRef[];
  /** Each answering server's copy of the account JWT ('' from a server that has none). */
  copies: string[];
  inForce: InForce[];
}

export interface CycleInput extends CycleReading {
  account: string;
  /** Entries the account JWT must carry, as the cycle started. */
  entries: ReadonlyMap<string, RevocationEntry>;
  /** Users every server confirmed in the last successful cycle: none may lack them now. */
  confirmed: ReadonlySet<string>;
  now: Date;
  /** How long after a user's JWT expired its entry is pruned. */
  pruneGraceMs: number;
  /** The largest message the NATS server the operator is connected to takes (its max_payload). */
  maxPayload: number;
}

export interface PlannedPush {
  /** The newest copy, revised. */
  base: string;
  revocations: Revocations;
  /** The new JWT is issued no sooner: later than the base, in whole seconds. */
  notBefore: Date;
}

/** Users that a cycle did not revoke, and why. */
export interface NotRevoked {
  message: string;
  users: ReadonlySet<string>;
}

export interface CyclePlan {
  /** What the newest copy says. */
  info: AccountJwtInfo;
  /** When some server lacks what it should hold; undefined when all are in sync. */
  push: PlannedPush | undefined;
  /** Servers lacking revocations they had confirmed (the push gives them back). */
  drift: Drift | undefined;
  /** Entries past their prune time: left out of the JWT, then dropped from the store. */
  expired: Set<string>;
  /** Users on every server once the cycle (and its push, if any) succeeded. */
  confirmed: Set<string>;
  /** Users the account JWT has no room for, left out; undefined when it has room for all. */
  waiting: NotRevoked | undefined;
}

/**
 * A JWT the servers already have is never replaced by one issued more than this much later than
 * the clock says: its signer's clock is ahead, and waiting for it would stall every revocation.
 */
const MAX_FUTURE_MS = 2000;

/** What to do; not ok when no server answered, none has the account JWT or it cannot be revised. */
export function planCycle(input: CycleInput): Result<CyclePlan> {
  const { account, servers, copies, entries, now, pruneGraceMs } = input;
  if (servers.length === 0) return notOk('no NATS server answered a PING from the system account');
  const base = newestAccountJwt(copies, account);
  if (!base) return notOk(`none of ${servers.length} NATS servers has the JWT of account ${account}`);
  const info = readAccountJwt(base);

  const expired = new Set<string>();
  const active = new Map<string, RevocationEntry>();
  for (const [user, entry] of entries) {
    if (entry.expiresAt * 1000 + pruneGraceMs <= now.getTime()) expired.add(user);
    else active.set(user, entry);
  }
  const limit = Math.min(input.maxPayload, MAX_JWT_BYTES);
  const { revocations: target, left } = fitRevocations(accountJwtSizer(base), info.revocations, active, expired, limit);
  const inSync =
    copies.length >= servers.length &&
    copies.every((copy) => copy === base) &&
    sameRevocations(target, info.revocations) &&
    notApplied(input.inForce, base).length === 0;
  let push: CyclePlan['push'];
  if (!inSync) {
    // Later than the base too, or servers syncing copies by iat could bring the base back.
    const notBefore = new Date((info.issuedAt + 1) * 1000);
    if (notBefore.getTime() - now.getTime() > MAX_FUTURE_MS) {
      return notOk(
        `the account JWT on the servers was issued at ${new Date(info.issuedAt * 1000).toISOString()}, in the future: ` +
          'the operator will not push an older one; check the clocks of whoever signed it',
      );
    }
    push = { base, revocations: target, notBefore };
  }
  const confirmed = new Set([...active.keys()].filter((user) => !left.has(user)));
  const waiting = left.size > 0 ? { users: left, message: noRoom(account, input.maxPayload) } : undefined;
  return ok({ info, push, drift: findDrift(input, account, input.confirmed), expired, confirmed, waiting });
}

/**
 * The revocations to push: the newest copy's (`current`) less `expired`, with the `active` entries
 * added, as many as the JWT has room for; and the users left out. What the servers hold stays
 * (leaving it out would let its user back in). Of the rest, the users whose JWTs stay valid longest
 * go first: one left out is refused all the same once its JWT expires, and its access waits no
 * longer then, so waiting costs least for those that expire soonest.
 */
function fitRevocations(
  size: (revocations: Revocations) => number,
  current: Revocations,
  active: ReadonlyMap<string, RevocationEntry>,
  expired: ReadonlySet<string>,
  maxBytes: number,
): { revocations: Revocations; left: Set<string> } {
  const revokedAt = (entries: [string, RevocationEntry][]) => new Map(entries.map(([user, entry]) => [user, entry.revokedAt]));
  const all = revisedRevocations(current, revokedAt([...active]), expired);
  if (size(all) <= maxBytes) return { revocations: all, left: new Set() };
  const held = [...active].filter(([user]) => Object.hasOwn(current, user));
  const kept = revisedRevocations(current, revokedAt(held), expired);
  const newcomers = [...active]
    .filter(([user]) => !Object.hasOwn(current, user))
    .sort(([a, x], [b, y]) => y.expiresAt - x.expiresAt || byCodeUnits(a, b));
  const withFirst = (count: number): Revocations => ({ ...kept, ...Object.fromEntries(revokedAt(newcomers.slice(0, count))) });
  // How many newcomers fit, at most one less than all of them (those did not).
  let low = 0;
  let high = newcomers.length - 1;
  while (low < high) {
    const middle = Math.ceil((low + high) / 2);
    if (size(withFirst(middle)) <= maxBytes) low = middle;
    else high = middle - 1;
  }
  return { revocations: withFirst(low), left: new Set(newcomers.slice(low).map(([user]) => user)) };
}

/** Why users wait, naming the limit: the same words every cycle, so that their status stays put. */
function noRoom(account: string, maxPayload: number): string {
  const limit =
    maxPayload < MAX_JWT_BYTES
      ? `${maxPayload} bytes, the max_payload of the NATS server`
      : `${MAX_JWT_BYTES} bytes, the largest JWT nats-server accepts`;
  return (
    `the JWT of account ${account} is full: with these revocations it would exceed ${limit}; ` +
    'they wait for earlier revocations to expire, or for these users\' credentials to'
  );
}

/** Names of the servers that have another JWT than `jwt` in force. */
export function notApplied(inForce: readonly InForce[], jwt: string): string[] {
  return inForce.filter((entry) => entry.jwt !== undefined && entry.jwt !== jwt).map((entry) => entry.server.name);
}

/** Whether every server stored a pushed JWT; if not, which refused or did not answer. */
export function pushStored(servers: readonly NatsServerRef[], replies: readonly PushReply[]): Result<number> {
  const stored = servers.filter((server) => replies.some((reply) => reply.server.id === server.id && reply.ok));
  if (stored.length === servers.length) return ok(stored.length);
  const refused = replies.filter((reply) => !reply.ok).map((reply) => `${reply.server.name}: ${reply.message}`);
  const silent = servers
    .filter((server) => !replies.some((reply) => reply.server.id === server.id))
    .map((server) => `${server.name}: no answer`);
  return notOk(`${stored.length} of ${servers.length} NATS servers stored the account JWT (${[...refused, ...silent].join('; ')})`);
}

/** When the next cycle is due after a successful one: the periodic check, or a prune if sooner. */
export function nextCheckInMs(
  entries: Iterable<RevocationEntry>,
  now: Date,
  timing: { verifyPeriodMs: number; pruneGraceMs: number },
): number {
  let next = timing.verifyPeriodMs;
  for (const entry of entries) next = Math.min(next, entry.expiresAt * 1000 + timing.pruneGraceMs - now.getTime());
  return Math.max(next, 0);
}

/** Servers found holding the account JWT without revocations every server had confirmed before. */
export interface Drift {
  /** How many: the servers whose JWT in force lacks some, or the stored copies that do, if more. */
  servers: number;
  /** The servers whose JWT in force lacks some (a stored copy does not say whose it is). */
  named: NatsServerRef[];
  /** The most revocations one of them lacks. */
  missing: number;
}

/**
 * Account JWT drift: what the servers hold lacks some of the `confirmed` revocations (a server
 * restarted with an old JWT, or someone pushed one without them). Undefined when nothing lacks any;
 * copies that are not the account's JWT are for planCycle to judge.
 */
export function findDrift(reading: CycleReading, account: string, confirmed: ReadonlySet<string>): Drift | undefined {
  if (confirmed.size === 0) return undefined;
  const lacking = (jwt: string | undefined): number => {
    if (!jwt) return 0;
    let revocations: Revocations;
    try {
      const info = readAccountJwt(jwt);
      if (info.subject !== account) return 0;
      revocations = info.revocations;
    } catch {
      return 0;
    }
    return [...confirmed].filter((user) => !Object.hasOwn(revocations, user)).length;
  };
  const inForce = reading.inForce.map((entry) => ({ server: entry.server, missing: lacking(entry.jwt) })).filter((entry) => entry.missing > 0);
  const copies = reading.copies.map(lacking).filter((missing) => missing > 0);
  if (inForce.length === 0 && copies.length === 0) return undefined;
  return {
    servers: Math.max(inForce.length, copies.length),
    named: inForce.map((entry) => entry.server),
    missing: Math.max(...inForce.map((entry) => entry.missing), ...copies),
  };
}
