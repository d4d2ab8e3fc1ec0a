// Reads what an issuer or an auth callout keeps in Secrets of the operator's own namespace (account
// and operator signing keys, creds files, a callout's curve key) through a watched cache of that
// namespace's Secrets, so a rotated key is noticed at once and a reconcile costs no API call.
// Parsed keys stay in memory (never logged or written anywhere) until the Secret's resourceVersion
// changes. Errors name the Secret and key, never any part of the value.

import type { V1Secret } from '@kubernetes/client-node';
import type { KeyPair } from '@nats-io/nkeys';
import type { ClusterNatsAuthCallout } from '../api/cluster-nats-auth-callout.ts';
import type { ClusterNatsIssuer } from '../api/cluster-nats-issuer.ts';
import { Failure } from '../api/failure.ts';
import { Reason } from '../api/reasons.ts';
import type { Lister } from '../kube/lister.ts';
import { readCredentials } from '../nats/credentials.ts';
import { parseSeed, SeedError, type SeedKind } from '../nats/seeds.ts';
import type { NatsSettings } from '../nats/system-client.ts';
import { XKey } from '../nats/xkey.ts';
import type { SecretKeyRef } from '../policy/grant.ts';

/**
 * An issuer's key or creds Secret is missing or holds something unusable. Always retried: fixing
 * the Secret wakes the issuer and its accesses.
 */
export class IssuerKeyError extends Failure {
  constructor(reason: Reason, message: string) {
    super(reason, message, { retry: true });
    this.name = 'IssuerKeyError';
  }
}

interface SecretValue {
  bytes: Buffer;
  /** Secret name, key and resourceVersion: changes whenever the value may have. */
  version: string;
  source: string;
}

export class IssuerKeys {
  private readonly secrets: Lister<V1Secret>;
  /** Where the issuers' Secrets live: the operator's own namespace. */
  readonly namespace: string;
  /** Parsed keys by Secret, key and kind, valid while the Secret's resourceVersion is unchanged. */
  private readonly parsed = new Map<string, { version: string; pair: KeyPair }>();
  /** Parsed curve keys likewise (each keeps its shared keys with the servers). */
  private readonly curves = new Map<string, { version: string; key: XKey }>();

  /** `secrets` caches the Secrets of `namespace`. */
  constructor(secrets: Lister<V1Secret>, namespace: string) {
    this.secrets = secrets;
    this.namespace = namespace;
  }

  /** The issuer's account signing key; fails with a reason the user can act on. */
  accountSigningKey(issuer: ClusterNatsIssuer): KeyPair {
    return this.seed(issuer.spec.account.signingKeySecretRef, 'account');
  }

  /** The operator signing key that re-signs the account JWT. */
  operatorSigningKey(issuer: ClusterNatsIssuer): KeyPair {
    return this.seed(issuer.spec.operator.signingKeySecretRef, 'operator');
  }

  /** Everything the operator needs to push the issuer's account JWT. */
  natsSettings(issuer: ClusterNatsIssuer): NatsSettings {
    const { nats } = issuer.spec;
    const creds = this.credentials(nats.systemCredentialsSecretRef);
    const servers = nats.operatorUrls ?? nats.urls;
    return {
      servers: [...servers],
      creds: creds.creds,
      connectionVersion: `${servers.join(',')}|${creds.version}`,
      operatorSigner: this.operatorSigningKey(issuer),
    };
  }

  /** The key that signs a callout's responses: its account key or a signing key of the account. */
  calloutSigningKey(callout: ClusterNatsAuthCallout): KeyPair {
    return this.seed(callout.spec.account.signingKeySecretRef, 'account');
  }

  /** The curve key that requests to a callout are sealed to. */
  calloutXkey(callout: ClusterNatsAuthCallout): XKey {
    const ref = callout.spec.xkeySecretRef;
    const value = this.value(ref, 'seed', Reason.SigningKeyNotFound);
    const slot = `${ref.name}/${ref.key ?? 'seed'}`;
    const cached = this.curves.get(slot);
    if (cached && cached.version === value.version) return cached.key;
    let key: XKey;
    try {
      key = new XKey(value.bytes.toString('utf8').trim());
    } catch {
      throw new IssuerKeyError(Reason.SigningKeyInvalid, `${value.source} does not hold a curve seed (SX...)`);
    }
    this.curves.set(slot, { version: value.version, key });
    return key;
  }

  /** A creds file (checked to read), and a version that changes whenever it may have. */
  credentials(ref: SecretKeyRef): { creds: Uint8Array; version: string } {
    const value = this.value(ref, 'nats.creds', Reason.NatsCredentialsInvalid);
    try {
      readCredentials(value.bytes.toString('utf8'));
    } catch (error) {
      throw new IssuerKeyError(Reason.NatsCredentialsInvalid, `${value.source}: ${(error as Error).message}`);
    }
    return { creds: new Uint8Array(value.bytes), version: value.version };
  }

  private seed(ref: SecretKeyRef, kind: SeedKind): KeyPair {
    const value = this.value(ref, 'seed', Reason.SigningKeyNotFound);
    const slot = `${ref.name}/${ref.key ?? 'seed'}/${kind}`;
    const cached = this.parsed.get(slot);
    if (cached && cached.version === value.version) return cached.pair;
    try {
      const pair = parseSeed(value.bytes.toString('utf8'), kind, value.source);
      this.parsed.set(slot, { version: value.version, pair });
      return pair;
    } catch (error) {
      if (error instanceof SeedError) {
        throw new IssuerKeyError(Reason.SigningKeyInvalid, error.message);
      }
      throw error;
    }
  }

  private value(ref: SecretKeyRef, defaultKey: string, missing: Reason): SecretValue {
    const key = ref.key ?? defaultKey;
    const source = `Secret ${this.namespace}/${ref.name} key "${key}"`;
    const secret = this.secrets.get(ref.name, this.namespace);
    if (!secret) {
      throw new IssuerKeyError(missing, `Secret ${this.namespace}/${ref.name} not found`);
    }
    const encoded = secret.data?.[key];
    if (encoded === undefined) throw new IssuerKeyError(missing, `${source} does not exist`);
    return {
      bytes: Buffer.from(encoded, 'base64'),
      version: `${ref.name}/${key}@${secret.metadata?.resourceVersion ?? ''}`,
      source,
    };
  }
}
