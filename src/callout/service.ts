// The auth callout service, run by every replica (like the webhook, it only reads caches): for each
// ClusterNatsAuthCallout it connects to NATS as the callout account's auth user and answers
// $SYS.REQ.USER.AUTH in a queue group, so the replicas share the load and any one of them keeps
// logins working (answer.ts answers each request). It keeps each callout's keys and connection in
// step with its spec and Secrets, and each identity provider's key set across restarts of both.
//
// The caches (caches.ts) start when the first callout appears, so a cluster without callouts pays
// for one small watch only.

import type { V1Secret } from '@kubernetes/client-node';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import type { KeyPair } from '@nats-io/nkeys';
import type { JSONWebKeySet } from 'jose';
import { IdentityProviderKind, type ClusterNatsAuthCallout, type IdentityProvider } from '../api/cluster-nats-auth-callout.ts';
import { systemClock, type Clock } from '../api/clock.ts';
import { CALLOUT_PLURAL, GROUP, VERSION } from '../api/constants.ts';
import { Failure } from '../api/failure.ts';
import { Reason } from '../api/reasons.ts';
import { byCodeUnits } from '../api/order.ts';
import { DEFAULT_KEY_SET_TIMING, KeySet, oidcJwksFetcher, type KeySetState, type KeySetTiming } from '../identity/key-set.ts';
import { VerifiedTokens } from '../identity/verified-tokens.ts';
import { IssuerKeys } from '../issuer/issuer-keys.ts';
import { customResourcePath, type KubeClient } from '../kube/api.ts';
import { ResilientInformer } from '../kube/informer.ts';
import type { Logger } from '../log.ts';
import type { CalloutMetrics } from '../metrics.ts';
import { nativeCredsAuthenticator } from '../nats/native-creds.ts';
import type { XKey } from '../nats/xkey.ts';
import { answerRequest, type AnswerDeps, type Runtime } from './answer.ts';
import { CalloutCaches } from './caches.ts';
import { ReplayGuard } from './replay-guard.ts';

/** The subject nats-server sends authorization requests to, in the callout account. */
export const AUTH_REQUEST_SUBJECT = '$SYS.REQ.USER.AUTH';
const QUEUE_GROUP = 'workspace-nats-operator';
/** How soon a callout that could not start (keys missing, NATS down) is tried again. */
const RETRY_MS = 5000;

/** What this replica knows of one callout, for its status. */
export interface CalloutState {
  /** Why the callout is not serving here (its keys, or NATS); undefined when it is. */
  problem: { reason: Reason; message: string } | undefined;
  providers: (KeySetState & { name: string })[];
}

export interface CalloutServiceOptions {
  client: KubeClient;
  /** The operator's namespace, where the callouts' and issuers' Secrets live. */
  namespace: string;
  /** Namespaces whose accesses are served; empty means all. */
  workspaceNamespaces: readonly string[];
  log: Logger;
  clock?: Clock;
  keySetTiming?: KeySetTiming;
  metrics?: CalloutMetrics;
}

export class CalloutService {
  readonly #options: CalloutServiceOptions;
  readonly #log: Logger;
  readonly #clock: Clock;
  readonly #callouts: ResilientInformer<ClusterNatsAuthCallout>;
  readonly #secrets: ResilientInformer<V1Secret>;
  readonly #keys: IssuerKeys;
  readonly #runtimes = new Map<string, Runtime>();
  /** Why each callout is not served here; undefined once it is. */
  readonly #problems = new Map<string, CalloutState['problem']>();
  readonly #keySets = new Map<string, KeySet>();
  /** What answering a request reads (the caches once started). */
  readonly #answering: AnswerDeps;
  readonly #listeners = new Set<(name: string) => void>();
  #caches: CalloutCaches | undefined;
  #syncing: Promise<void> = Promise.resolve();
  #retry: NodeJS.Timeout | undefined;
  #stopped = false;

  constructor(options: CalloutServiceOptions) {
    this.#options = options;
    this.#log = options.log;
    this.#clock = options.clock ?? systemClock;
    const { client, log } = options;
    this.#callouts = new ResilientInformer<ClusterNatsAuthCallout>(client, {
      name: CALLOUT_PLURAL,
      path: customResourcePath({ group: GROUP, version: VERSION, plural: CALLOUT_PLURAL }, undefined),
      log,
      onChange: () => this.#sync(),
    });
    this.#secrets = new ResilientInformer<V1Secret>(client, {
      name: 'callout-secrets',
      path: `/api/v1/namespaces/${options.namespace}/secrets`,
      log,
      onChange: () => this.#sync(),
    });
    this.#keys = new IssuerKeys(this.#secrets, options.namespace);
    this.#answering = {
      log,
      clock: this.#clock,
      keys: this.#keys,
      replays: new ReplayGuard(),
      verified: new VerifiedTokens(),
      view: (name) => this.#caches?.view(name),
      ...(options.metrics ? { metrics: options.metrics } : {}),
    };
  }

  async start(): Promise<void> {
    await Promise.all([this.#callouts.start(), this.#secrets.start()]);
    this.#sync();
    await this.#syncing;
  }

  /** This replica's view of callout `name`; undefined when it does not serve it (yet). */
  state(name: string): CalloutState | undefined {
    if (!this.#problems.has(name)) return undefined;
    const runtime = this.#runtimes.get(name);
    return {
      problem: this.#problems.get(name),
      providers: runtime?.providers.map(({ provider, keys }) => ({ name: provider.name, ...keys.state() })) ?? [],
    };
  }

  /** Calls `listener` with a callout's name whenever its state here changes (connected, failed). */
  onStateChange(listener: (name: string) => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    clearTimeout(this.#retry);
    await this.#syncing;
    await Promise.all([...this.#runtimes.values()].map((runtime) => this.#close(runtime)));
    this.#runtimes.clear();
    await Promise.all([this.#callouts.stop(), this.#secrets.stop(), this.#caches?.stop()]);
  }

  /** Brings the runtimes in line with the callouts and their Secrets (one pass at a time). */
  #sync(): void {
    if (this.#stopped) return;
    this.#syncing = this.#syncing.then(() => this.#syncOnce()).catch((error: unknown) => {
      this.#log.error({ error: (error as Error).message }, 'callout sync failed');
    });
  }

  async #syncOnce(): Promise<void> {
    if (this.#stopped) return;
    const callouts = this.#callouts.list();
    if (callouts.length > 0) {
      this.#caches ??= new CalloutCaches(this.#options.client, this.#options.workspaceNamespaces, this.#log);
      await this.#caches.synced;
    }
    let retry = false;
    const owners = accountOwners(callouts);
    for (const callout of callouts) {
      const name = callout.metadata.name;
      const before = JSON.stringify(this.#problems.get(name));
      const owner = owners.get(callout.spec.account.publicKey);
      if (owner === name) {
        retry = !(await this.#syncCallout(callout)) || retry;
      } else {
        // Two callouts on one account would share its requests, each judging by its own providers.
        const message = `callout ${owner} serves account ${callout.spec.account.publicKey} already (the oldest callout of an account serves it)`;
        this.#problems.set(name, { reason: Reason.AccountInUse, message });
        await this.#remove(name);
      }
      if (JSON.stringify(this.#problems.get(name)) !== before) for (const listener of this.#listeners) listener(name);
    }
    const names = new Set(callouts.map((callout) => callout.metadata.name));
    for (const name of this.#runtimes.keys()) {
      if (names.has(name)) continue;
      this.#problems.delete(name);
      await this.#remove(name);
    }
    clearTimeout(this.#retry);
    if (retry && !this.#stopped) this.#retry = setTimeout(() => this.#sync(), RETRY_MS);
  }

  /** Starts or restarts `callout`'s runtime when its spec or Secrets changed; false: retry later. */
  async #syncCallout(callout: ClusterNatsAuthCallout): Promise<boolean> {
    const name = callout.metadata.name;
    let signer: KeyPair;
    let xkey: XKey;
    let auth: { creds: Uint8Array; version: string };
    try {
      signer = this.#keys.calloutSigningKey(callout);
      xkey = this.#keys.calloutXkey(callout);
      auth = this.#keys.credentials(callout.spec.nats.authUserCredentialsSecretRef);
    } catch (error) {
      const reason = error instanceof Failure ? error.reason : Reason.SigningKeyInvalid;
      this.#problems.set(name, { reason, message: (error as Error).message });
      return false;
    }
    const version = JSON.stringify([callout.metadata.uid, callout.spec, signer.getPublicKey(), xkey.publicKey, auth.version]);
    const current = this.#runtimes.get(name);
    if (current?.version === version) return true;
    const providers = callout.spec.identityProviders.map((provider) => ({ provider, keys: this.#keySet(callout, provider) }));
    // Keys first: a fresh replica should not answer with no keys to check tokens against.
    await Promise.all(providers.map(({ keys }) => (keys.state().lastFetchTime ? undefined : keys.refresh())));
    let nc: NatsConnection;
    try {
      nc = await connect({
        servers: [...callout.spec.nats.urls],
        authenticator: nativeCredsAuthenticator(auth.creds),
        name: `workspace-nats-operator-callout-${name}`,
        maxReconnectAttempts: -1,
        reconnectTimeWait: 500,
        timeout: 5000,
      });
    } catch (error) {
      this.#problems.set(name, { reason: Reason.NatsUnreachable, message: `cannot connect as the auth user: ${(error as Error).message}` });
      return false;
    }
    const runtime: Runtime = { version, nc, signer: { accountPublicKey: callout.spec.account.publicKey, key: signer }, xkey, providers };
    nc.subscribe(AUTH_REQUEST_SUBJECT, {
      queue: QUEUE_GROUP,
      callback: (error, msg) => {
        if (!error) void answerRequest(this.#answering, name, runtime, msg);
      },
    });
    await nc.flush();
    this.#runtimes.set(name, runtime);
    this.#problems.set(name, undefined);
    if (current) await this.#close(current);
    this.#log.info({ callout: name, servers: callout.spec.nats.urls, xkey: xkey.publicKey }, 'callout serving');
    // A key set older than a new provider list is dropped.
    const inUse = new Set([...this.#runtimes.values()].flatMap((r) => r.providers.map((p) => p.keys)));
    for (const [key, keys] of this.#keySets) if (!inUse.has(keys)) this.#keySets.delete(key);
    return true;
  }

  #keySet(callout: ClusterNatsAuthCallout, provider: IdentityProvider): KeySet {
    const key = JSON.stringify([callout.metadata.uid, provider.name, provider.kind, provider.issuerURL, provider.jwksURL]);
    let keys = this.#keySets.get(key);
    if (!keys) {
      const fetcher =
        provider.kind === IdentityProviderKind.KubernetesServiceAccount
          ? // The API server serves its ServiceAccount token keys to any authenticated client.
            () => this.#options.client.transport.request<JSONWebKeySet>('GET', '/openid/v1/jwks', { accept: 'application/jwk-set+json' })
          : oidcJwksFetcher(provider.issuerURL, provider.jwksURL);
      keys = new KeySet(fetcher, this.#clock, this.#options.keySetTiming ?? DEFAULT_KEY_SET_TIMING);
      this.#keySets.set(key, keys);
    }
    return keys;
  }

  /** Stops serving callout `name` here, if it was. */
  async #remove(name: string): Promise<void> {
    const runtime = this.#runtimes.get(name);
    if (!runtime) return;
    this.#runtimes.delete(name);
    await this.#close(runtime);
    this.#log.info({ callout: name }, 'callout stopped');
  }

  async #close(runtime: Runtime): Promise<void> {
    if (runtime.nc.isClosed()) return;
    // Drained: requests already taken are answered first.
    await runtime.nc.drain().catch(() => runtime.nc.close());
  }
}

/** Which callout serves each callout account: the oldest, then the first by name. */
export function accountOwners(callouts: readonly ClusterNatsAuthCallout[]): Map<string, string> {
  const age = (callout: ClusterNatsAuthCallout) => `${new Date(callout.metadata.creationTimestamp ?? 0).toISOString()}/${callout.metadata.name}`;
  const owners = new Map<string, string>();
  for (const callout of [...callouts].sort((a, b) => byCodeUnits(age(a), age(b)))) {
    if (!owners.has(callout.spec.account.publicKey)) owners.set(callout.spec.account.publicKey, callout.metadata.name);
  }
  return owners;
}
