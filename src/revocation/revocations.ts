// One AccountRevoker per NATS account, created when an issuer or an access first needs it. Issuers
// that share an account share its revoker (and so its serialized pushes); the NATS settings of a
// cycle come from the first issuer of the account, by name, whose Secrets load.

import type { ClusterNatsIssuer } from '../api/cluster-nats-issuer.ts';
import type { IssuerKeys } from '../issuer/issuer-keys.ts';
import type { Lister } from '../kube/lister.ts';
import type { Logger } from '../log.ts';
import { NatsSystemClient, type NatsSettings, type SystemClientOptions } from '../nats/system-client.ts';
import {
  AccountRevoker,
  type AccountObservation,
  type RevocationSummary,
  type RevokerTiming,
  type RevokeState,
  type RevokeUser,
} from './account-revoker.ts';
import type { RevocationStore } from './revocation-store.ts';

export interface RevocationsDeps {
  store: RevocationStore;
  issuers: Lister<ClusterNatsIssuer>;
  keys: IssuerKeys;
  /** Accesses to reconcile again, by namespace/name key. */
  onSettled: (accessKeys: string[]) => void;
  /** An account's observation or summary changed. */
  onObserved: (account: string) => void;
  log: Logger;
  timing: RevokerTiming;
  connect?: (options: SystemClientOptions) => Promise<NatsSystemClient>;
}

export class Revocations {
  private readonly deps: RevocationsDeps;
  private readonly revokers = new Map<string, AccountRevoker>();

  constructor(deps: RevocationsDeps) {
    this.deps = deps;
  }

  /** Revokes `users` of the access `accessKey` in `account`; see AccountRevoker.request. */
  request(account: string, accessKey: string, users: readonly RevokeUser[]): RevokeState {
    return this.revoker(account).request(accessKey, users);
  }

  /** Keeps a revoker running for `account`, starting it if new. */
  watch(account: string): void {
    this.revoker(account);
  }

  /** The last cycle's outcome for `account` (undefined before the first), starting it if new. */
  observe(account: string): AccountObservation | undefined {
    return this.revoker(account).observe();
  }

  summary(account: string): RevocationSummary {
    return this.revoker(account).summary();
  }

  async stop(): Promise<void> {
    await Promise.all([...this.revokers.values()].map((revoker) => revoker.stop()));
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
        log: deps.log,
        timing: deps.timing,
      });
      this.revokers.set(account, revoker);
      revoker.start();
    }
    return revoker;
  }

  private settings(account: string): NatsSettings {
    const issuers = this.deps.issuers
      .list()
      .filter((issuer) => issuer.spec.account.publicKey === account)
      .sort((a, b) => a.metadata.name.localeCompare(b.metadata.name));
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
