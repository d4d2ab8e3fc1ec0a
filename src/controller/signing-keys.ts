// Reads an issuer's signing key seeds from Secrets in the operator's own namespace. The seed is
// read when credentials are minted and kept only as a key pair in memory for that one call.

import type { CoreV1Api } from '@kubernetes/client-node';
import type { KeyPair } from '@nats-io/nkeys';
import type { ClusterNatsIssuer } from '../api/cluster-nats-issuer.ts';
import { Reason } from '../api/reasons.ts';
import { describeError, isNotFound } from '../kube/errors.ts';
import { parseSeed, SeedError, type SeedKind } from '../nats/seeds.ts';
import { ReconcileFailure } from './reconcile-failure.ts';

/** A key of a Secret; the API server defaults `key`, so it is always set. */
export interface SecretKeyRef {
  name: string;
  key: string;
}

export class SigningKeyReader {
  private readonly core: CoreV1Api;
  /** Where the issuers' key Secrets live: the operator's own namespace. */
  readonly namespace: string;

  constructor(core: CoreV1Api, namespace: string) {
    this.core = core;
    this.namespace = namespace;
  }

  /** The issuer's account signing key; fails with a reason the user can act on. */
  accountSigningKey(issuer: ClusterNatsIssuer): Promise<KeyPair> {
    return this.read(issuer.spec.account.signingKeySecretRef, 'account');
  }

  private async read(ref: SecretKeyRef, kind: SeedKind): Promise<KeyPair> {
    const { key } = ref;
    const source = `Secret ${this.namespace}/${ref.name} key "${key}"`;
    let encoded: string | undefined;
    try {
      const secret = await this.core.readNamespacedSecret({ name: ref.name, namespace: this.namespace });
      encoded = secret.data?.[key];
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
    try {
      return parseSeed(Buffer.from(encoded, 'base64').toString('utf8'), kind, source);
    } catch (error) {
      if (error instanceof SeedError) {
        throw new ReconcileFailure(Reason.SigningKeyInvalid, error.message, { retry: true });
      }
      throw error;
    }
  }
}
