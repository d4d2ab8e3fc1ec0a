// One AccountRevoker per NATS account, started by the first watch() (an issuer of the account) or
// request() (an access revoking users in it). Issuers that share an account share its revoker (and
// so its serialized pushes); the NATS settings of a cycle come from the first issuer of the
// account, by name, whose Secrets load. Queries (state, observe, summary) only read: a controller
// deciding what to do starts nothing. Drift (servers that lost revocations they had confirmed) is
// logged at warn, counted and passed on (onDrift), for Events on the account's issuers.

import { systemClock, type Clock } from '../api/clock.ts';
import { accountIssuers, type ClusterNatsIssuer } from '../api/cluster-nats-issuer.ts';
import type { IssuerKeys } from '../issuer/issuer-keys.ts';
import type { Lister } from '../kube/lister.ts';
import type { Logger } from '../log.ts';
import type { RevocationMetrics } from '../metrics.ts';
import { NatsSystemClient, type NatsSettings, type SystemClientOptions } from '../nats/system-client.ts';
import {
  AccountRevoker,
  revokeState,
  type AccountObservation,
  type RevocationSummary,
  type RevokerTiming,
  type RevokeState,
  type RevokeUser,
} from './account-revoker.ts';
import type { Drift } from './cycle-plan.ts';
import type { Timers } from './cycle-scheduler.ts';
import { cutLogins } from './login-cuts.ts';
import type { RevocationStore } from './revocation-store.ts';
import { SystemConnection } from './system-connection.ts';

export interface RevocationsDeps {
  store: RevocationStore;
  issuers: Lister<ClusterNatsIssuer>;
  keys: IssuerKeys;
  /** Accesses to reconcile again, by namespace/name key. */
  onSettled: (accessKeys: string[]) => void;
  /** An account's observation or summary changed. */
  onObserved: (account: string) => void;
  /** The system client of `account` (systemClient()) reconnected or saw a new server. */
  onSystemChange?: (account: string) => void;
  /** Servers of `account` were found lacking revocations they had confirmed (pushed again). */
  onDrift?: (account: string, drift: Drift) => void;
  metrics?: RevocationMetrics;
  log: Logger;
  timing: RevokerTiming;
  connect?: (options: SystemClientOptions) => Promise<NatsSystemClient>;
  clock?: Clock;
  timers?: Timers;
}

export class Revocations {
  private readonly deps: RevocationsDeps;
  private readonly clock: Clock;
  private readonly revokers = new Map<string, AccountRevoker>();
  /**
   * System account connections per account for requests outside the revokers' serialized cycles
   * (cutting callout logins, counting a callout's subscription).
   */
  private readonly connections = new Map<string, SystemConnection>();

  constructor(deps: RevocationsDeps) {
    this.deps = deps;
    this.clock = deps.clock ?? systemClock;
  }

  /** Where the revocation of `users` in `account` stands; see AccountRevoker.state. Reads only. */
  state(account: string, users: readonly RevokeUser[]): RevokeState {
    // No revoker yet: nothing was confirmed, and nothing failed.
    return this.revokers.get(account)?.state(users) ?? revokeState(users, this.clock(), new Set(), undefined);
  }

  /** Revokes `users` of the access `accessKey` in `account`, starting its revoker if needed. */
  request(account: string, accessKey: string, users: readonly RevokeUser[]): void {
    this.revoker(account).request(accessKey, users);
  }

  /**
   * What `user` was revoked in `account` for (an access key, or whatever key the request named),
   * if this process knows it revoked: the account's revoker has loaded its stored list.
   */
  revokedFor(account: string, user: string): string | undefined {
    return this.revokers.get(account)?.revokedFor(user);
  }

  /** Checks `account` on the servers now (a cycle, which pushes what any server lacks). */
  checkNow(account: string): void {
    this.revoker(account).start();
  }

  /** Starts checking `account` on the servers (for its issuers), unless that runs already. */
  watch(account: string): void {
    this.revoker(account);
  }

  /** The last cycle's outcome for `account`; undefined before the first, or before watch(). */
  observe(account: string): AccountObservation | undefined {
    return this.revokers.get(account)?.observe();
  }

  /** Counts and last push for `account`; empty before watch() or request(). */
  summary(account: string): RevocationSummary {
    return this.revokers.get(account)?.summary() ?? { active: 0, pushes: 0 };
  }

  /**
   * Closes, on every server, the connections in `account` whose user is `userName` (the auth
   * callout's logins of an access); resolves with how many were closed, throws if not all could be.
   */
  async cutLogins(account: string, userName: string): Promise<number> {
    return cutLogins(await this.systemClient(account), account, userName);
  }

  /**
   * A system account client for the NATS servers of `account`'s issuers (with the settings of the
   * first of them, by name, whose Secrets load), kept until the settings change.
   */
  async systemClient(account: string): Promise<NatsSystemClient> {
    let connection = this.connections.get(account);
    if (!connection) {
      connection = new SystemConnection(this.deps.connect ?? ((options) => NatsSystemClient.connect(options)), () => this.deps.onSystemChange?.(account));
      this.connections.set(account, connection);
    }
    return connection.client(this.settings(account));
  }

  async stop(): Promise<void> {
    await Promise.all([...this.revokers.values()].map((revoker) => revoker.stop()));
    await Promise.all([...this.connections.values()].map((connection) => connection.close()));
  }

  private revoker(account: string): AccountRevoker {
    let revoker = this.revokers.get(account);
    if (!revoker) {
      const { deps } = this;
      revoker = new AccountRevoker({
        account,
        store: deps.store,
        settings: () => this.settings(account),
        connect: deps.connect ?? ((options) => NatsSystemClient.connect(options)),
        onSettled: deps.onSettled,
        onObserved: () => deps.onObserved(account),
        onDrift: (drift) => this.drifted(account, drift),
        metrics: deps.metrics,
        log: deps.log,
        timing: deps.timing,
        clock: this.clock,
        timers: deps.timers,
      });
      this.revokers.set(account, revoker);
      revoker.start();
    }
    return revoker;
  }

  private drifted(account: string, drift: Drift) {
    const named = drift.named.map((server) => `${server.name} (${server.id})`);
    this.deps.log.warn({ account, servers: drift.servers, named, missing: drift.missing }, 'NATS servers lost revocations of the account they had confirmed: pushing them again');
    this.deps.metrics?.drifted(account, drift.servers);
    this.deps.onDrift?.(account, drift);
  }

  private settings(account: string): NatsSettings {
    const issuers = accountIssuers(this.deps.issuers.list(), account);
    if (issuers.length === 0) throw new Error(`no ClusterNatsIssuer names account ${account}`);
    const problems: string[] = [];
    for (const issuer of issuers) {
      try {
        return this.deps.keys.natsSettings(issuer);
      } catch (error) {
        problems.push(`ClusterNatsIssuer ${issuer.metadata.name}: ${(error as Error).message}`);
      }
    }
    throw new Error(problems.join('; '));
  }
}
