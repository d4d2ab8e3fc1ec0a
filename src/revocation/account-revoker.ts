// Revocation for one NATS account. Accesses ask for users to be revoked; the revoker records them
// in the cluster (RevocationStore), adds them to the account JWT's revocations, re-signs the JWT
// with the operator signing key and pushes it to every server, then tells the accesses.
//
// - Coalesced and serialized: requests that arrive while a push is being prepared or is in flight
//   go into the next one, and only one cycle runs at a time, so no push overwrites another.
// - Level-triggered: each cycle reads every server's copy of the account JWT and pushes only when
//   some server lacks what it should hold. The same cycle runs on a timer, when a server the
//   operator has not seen appears (a restart, maybe with an empty resolver directory) and when the
//   operator reconnects, so a server that lost the revocations gets them back.
// - Pruned: an entry is dropped from the JWT once the user's last JWT has expired (plus a grace
//   period for clock skew), and from the store after the servers confirmed the smaller JWT.

import type { KeyPair } from '@nats-io/nkeys';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Logger } from '../log.ts';
import {
  newestAccountJwt,
  readAccountJwt,
  revisedRevocations,
  sameRevocations,
  withRevocations,
  type AccountJwtInfo,
} from '../nats/account-jwt.ts';
import type { NatsServerRef, NatsSettings, NatsSystemClient, SystemClientOptions } from '../nats/system-client.ts';
import type { RevocationEntry, RevocationStore } from './revocation-store.ts';

export interface RevokeUser {
  userPublicKey: string;
  expiresAt: Date;
}

export type RevokeState =
  | { state: 'revoked' }
  | { state: 'pending' }
  | { state: 'failed'; message: string };

/** The outcome of the last cycle, for the issuers of the account. */
export type AccountObservation =
  | { ok: true; servers: NatsServerRef[]; account: AccountJwtInfo }
  | { ok: false; message: string };

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
  log: Logger;
  timing: RevokerTiming;
}

const toSeconds = (date: Date | number) => Math.floor((typeof date === 'number' ? date : date.getTime()) / 1000);

export class AccountRevoker {
  private readonly deps: AccountRevokerDeps;
  private readonly account: string;
  /** Entries the account JWT must carry (and the store hold), by user public key. */
  private readonly desired = new Map<string, RevocationEntry>();
  private loaded = false;
  private storeBehind = false;
  /** Users every server confirmed in the last successful cycle. */
  private confirmed = new Set<string>();
  /** Users that were part of the last failed cycle, and why it failed. */
  private failure: { message: string; users: Set<string> } | undefined;
  /** Accesses waiting for their users, by access key. */
  private readonly waiting = new Map<string, Set<string>>();
  private observation: AccountObservation | undefined;
  private readonly summaryState: RevocationSummary = { active: 0, pushes: 0 };

  private client: { version: string; client: NatsSystemClient } | undefined;
  private timer: NodeJS.Timeout | undefined;
  private timerDue = Infinity;
  private running: Promise<void> | undefined;
  private again = false;
  private backoffMs = 0;
  private stopped = false;
  /** iat of the last JWT pushed, in unix seconds. */
  private lastPushSecond = 0;
  /** When the retry after a failed cycle is due (0: not backing off). */
  private retryDue = 0;

  constructor(deps: AccountRevokerDeps) {
    this.deps = deps;
    this.account = deps.account;
  }

  /**
   * Asks for `users` of the access `accessKey` to be revoked. Users whose JWTs have expired need
   * nothing. Returns at once; the access is reported through onSettled when the state changes.
   */
  request(accessKey: string, users: readonly RevokeUser[], now = new Date()): RevokeState {
    const pending = users.filter((user) => user.expiresAt > now && !this.confirmed.has(user.userPublicKey));
    if (pending.length === 0) {
      this.waiting.delete(accessKey);
      return { state: 'revoked' };
    }
    let added = false;
    for (const user of pending) {
      const current = this.desired.get(user.userPublicKey);
      const expiresAt = Math.max(toSeconds(user.expiresAt), current?.expiresAt ?? 0);
      if (current && current.expiresAt >= expiresAt) continue;
      this.desired.set(user.userPublicKey, { revokedAt: current?.revokedAt ?? toSeconds(now), expiresAt, access: accessKey });
      this.storeBehind = true;
      added = true;
    }
    this.waiting.set(accessKey, new Set(pending.map((user) => user.userPublicKey)));
    // A request already tried waits for the retry; a new one is tried now.
    if (added) this.kick(this.deps.timing.lingerMs);
    const failure = this.failure;
    if (failure && pending.every((user) => failure.users.has(user.userPublicKey))) {
      return { state: 'failed', message: failure.message };
    }
    return { state: 'pending' };
  }

  /** Starts checking the account (loads the store, verifies the servers' copies). */
  start(): void {
    this.kick(0);
  }

  observe(): AccountObservation | undefined {
    return this.observation;
  }

  summary(): RevocationSummary {
    return { ...this.summaryState };
  }

  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.timer);
    await this.running;
    await this.client?.client.close().catch(() => undefined);
  }

  /** Runs a cycle after `delayMs`, unless one is due sooner; one running now runs again after. */
  private kick(delayMs: number) {
    if (this.stopped) return;
    if (this.running) {
      this.again = true;
      return;
    }
    // While backing off after a failure, nothing runs sooner than the retry.
    const due = Math.max(Date.now() + delayMs, this.retryDue);
    if (this.timer && this.timerDue <= due) return;
    clearTimeout(this.timer);
    this.timerDue = due;
    this.timer = setTimeout(() => {
      this.timer = undefined;
      this.timerDue = Infinity;
      this.retryDue = 0;
      this.running = (async () => {
        const nextInMs = await this.run();
        this.running = undefined;
        this.kick(nextInMs);
      })();
    }, due - Date.now());
  }

  /** One cycle; returns when the next one is due. */
  private async run(): Promise<number> {
    this.again = false;
    try {
      await this.cycle();
      this.backoffMs = 0;
    } catch (error) {
      this.backoffMs = Math.min(Math.max(1000, this.backoffMs * 2), this.deps.timing.maxBackoffMs);
      this.retryDue = Date.now() + this.backoffMs;
      this.fail(error instanceof Error ? error.message : String(error));
      return this.backoffMs;
    }
    return this.again ? this.deps.timing.lingerMs : this.nextCheckInMs();
  }

  /** The next verification, or the next prune if sooner. */
  private nextCheckInMs(): number {
    const { verifyPeriodMs, pruneGraceMs } = this.deps.timing;
    let next = verifyPeriodMs;
    for (const entry of this.desired.values()) {
      next = Math.min(next, entry.expiresAt * 1000 + pruneGraceMs - Date.now());
    }
    return Math.max(next, 0);
  }

  private async cycle() {
    const { store, log, timing } = this.deps;
    // Servers that compare copies keep the one with the later iat (whole seconds): one push per
    // second at most, and what arrives meanwhile joins the next.
    const waitMs = (this.lastPushSecond + 1) * 1000 - Date.now();
    if (waitMs > 0) await sleep(waitMs);
    if (!this.loaded) {
      const stored = await store.load(this.account);
      for (const [user, entry] of stored) if (!this.desired.has(user)) this.desired.set(user, entry);
      this.storeBehind ||= this.desired.size > stored.size;
      this.loaded = true;
    }
    // What this cycle pushes is recorded in the cluster first: a restart still knows about it.
    // Requests arriving later are left to the next cycle.
    const snapshot = new Map(this.desired);
    await this.saveStore();

    const settings = this.deps.settings();
    const client = await this.connection(settings);
    const servers = await client.servers();
    if (servers.length === 0) throw new Error('no NATS server answered a PING from the system account');
    const copies = await client.lookupAccount(this.account, servers.length);
    const base = newestAccountJwt(copies, this.account);
    if (!base) throw new Error(`none of ${servers.length} NATS servers has the JWT of account ${this.account}`);
    const info = readAccountJwt(base);
    this.observation = { ok: true, servers, account: info };

    const now = Date.now();
    const expired = new Set<string>();
    const active = new Map<string, number>();
    for (const [user, entry] of snapshot) {
      if (entry.expiresAt * 1000 + timing.pruneGraceMs <= now) expired.add(user);
      else active.set(user, entry.revokedAt);
    }
    const target = revisedRevocations(info.revocations, active, expired);
    const inSync =
      copies.length >= servers.length &&
      copies.every((copy) => copy === base) &&
      sameRevocations(target, info.revocations) &&
      (await this.notApplied(client, base, servers.length)).length === 0;
    if (!inSync) await this.push(client, settings.operatorSigner, base, info, target, servers);

    if (expired.size > 0) {
      for (const user of expired) this.desired.delete(user);
      this.storeBehind = true;
      await this.saveStore();
      log.info({ account: this.account, pruned: expired.size, active: active.size }, 'pruned expired revocations');
    }
    this.confirmed = new Set(active.keys());
    this.failure = undefined;
    this.summaryState.active = active.size;
    this.settle();
    this.deps.onObserved();
  }

  private async push(
    client: NatsSystemClient,
    signer: KeyPair,
    base: string,
    info: AccountJwtInfo,
    revocations: Record<string, number>,
    servers: NatsServerRef[],
  ) {
    // Later than the base too, or servers syncing copies by iat could bring the base back.
    const waitMs = (info.issuedAt + 1) * 1000 - Date.now();
    if (waitMs > 2000) {
      throw new Error(
        `the account JWT on the servers was issued at ${new Date(info.issuedAt * 1000).toISOString()}, in the future: ` +
          'the operator will not push an older one; check the clocks of whoever signed it',
      );
    }
    if (waitMs > 0) await sleep(waitMs);
    const jwt = withRevocations(base, revocations, signer, new Date());
    this.lastPushSecond = readAccountJwt(jwt).issuedAt;
    const replies = await client.pushAccount(jwt, servers.length);
    const stored = servers.filter((server) => replies.some((reply) => reply.server.id === server.id && reply.ok));
    this.summaryState.pushes++;
    this.summaryState.lastPushTime = new Date();
    if (stored.length < servers.length) {
      const refused = replies.filter((reply) => !reply.ok).map((reply) => `${reply.server.name}: ${reply.message}`);
      const silent = servers
        .filter((server) => !replies.some((reply) => reply.server.id === server.id))
        .map((server) => `${server.name}: no answer`);
      throw new Error(
        `${stored.length} of ${servers.length} NATS servers stored the account JWT (${[...refused, ...silent].join('; ')})`,
      );
    }
    const ignored = await this.notApplied(client, jwt, servers.length);
    if (ignored.length > 0) {
      throw new Error(
        `${ignored.join(', ')} stored the account JWT but kept the previous one in force: ` +
          `is the operator signing key ${signer.getPublicKey()} listed in the operator JWT?`,
      );
    }
    const count = Object.keys(revocations).length;
    this.summaryState.lastPushResult = 'Succeeded';
    this.summaryState.lastPushMessage = `${servers.length} of ${servers.length} NATS servers stored the account JWT (${count} revocations, ${jwt.length} bytes)`;
    this.deps.log.info(
      { account: this.account, servers: servers.length, revocations: count, bytes: jwt.length },
      'pushed account JWT',
    );
  }

  /** Servers that have another JWT than `jwt` in force (those without the account loaded excepted). */
  private async notApplied(client: NatsSystemClient, jwt: string, expected: number): Promise<string[]> {
    const inForce = await client.accountInForce(this.account, expected);
    return inForce.filter((server) => server.jwt !== undefined && server.jwt !== jwt).map((server) => server.server.name);
  }

  /**
   * Writes the entries as they are now, less those past their prune time (no JWT they cover is
   * valid any more, and they must not fill the ConfigMap). Requests arriving during the write mark
   * it behind again.
   */
  private async saveStore() {
    if (!this.storeBehind) return;
    this.storeBehind = false;
    const horizon = Date.now() - this.deps.timing.pruneGraceMs;
    const live = new Map([...this.desired].filter(([, entry]) => entry.expiresAt * 1000 > horizon));
    try {
      await this.deps.store.save(this.account, live);
    } catch (error) {
      // Maybe written by someone else: load and merge before the next save.
      this.storeBehind = true;
      this.loaded = false;
      throw error;
    }
  }

  private async connection(settings: NatsSettings): Promise<NatsSystemClient> {
    if (this.client && this.client.version === settings.connectionVersion && !this.client.client.isClosed) {
      return this.client.client;
    }
    await this.client?.client.close().catch(() => undefined);
    this.client = undefined;
    const client = await this.deps.connect({
      servers: settings.servers,
      creds: settings.creds,
      onChange: () => this.kick(this.deps.timing.lingerMs),
    });
    this.client = { version: settings.connectionVersion, client };
    return client;
  }

  private fail(message: string) {
    const unconfirmed = [...this.desired.keys()].filter((user) => !this.confirmed.has(user));
    this.failure = { message, users: new Set(unconfirmed) };
    if (unconfirmed.length > 0) {
      this.summaryState.lastPushTime = new Date();
      this.summaryState.lastPushResult = 'Failed';
      this.summaryState.lastPushMessage = message;
    }
    this.observation = { ok: false, message };
    this.deps.log.warn({ account: this.account, unconfirmed: unconfirmed.length, error: message }, 'revocation cycle failed');
    this.deps.onSettled([...this.waiting.keys()]);
    this.deps.onObserved();
  }

  /** Tells the accesses whose users are now all on every server. */
  private settle() {
    const settled: string[] = [];
    for (const [accessKey, users] of this.waiting) {
      if ([...users].every((user) => this.confirmed.has(user) || !this.desired.has(user))) {
        this.waiting.delete(accessKey);
        settled.push(accessKey);
      }
    }
    if (settled.length > 0) this.deps.onSettled(settled);
  }
}
