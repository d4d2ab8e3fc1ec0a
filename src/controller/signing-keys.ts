// Reads an issuer's signing key seeds from Secrets in the operator's own namespace, when credentials
// are minted or an issuer is checked. The parsed key pair stays in memory (never logged or
// written anywhere) until the Secret's resourceVersion changes, so a burst of issuances parses once.

import type { CoreV1Api } from '@kubernetes/client-node';
import type { KeyPair } from '@nats-io/nkeys';
import type { ClusterNatsIssuer } from '../api/cluster-nats-issuer.ts';
import { Reason } from '../api/reasons.ts';
import { describeError, isNotFound } from '../kube/errors.ts';
import { parseSeed, SeedError, type SeedKind } from '../nats/seeds.ts';
import { ReconcileFailure } from './reconcile-failure.ts';

export interface SecretKeyRef {
  name: string;
  key?: string | undefined;
}

export class SigningKeyReader {
  private readonly core: CoreV1Api;
  /** Where the issuers' key Secrets live: the operator's own namespace. */
  readonly namespace: string;
  /** Parsed keys by Secret and key, valid while the Secret's resourceVersion is unchanged. */
  private readonly parsed = new Map<string, { resourceVersion: string; pair: KeyPair }>();

  constructor(core: CoreV1Api, namespace: string) {
    this.core = core;
    this.namespace = namespace;
  }

  /** The issuer's account signing key; fails with a reason the user can act on. */
  accountSigningKey(issuer: ClusterNatsIssuer): Promise<KeyPair> {
    return this.read(issuer.spec.account.signingKeySecretRef, 'account', 'seed');
  }

  private async read(ref: SecretKeyRef, kind: SeedKind, defaultKey: string): Promise<KeyPair> {
    const key = ref.key ?? defaultKey;
    const source = `Secret ${this.namespace}/${ref.name} key "${key}"`;
    let encoded: string | undefined;
    let resourceVersion = '';
    try {
      const secret = await this.core.readNamespacedSecret({ name: ref.name, namespace: this.namespace });
      encoded = secret.data?.[key];
      resourceVersion = secret.metadata?.resourceVersion ?? '';
    } catch (error) {
      if (isNotFound(error)) {
        throw new ReconcileFailure(Reason.SigningKeyNotFound, `Secret ${this.namespace}/${ref.name} not found`, {
          retry: true,
        });
      }
      throw new Error(`reading ${source}: ${describeError(error)}`);
    }
    if (encoded === undefined) {
      throw new ReconcileFailure(Reason.SigningKeyNotFound, `${source} does not exist`, { retry: true });
    }
    const cacheKey = `${ref.name}/${key}/${kind}`;
    const cached = this.parsed.get(cacheKey);
    if (cached && cached.resourceVersion === resourceVersion) return cached.pair;
    try {
      const pair = parseSeed(Buffer.from(encoded, 'base64').toString('utf8'), kind, source);
      this.parsed.set(cacheKey, { resourceVersion, pair });
      return pair;
    } catch (error) {
      if (error instanceof SeedError) {
        throw new ReconcileFailure(Reason.SigningKeyInvalid, error.message, { retry: true });
      }
      throw error;
    }
  }
}
