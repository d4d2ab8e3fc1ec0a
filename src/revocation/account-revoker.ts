// Revocation for one NATS account. Accesses ask for users to be revoked; the revoker records them
// in the cluster (RevocationStore), adds them to the account JWT's revocations, re-signs the JWT
// with the operator signing key and pushes it to every server, then tells the accesses.
//
// - Coalesced and serialized (CycleScheduler): requests that arrive while a push is being prepared
//   or is in flight go into the next one, and only one cycle runs at a time, so no push overwrites
//   another.
// - Level-triggered: each cycle reads every server's copy of the account JWT, and planCycle says
//   whether some server lacks what it should hold. The same cycle runs on a timer, when a server
//   the operator has not seen appears (a restart, maybe with an empty resolver directory) and when
//   the operator reconnects, so a server that lost the revocations gets them back.
// - Pruned: an entry is dropped from the JWT once the user's last JWT has expired (plus a grace
//   period for clock skew), and from the store after the servers confirmed the smaller JWT.
// - Bounded: the JWT carries what fits in the largest JWT the servers take (planCycle chooses);
//   the users left out wait, reported as not revoked, while the others' accesses go on.
// - Asking is split from doing: state() only reads, so a controller can decide without starting
//   anything; request() records the users and schedules a cycle.

import type { KeyPair } from '@nats-io/nkeys';
import type { Clock } from '../api/clock.ts';
import { notOk, ok, type Result } from '../api/failure.ts';
import type { Logger } from '../log.ts';
import type { RevocationMetrics } from '../metrics.ts';
import { withRevocations, type AccountJwtInfo } from '../nats/account-jwt.ts';
import type { NatsServerRef, NatsSettings, NatsSystemClient, SystemClientOptions } from '../nats/system-client.ts';
import { nextCheckInMs, notApplied, planCycle, pushStored, type CycleReading, type Drift, type NotRevoked, type PlannedPush } from './cycle-plan.ts';
import { CycleScheduler, sleepWith, systemTimers, type Timers } from './cycle-scheduler.ts';
import { RevocationList } from './revocation-list.ts';
import type { RevocationStore } from './revocation-store.ts';
import { SystemConnection } from './system-connection.ts';

export interface RevokeUser {
  userPublicKey: string;
  expiresAt: Date;
}

/** Revoked on every server, or still pending; not ok when the last cycle carrying them failed. */
export type RevokeState = Result<'revoked' | 'pending'>;

/** The outcome of the last cycle, for the issuers of the account. */
export type AccountObservation = Result<{ servers: NatsServerRef[]; account: AccountJwtInfo }>;

export interface RevocationSummary {
  /** Entries kept in the JWT (not yet pruned). */
  active: number;
  lastPushTime?: Date;
  lastPushResult?: 'Succeeded' | 'Failed';
  lastPushMessage?: string;
  /** Pushes since the process started. */
  pushes: number;
}

export interface RevokerTiming {
  /** How long a cycle waits after the first request, to gather those that follow. */
  lingerMs: number;
  /** How often the servers' copies are checked when nothing else triggers a cycle. */
  verifyPeriodMs: number;
  /** How long after a user's JWT expired its entry is pruned. */
  pruneGraceMs: number;
  /** Longest wait between retries after a failed cycle. */
  maxBackoffMs: number;
}

export interface AccountRevokerDeps {
  account: string;
  store: RevocationStore;
  /** Throws an Error saying what is missing when no issuer of the account can be used. */
  settings: () => NatsSettings;
  connect: (options: SystemClientOptions) => Promise<NatsSystemClient>;
  /** Accesses whose request was settled (revoked, or failed): reconcile them again. */
  onSettled: (accessKeys: string[]) => void;
  /** The observation or summary changed: refresh the issuers' status. */
  onObserved: () => void;
  /** Servers were found lacking revocations they had confirmed (this cycle pushes them again). */
  onDrift?: (drift: Drift) => void;
  metrics?: RevocationMetrics;
  log: Logger;
  timing: RevokerTiming;
  clock: Clock;
  timers?: Timers;
}

/** The users still valid that no server has confirmed yet. */
const toRevoke = (users: readonly RevokeUser[], now: Date, confirmed: ReadonlySet<string>) =>
  users.filter((user) => user.expiresAt > now && !confirmed.has(user.userPublicKey));

/**
 * Where the revocation of `users` stands: users whose JWTs have expired need nothing; revoked when
 * every other one is `confirmed`, failed when all of those are in `failure` (the last cycle failed,
 * or left them out of the JWT).
 */
export function revokeState(
  users: readonly RevokeUser[],
  now: Date,
  confirmed: ReadonlySet<string>,
  failure: NotRevoked | undefined,
): RevokeState {
  const pending = toRevoke(users, now, confirmed);
  if (pending.length === 0) return ok('revoked');
  if (failure && pending.every((user) => failure.users.has(user.userPublicKey))) return notOk(failure.message);
  return ok('pending');
}

export class AccountRevoker {
  private readonly deps: AccountRevokerDeps;
  private readonly account: string;
  private readonly clock: Clock;
  private readonly scheduler: CycleScheduler;
  private readonly connection: SystemConnection;
  private readonly sleep: (ms: number) => Promise<void>;
  /** Entries the account JWT must carry (and the store hold). */
  private readonly desired: RevocationList;
  /** Users every server confirmed in the last successful cycle. */
  private confirmed = new Set<string>();
  private failure: NotRevoked | undefined;
  /** Accesses waiting for their users, by access key. */
  private readonly waiting = new Map<string, Set<string>>();
  private observation: AccountObservation | undefined;
  private readonly summaryState: RevocationSummary = { active: 0, pushes: 0 };

  constructor(deps: AccountRevokerDeps) {
    const { account, store, clock, timing } = deps;
    const timers = deps.timers ?? systemTimers;
    this.deps = deps;
    this.account = account;
    this.clock = clock;
    this.desired = new RevocationList({ store, account, clock, pruneGraceMs: timing.pruneGraceMs });
    this.scheduler = new CycleScheduler({ clock, timers, run: () => this.run(), lingerMs: timing.lingerMs, maxBackoffMs: timing.maxBackoffMs });
    this.connection = new SystemConnection(deps.connect, () => this.scheduler.kick(timing.lingerMs));
    this.sleep = sleepWith(timers);
  }

  /** Where the revocation of `users` stands (see revokeState). Reads only. */
  state(users: readonly RevokeUser[]): RevokeState {
    return revokeState(users, this.clock(), this.confirmed, this.failure);
  }

  /**
   * Asks for `users` of the access `accessKey` to be revoked. Users whose JWTs have expired need
   * nothing. Returns at once; the access is reported through onSettled when the state changes.
   */
  request(accessKey: string, users: readonly RevokeUser[]): void {
    const now = this.clock();
    const pending = toRevoke(users, now, this.confirmed);
    if (pending.length === 0) {
      this.waiting.delete(accessKey);
      return;
    }
    let added = false;
    for (const user of pending) added = this.desired.add(user.userPublicKey, user.expiresAt, accessKey, now) || added;
    this.waiting.set(accessKey, new Set(pending.map((user) => user.userPublicKey)));
    // A request already tried waits for the retry; a new one is tried now.
    if (added) this.scheduler.kick(this.deps.timing.lingerMs);
  }

  /** What `user` was revoked for (the access key of the request), if the list has it. */
  revokedFor(user: string): string | undefined {
    return this.desired.revokedFor(user);
  }

  /** Starts checking the account (loads the store, verifies the servers' copies). */
  start(): void {
    this.scheduler.kick(0);
  }

  observe(): AccountObservation | undefined {
    return this.observation;
  }

  summary(): RevocationSummary {
    return { ...this.summaryState };
  }

  async stop(): Promise<void> {
    await this.scheduler.stop();
    await this.connection.close();
  }

  /** One cycle, for the scheduler: ok with when the next check is due. */
  private async run(): Promise<Result<number>> {
    try {
      await this.cycle();
    } catch (error) {
      const message = error instanceof Error ? error.message : String(error);
      this.fail(message);
      return notOk(message);
    }
    return ok(nextCheckInMs(this.desired.snapshot().values(), this.clock(), this.deps.timing));
  }

  /** Reads what the servers hold, plans, and acts: push, verify, save the store. */
  private async cycle() {
    const { log, timing } = this.deps;
    await this.desired.load();
    // What this cycle pushes is recorded in the cluster first: a restart still knows about it.
    // Requests arriving later are left to the next cycle.
    const entries = this.desired.snapshot();
    await this.desired.save();

    const settings = this.deps.settings();
    const client = await this.connection.client(settings);
    const reading = await this.read(client);
    const { pruneGraceMs } = timing;
    const plan = planCycle({ ...reading, account: this.account, entries, confirmed: this.confirmed, now: this.clock(), pruneGraceMs, maxPayload: client.maxPayload });
    if (!plan.ok) throw new Error(plan.message);
    if (plan.value.drift) this.deps.onDrift?.(plan.value.drift);
    const { servers } = reading;
    const { expired, confirmed, waiting } = plan.value;
    this.observation = ok({ servers, account: plan.value.info });
    log.debug({ account: this.account, servers: servers.length }, 'account checked');
    if (plan.value.push) await this.push(client, settings.operatorSigner, plan.value.push, servers, waiting);

    if (expired.size > 0) {
      this.desired.remove(expired);
      await this.desired.save();
      log.info({ account: this.account, pruned: expired.size, active: confirmed.size }, 'pruned expired revocations');
    }
    const previous = this.failure;
    this.confirmed = confirmed;
    this.failure = waiting;
    this.summaryState.active = confirmed.size;
    this.settle(previous);
    this.deps.onObserved();
  }

  private async read(client: NatsSystemClient): Promise<CycleReading> {
    const servers = await client.servers();
    // No server to ask: planCycle says so.
    if (servers.length === 0) return { servers, copies: [], inForce: [] };
    const copies = await client.lookupAccount(this.account, servers.length);
    const inForce = await client.accountInForce(this.account, servers.length);
    return { servers, copies, inForce };
  }

  /** Pushes the planned JWT, then checks that every server stored it and put it in force. */
  private async push(client: NatsSystemClient, signer: KeyPair, push: PlannedPush, servers: NatsServerRef[], waiting: NotRevoked | undefined) {
    const waitMs = push.notBefore.getTime() - this.clock().getTime();
    if (waitMs > 0) await this.sleep(waitMs);
    const issuedAt = this.clock();
    const jwt = withRevocations(push.base, push.revocations, signer, issuedAt);
    this.scheduler.pushed(issuedAt);
    const replies = await client.pushAccount(jwt, servers.length);
    this.summaryState.pushes++;
    this.summaryState.lastPushTime = this.clock();
    const stored = pushStored(servers, replies);
    if (!stored.ok) throw new Error(stored.message);
    const ignored = notApplied(await client.accountInForce(this.account, servers.length), jwt);
    if (ignored.length > 0) {
      throw new Error(
        `${ignored.join(', ')} stored the account JWT but kept the previous one in force: ` +
          `is the operator signing key ${signer.getPublicKey()} listed in the operator JWT?`,
      );
    }
    this.deps.metrics?.pushSucceeded(this.account, (this.clock().getTime() - issuedAt.getTime()) / 1000);
    const count = Object.keys(push.revocations).length;
    const left = waiting?.users.size ?? 0;
    this.summaryState.lastPushResult = 'Succeeded';
    this.summaryState.lastPushMessage =
      `${stored.value} of ${servers.length} NATS servers stored the account JWT (${count} revocations, ${jwt.length} bytes)` +
      (left > 0 ? `; ${left} more wait, as it is full` : '');
    const fields = { account: this.account, servers: servers.length, revocations: count, bytes: jwt.length };
    if (left > 0) this.deps.log.warn({ ...fields, waiting: left }, 'pushed account JWT, full: some revocations wait for room');
    else this.deps.log.info(fields, 'pushed account JWT');
  }

  private fail(message: string) {
    const unconfirmed = this.desired.users().filter((user) => !this.confirmed.has(user));
    this.failure = { message, users: new Set(unconfirmed) };
    if (unconfirmed.length > 0) {
      this.deps.metrics?.pushFailed(this.account);
      this.summaryState.lastPushTime = this.clock();
      this.summaryState.lastPushResult = 'Failed';
      this.summaryState.lastPushMessage = message;
    }
    this.observation = notOk(message);
    this.deps.log.warn({ account: this.account, unconfirmed: unconfirmed.length, error: message }, 'revocation cycle failed');
    this.deps.onSettled([...this.waiting.keys()]);
    this.deps.onObserved();
  }

  /**
   * Tells the accesses whose users are now all on every server, and those with a user newly left
   * out of the JWT (or for another reason than the `previous` cycle gave), which go on waiting.
   */
  private settle(previous: NotRevoked | undefined) {
    const settled: string[] = [];
    const { failure } = this;
    const newlyLeftOut = (user: string) => failure?.users.has(user) && !(previous?.message === failure.message && previous.users.has(user));
    for (const [accessKey, users] of this.waiting) {
      if ([...users].every((user) => this.confirmed.has(user) || !this.desired.has(user))) {
        this.waiting.delete(accessKey);
        settled.push(accessKey);
      } else if ([...users].some(newlyLeftOut)) {
        settled.push(accessKey);
      }
    }
    if (settled.length > 0) this.deps.onSettled(settled);
  }
}
