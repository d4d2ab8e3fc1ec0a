// Reads an issuer's signing key seeds from Secrets in the operator's own namespace, through a
// watched cache of that namespace's Secrets (so a rotated key is noticed at once, and a reconcile
// costs no API call). The parsed key pair stays in memory (never logged or written anywhere) until
// the Secret's resourceVersion changes.

import type { V1Secret } from '@kubernetes/client-node';
import type { KeyPair } from '@nats-io/nkeys';
import type { ClusterNatsIssuer } from '../api/cluster-nats-issuer.ts';
import { Reason } from '../api/reasons.ts';
import { parseSeed, SeedError, type SeedKind } from '../nats/seeds.ts';
import type { Lister } from './access-controller.ts';
import { ReconcileFailure } from './reconcile-failure.ts';

export interface SecretKeyRef {
  name: string;
  key?: string | undefined;
}

export class SigningKeyReader {
  private readonly secrets: Lister<V1Secret>;
  /** Where the issuers' key Secrets live: the operator's own namespace. */
  readonly namespace: string;
  /** Parsed keys by Secret and key, valid while the Secret's resourceVersion is unchanged. */
  private readonly parsed = new Map<string, { resourceVersion: string; pair: KeyPair }>();

  /** `secrets` caches the Secrets of `namespace`. */
  constructor(secrets: Lister<V1Secret>, namespace: string) {
    this.secrets = secrets;
    this.namespace = namespace;
  }

  /** The issuer's account signing key; fails with a reason the user can act on. */
  accountSigningKey(issuer: ClusterNatsIssuer): KeyPair {
    return this.read(issuer.spec.account.signingKeySecretRef, 'account', 'seed');
  }

  private read(ref: SecretKeyRef, kind: SeedKind, defaultKey: string): KeyPair {
    const key = ref.key ?? defaultKey;
    const source = `Secret ${this.namespace}/${ref.name} key "${key}"`;
    const secret = this.secrets.get(ref.name, this.namespace);
    if (!secret) {
      throw new ReconcileFailure(Reason.SigningKeyNotFound, `Secret ${this.namespace}/${ref.name} not found`, {
        retry: true,
      });
    }
    const encoded = secret.data?.[key];
    if (encoded === undefined) {
      throw new ReconcileFailure(Reason.SigningKeyNotFound, `${source} does not exist`, { retry: true });
    }
    const resourceVersion = secret.metadata?.resourceVersion ?? '';
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
