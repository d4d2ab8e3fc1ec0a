// What one revocation cycle decides, from what it read: the revoker looks up the servers and
// their copies of the account JWT, asks planCycle what to do, and acts on the answer. Pure (the
// time is passed in), so that every case of a cluster out of sync is a table row in a unit test
// rather than a scenario against fake servers.

import { notOk, ok, type Result } from '../api/failure.ts';
import {
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
  now: Date;
  /** How long after a user's JWT expired its entry is pruned. */
  pruneGraceMs: number;
}

export interface PlannedPush {
  /** The newest copy, revised. */
  base: string;
  revocations: Revocations;
  /** The new JWT is issued no sooner: later than the base, in whole seconds. */
  notBefore: Date;
}

export interface CyclePlan {
  /** What the newest copy says. */
  info: AccountJwtInfo;
  /** When some server lacks what it should hold; undefined when all are in sync. */
  push: PlannedPush | undefined;
  /** Entries past their prune time: left out of the JWT, then dropped from the store. */
  expired: Set<string>;
  /** Users on every server once the cycle (and its push, if any) succeeded. */
  confirmed: Set<string>;
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
  const active = new Map<string, number>();
  for (const [user, entry] of entries) {
    if (entry.expiresAt * 1000 + pruneGraceMs <= now.getTime()) expired.add(user);
    else active.set(user, entry.revokedAt);
  }
  const target = revisedRevocations(info.revocations, active, expired);
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
  return ok({ info, push, expired, confirmed: new Set(active.keys()) });
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
