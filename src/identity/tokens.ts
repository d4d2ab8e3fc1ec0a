// Verifying a workspace's identity token with jose: the provider is chosen by the token's iss
// (before anything else is trusted), then signature, algorithm, audience, expiry and not-before are
// checked against that provider's keys and settings, and the claims that name the workspace are
// read. Every refusal is a Denial with a DenyReason and a message that quotes nothing of the token.

import { createHash } from 'node:crypto';
import { decodeJwt, errors, jwtVerify, type JWTPayload } from 'jose';
import {
  DEFAULT_CLAIMS,
  DEFAULT_TOKEN_ALGORITHMS,
  IdentityProviderKind,
  type IdentityProvider,
} from '../api/cluster-nats-auth-callout.ts';
import { DenyReason } from '../api/reasons.ts';
import type { KeySet } from './key-set.ts';
import type { VerifiedTokens } from './verified-tokens.ts';

/** A refused login: why (a DenyReason) and what, for the log. */
export class Denial extends Error {
  readonly reason: DenyReason;
  constructor(reason: DenyReason, message: string) {
    super(message);
    this.name = 'Denial';
    this.reason = reason;
  }
}

/** Tokens issued a little in the future (clocks drift) are still taken. */
const CLOCK_TOLERANCE_S = 5;

export interface VerifiedIdentity {
  provider: IdentityProvider;
  /** OIDC: the workspace id claim; its owner and org when the token has them. */
  workspaceId?: string;
  owner?: string;
  org?: string;
  /** KubernetesServiceAccount: the pod the token is bound to. */
  pod?: { namespace: string; name: string; uid: string; serviceAccount: string };
  expiresAt: Date;
  /** A hash of the token: to recognise it again without keeping it. */
  tokenHash: string;
}

export interface ProviderKeys {
  provider: IdentityProvider;
  keys: KeySet;
}

/** Attacker-chosen text in a message is cut short and stripped of anything but printable ASCII. */
const printable = (text: string) => text.replace(/[^\x20-\x7e]/g, '?').slice(0, 128);

function denialOf(error: unknown): Denial {
  if (error instanceof Denial) return error;
  if (error instanceof errors.JWTExpired) return new Denial(DenyReason.TokenExpired, 'token has expired');
  if (error instanceof errors.JWTClaimValidationFailed) {
    switch (error.claim) {
      case 'aud':
        return new Denial(DenyReason.WrongAudience, 'token audience is not one of the provider\'s audiences');
      case 'nbf':
      case 'iat':
        return new Denial(DenyReason.TokenNotYetValid, `token is not valid yet (${error.claim})`);
      case 'exp':
        return new Denial(DenyReason.TokenExpired, 'token has no valid exp');
      default:
        return new Denial(DenyReason.MalformedToken, `token claim ${printable(error.claim)} is not valid`);
    }
  }
  if (error instanceof errors.JOSEAlgNotAllowed || error instanceof errors.JOSENotSupported) {
    return new Denial(DenyReason.AlgorithmNotAllowed, 'token algorithm is not allowed');
  }
  if (error instanceof errors.JWKSNoMatchingKey || error instanceof errors.JWKSMultipleMatchingKeys) {
    return new Denial(DenyReason.UnknownKey, 'token key id is not in the provider\'s JWKS');
  }
  if (error instanceof errors.JWSSignatureVerificationFailed) return new Denial(DenyReason.BadSignature, 'token signature does not verify');
  if (error instanceof errors.JWSInvalid || error instanceof errors.JWTInvalid) return new Denial(DenyReason.MalformedToken, 'token is not a valid JWT');
  return new Denial(DenyReason.InternalError, `token check failed: ${(error as Error).message}`);
}

const stringClaim = (payload: JWTPayload, name: string): string | undefined => {
  const value = payload[name];
  return typeof value === 'string' && value.length > 0 ? value : undefined;
};

/**
 * Who the token says the workspace is, once it is shown to be genuine and current. With `verified`,
 * a token verified before (by these providers, with a key they still publish) is not checked again.
 */
export async function verifyIdentityToken(token: string, providers: readonly ProviderKeys[], now: Date, verified?: VerifiedTokens<VerifiedIdentity>): Promise<VerifiedIdentity> {
  const tokenHash = createHash('sha256').update(token).digest('base64url');
  const known = verified?.get(tokenHash, now, (entry) => providers.some((p) => p.provider === entry.identity.provider && p.keys === entry.keys));
  if (known) return known;
  let iss: unknown;
  try {
    iss = decodeJwt(token).iss;
  } catch {
    throw new Denial(DenyReason.MalformedToken, 'token is not a JWT');
  }
  // decodeJwt does not check the claims' types: an iss of another type is the token's fault.
  if (iss !== undefined && typeof iss !== 'string') throw new Denial(DenyReason.MalformedToken, 'token iss is not a string');
  const match = providers.find(({ provider }) => provider.issuerURL === iss);
  if (!match) throw new Denial(DenyReason.UnknownIssuer, `token issuer ${JSON.stringify(printable(iss ?? ''))} is not an identity provider of the callout`);
  const { provider, keys } = match;
  let payload: JWTPayload;
  let kid: string | undefined;
  try {
    ({ payload, protectedHeader: { kid } } = await jwtVerify(token, keys.getKey, {
      issuer: provider.issuerURL,
      audience: [...provider.audiences],
      algorithms: [...(provider.algorithms ?? DEFAULT_TOKEN_ALGORITHMS[provider.kind])],
      requiredClaims: ['exp'],
      currentDate: now,
      clockTolerance: CLOCK_TOLERANCE_S,
    }));
  } catch (error) {
    throw denialOf(error);
  }
  const identity = identityOf(provider, payload, tokenHash);
  verified?.set(identity, kid, keys, now);
  return identity;
}

/** What the verified claims say: the pod, or the workspace, owner and org. */
function identityOf(provider: IdentityProvider, payload: JWTPayload, tokenHash: string): VerifiedIdentity {
  const base = { provider, expiresAt: new Date((payload.exp ?? 0) * 1000), tokenHash };
  if (provider.kind === IdentityProviderKind.KubernetesServiceAccount) {
    const k8s = payload['kubernetes.io'] as
      | { namespace?: unknown; pod?: { name?: unknown; uid?: unknown }; serviceaccount?: { name?: unknown } }
      | undefined;
    const [namespace, name, uid, serviceAccount] = [k8s?.namespace, k8s?.pod?.name, k8s?.pod?.uid, k8s?.serviceaccount?.name];
    if (typeof namespace !== 'string' || typeof name !== 'string' || typeof uid !== 'string') {
      throw new Denial(DenyReason.ClaimMissing, 'token is not bound to a pod (kubernetes.io.pod)');
    }
    return { ...base, pod: { namespace, name, uid, serviceAccount: typeof serviceAccount === 'string' ? serviceAccount : '' } };
  }
  const claims = { ...DEFAULT_CLAIMS, ...provider.claims };
  const workspaceId = stringClaim(payload, claims.workspaceId);
  if (!workspaceId) throw new Denial(DenyReason.ClaimMissing, `token has no ${claims.workspaceId} claim`);
  const owner = stringClaim(payload, claims.owner);
  const org = stringClaim(payload, claims.org);
  if (provider.orgs && provider.orgs.length > 0 && (!org || !provider.orgs.includes(org))) {
    throw new Denial(DenyReason.OrgNotAllowed, `token ${claims.org} is not one of the provider's orgs`);
  }
  return { ...base, workspaceId, ...(owner ? { owner } : {}), ...(org ? { org } : {}) };
}
