// The ClusterNatsAuthCallout kind: a NATS auth callout served by the operator. Workspaces connect
// with the callout account's sentinel user and an identity token (an OIDC ID token such as GitPod's,
// or a projected ServiceAccount token); the operator verifies the token, finds the workspace's live
// WorkspaceNatsAccess and answers with a user JWT carrying that access's grant. Cluster-scoped like
// ClusterNatsIssuer: one callout account serves the accounts of several issuers, and which issuers
// an identity provider may log in to is a platform team's decision, not a workspace namespace's.

import type { FromSchema } from 'json-schema-to-ts';
import { conditionsSchema, observedGenerationSchema, secretKeyRefSchema, urlListSchema } from './common-schemas.ts';
import { ACCOUNT_PUBLIC_KEY_PATTERN, OBJECT_NAME_PATTERN } from './patterns.ts';
import type { ObjectMeta } from './object-meta.ts';

/** How a provider's tokens are checked and what in them names the workspace. */
export const IdentityProviderKind = {
  /** An OpenID Connect ID token (GitPod's `gp idp token`): the workspace id comes from a claim. */
  OIDC: 'OIDC',
  /** A projected ServiceAccount token bound to a pod: the pod must be a bound, live workspace pod. */
  KubernetesServiceAccount: 'KubernetesServiceAccount',
} as const;
export type IdentityProviderKind = (typeof IdentityProviderKind)[keyof typeof IdentityProviderKind];

/** Signature algorithms a provider may allow; symmetric ones (HS*) are never taken from a JWKS. */
export const TOKEN_ALGORITHMS = ['RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512', 'ES256', 'ES384', 'ES512', 'EdDSA'] as const;
/** Defaults by kind: GitPod signs RS256; an API server signs RS256 or ES256/384/512 after its key. */
export const DEFAULT_TOKEN_ALGORITHMS: Record<IdentityProviderKind, readonly string[]> = {
  OIDC: ['RS256'],
  KubernetesServiceAccount: ['RS256', 'ES256', 'ES384', 'ES512'],
};
/** Claim names of GitPod's ID tokens (never `sub`: it is the context URL, shared by workspaces). */
export const DEFAULT_CLAIMS = { workspaceId: 'workspace_id', owner: 'user_id', org: 'org_id' } as const;

const claimNameSchema = (description: string) =>
  ({ type: 'string', description, minLength: 1, maxLength: 128, pattern: '^[A-Za-z0-9_.:/-]+$' }) as const;

const identityProviderSchema = {
  type: 'object',
  description: 'An identity provider whose tokens this callout accepts.',
  additionalProperties: false,
  required: ['name', 'kind', 'issuerURL', 'audiences', 'issuers'],
  'x-kubernetes-validations': [
    {
      rule: "self.kind == 'OIDC' || !has(self.claims)",
      message: 'claims applies to kind OIDC only: a ServiceAccount token names its pod',
      fieldPath: '.claims',
    },
  ],
  properties: {
    name: {
      type: 'string',
      description: 'Name of the provider, shown in logs, status and Events.',
      minLength: 1,
      maxLength: 63,
      pattern: '^[a-z0-9]([-a-z0-9]*[a-z0-9])?$',
    },
    kind: {
      type: 'string',
      description:
        'OIDC: ID tokens whose workspace-id claim names a WorkspaceNatsAccess (spec.workspace.id). ' +
        'KubernetesServiceAccount: projected ServiceAccount tokens whose pod (name and uid) is the ' +
        'workspace of a WorkspaceNatsAccess (spec.workspace.ref).',
      enum: Object.values(IdentityProviderKind),
    },
    issuerURL: {
      type: 'string',
      description:
        'The token issuer (iss), exactly. OIDC: keys are found through <issuerURL>/.well-known/' +
        'openid-configuration. KubernetesServiceAccount: the API server\'s --service-account-issuer; ' +
        'keys are read from the API server the operator talks to (/openid/v1/jwks).',
      minLength: 1,
      maxLength: 512,
      pattern: '^https?://[^\\s]+$',
    },
    jwksURL: {
      type: 'string',
      description: 'Where the signing keys are, when not the discovery document\'s jwks_uri (OIDC only).',
      maxLength: 512,
      pattern: '^https?://[^\\s]+$',
    },
    audiences: {
      type: 'array',
      description: 'Accepted audiences (aud): a token must name at least one, e.g. nats.',
      minItems: 1,
      maxItems: 16,
      'x-kubernetes-list-type': 'set',
      items: { type: 'string', minLength: 1, maxLength: 256, description: 'An audience.' },
    },
    algorithms: {
      type: 'array',
      description: 'Signature algorithms accepted (default RS256 for OIDC; RS256 and ES256/384/512 for KubernetesServiceAccount). alg none and HMAC are never accepted.',
      minItems: 1,
      maxItems: TOKEN_ALGORITHMS.length,
      'x-kubernetes-list-type': 'set',
      items: { type: 'string', description: 'A JWS algorithm.', enum: TOKEN_ALGORITHMS },
    },
    claims: {
      type: 'object',
      description: 'Which claims name the workspace, its owner and its organization (OIDC; GitPod\'s by default).',
      additionalProperties: false,
      properties: {
        workspaceId: claimNameSchema('Claim holding the workspace id (default workspace_id). Never use sub for GitPod.'),
        owner: claimNameSchema('Claim that must equal the access\'s spec.workspace.owner when that is set (default user_id).'),
        org: claimNameSchema('Claim holding the organization, checked against orgs (default org_id).'),
      },
    },
    orgs: {
      type: 'array',
      description: 'Organizations whose tokens are accepted (the org claim); empty or omitted: any.',
      maxItems: 64,
      'x-kubernetes-list-type': 'set',
      items: { type: 'string', minLength: 1, maxLength: 256, description: 'An organization id.' },
    },
    issuers: {
      type: 'array',
      description:
        'ClusterNatsIssuers whose accesses this provider may log in to. Their accounts must be ' +
        'in the callout account JWT\'s allowed_accounts.',
      minItems: 1,
      maxItems: 64,
      'x-kubernetes-list-type': 'set',
      items: { type: 'string', minLength: 1, maxLength: 253, pattern: OBJECT_NAME_PATTERN, description: 'Name of a ClusterNatsIssuer.' },
    },
  },
} as const;

export const clusterNatsAuthCalloutSpecSchema = {
  type: 'object',
  description: 'The callout account, its keys, and the identity providers whose tokens it turns into NATS users.',
  additionalProperties: false,
  required: ['nats', 'account', 'xkeySecretRef', 'identityProviders'],
  'x-kubernetes-validations': [
    {
      rule: 'self.identityProviders.all(p, self.identityProviders.exists_one(q, q.name == p.name))',
      message: 'spec.identityProviders: names must be unique',
      fieldPath: '.identityProviders',
    },
  ],
  properties: {
    nats: {
      type: 'object',
      description: 'How the callout service reaches NATS, and what workspaces connect with.',
      additionalProperties: false,
      required: ['urls', 'authUserCredentialsSecretRef', 'sentinelCredentialsSecretRef'],
      properties: {
        urls: urlListSchema('Server URLs the callout service connects to (any server of the cluster will do).'),
        authUserCredentialsSecretRef: secretKeyRefSchema(
          'Secret holding the creds file of the callout account\'s auth user (listed in the account JWT\'s ' +
            'authorization.auth_users): the service subscribes to $SYS.REQ.USER.AUTH with it.',
          'nats.creds',
        ),
        sentinelCredentialsSecretRef: secretKeyRefSchema(
          'Secret holding the creds file of the sentinel: a bearer user of the callout account that may do ' +
            'nothing. Accesses that use this callout get it in their Secret, beside NATS_URL.',
          'nats.creds',
        ),
      },
    },
    account: {
      type: 'object',
      description: 'The callout account (the one whose JWT has the authorization section).',
      additionalProperties: false,
      required: ['publicKey', 'signingKeySecretRef'],
      properties: {
        publicKey: { type: 'string', description: 'Public nkey of the callout account (starts with A).', pattern: ACCOUNT_PUBLIC_KEY_PATTERN },
        signingKeySecretRef: secretKeyRefSchema(
          'Secret holding the seed (SA...) that signs authorization responses: the account key or a signing key listed in its JWT.',
          'seed',
        ),
      },
    },
    xkeySecretRef: secretKeyRefSchema(
      'Secret holding the curve seed (SX...) whose public key (X...) is the account JWT\'s authorization.xkey: ' +
        'requests arrive sealed to it and responses go back sealed. Requests that are not sealed are dropped.',
      'seed',
    ),
    identityProviders: {
      type: 'array',
      description: 'Identity providers whose tokens are accepted; a token is matched to one by its iss.',
      minItems: 1,
      maxItems: 16,
      'x-kubernetes-list-type': 'atomic',
      items: identityProviderSchema,
    },
  },
} as const;

export const clusterNatsAuthCalloutStatusSchema = {
  type: 'object',
  description: 'What the operator observed of this callout.',
  additionalProperties: false,
  properties: {
    conditions: conditionsSchema,
    observedGeneration: observedGenerationSchema,
    identityProviders: {
      type: 'array',
      description: 'Each identity provider\'s signing keys as last fetched.',
      'x-kubernetes-list-type': 'atomic',
      items: {
        type: 'object',
        description: 'One identity provider\'s keys.',
        additionalProperties: false,
        required: ['name'],
        properties: {
          name: { type: 'string', description: 'The provider.' },
          keyIds: {
            type: 'array',
            description: 'Key ids (kid) of the JWKS in use.',
            'x-kubernetes-list-type': 'atomic',
            items: { type: 'string', description: 'A key id.' },
          },
          lastFetchTime: { type: 'string', format: 'date-time', description: 'When the JWKS was last fetched.' },
          message: { type: 'string', description: 'Why the last fetch failed, if it did.' },
        },
      },
    },
    servers: {
      type: 'integer',
      description: 'NATS servers on which the callout subscription was seen.',
    },
  },
} as const;

export type ClusterNatsAuthCalloutSpec = FromSchema<typeof clusterNatsAuthCalloutSpecSchema>;
export type ClusterNatsAuthCalloutStatus = FromSchema<typeof clusterNatsAuthCalloutStatusSchema>;
export type IdentityProvider = ClusterNatsAuthCalloutSpec['identityProviders'][number];

export interface ClusterNatsAuthCallout {
  apiVersion: string;
  kind: string;
  metadata: ObjectMeta;
  spec: ClusterNatsAuthCalloutSpec;
  status?: ClusterNatsAuthCalloutStatus;
}
