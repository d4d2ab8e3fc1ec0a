// CamelCase reasons used in Ready conditions and in Events. Part of the API: users alert on them,
// and the README lists every one. A reason a user can see is a constant here, nowhere else.

export const READY = 'Ready';

/** Reasons of the Ready condition of every kind (and of the Warning Events that repeat them). */
export const Reason = {
  /** Access Ready=True: the Secret holds valid credentials. */
  Issued: 'Issued',
  /** The issuerRef names no ClusterNatsIssuer. */
  IssuerNotFound: 'IssuerNotFound',
  /** The issuer's signing key Secret, or its key, does not exist. */
  SigningKeyNotFound: 'SigningKeyNotFound',
  /** The signing key Secret holds something that is not a seed of the expected kind. */
  SigningKeyInvalid: 'SigningKeyInvalid',
  /** The spec cannot be turned into credentials (for example a template that does not expand). */
  InvalidSpec: 'InvalidSpec',
  /** The spec asks for more than the issuer allows. */
  PolicyViolation: 'PolicyViolation',
  /** The Secret name is taken by a Secret this access does not own. */
  SecretConflict: 'SecretConflict',
  /** The users' revocation could not be pushed to NATS yet; the finalizer stays. */
  RevocationFailed: 'RevocationFailed',
  /** Issuer: the operator's NATS settings (system creds, operator key) are missing or invalid. */
  NatsCredentialsInvalid: 'NatsCredentialsInvalid',
  /** Issuer: no NATS server could be reached with the system account credentials. */
  NatsUnreachable: 'NatsUnreachable',
  /** Issuer: the NATS servers do not have the account's JWT, or it is not what the issuer says. */
  AccountMismatch: 'AccountMismatch',
  /** Issuer Ready=True: its keys load, NATS answers and has the account JWT, which lists the key. */
  AccountVerified: 'AccountVerified',
  /** Issuer Ready=Unknown: the first look at the account on NATS is under way. */
  Verifying: 'Verifying',
  /** Binding Ready=True: every running workspace of its source has its access. */
  Bound: 'Bound',
  /** Binding: the first list of its source (GitPod Workspaces or pods) has not arrived yet. */
  SourceNotReady: 'SourceNotReady',
  /** Binding: the API server refused to store an access the binding wants. */
  AccessRefused: 'AccessRefused',
  /** Access Ready=True in callout mode: the Secret holds the callout's sentinel creds and NATS_URL. */
  CalloutReady: 'CalloutReady',
  /** The authCalloutRef names no ClusterNatsAuthCallout. */
  CalloutNotFound: 'CalloutNotFound',
  /** Callout Ready=True: keys load, every provider's keys were fetched, the subscription is on every server. */
  Serving: 'Serving',
  /** Callout: an identity provider's signing keys (JWKS) could not be fetched yet. */
  IdentityProviderUnavailable: 'IdentityProviderUnavailable',
  /** Callout: the NATS servers do not all have the callout's subscription (no replica connected). */
  NotSubscribed: 'NotSubscribed',
  /** Callout: an older callout serves the same callout account; this one is not served. */
  AccountInUse: 'AccountInUse',
} as const;

export type Reason = (typeof Reason)[keyof typeof Reason];

/** Events for things that happened (Normal), beside the condition reasons (Warning). */
export const EventReason = {
  Issued: 'Issued',
  Renewed: 'Renewed',
  Reissued: 'Reissued',
  SecretRestored: 'SecretRestored',
  Deleted: 'CredentialsDeleted',
  /** Users were revoked on the NATS servers. */
  Revoked: 'Revoked',
  /** The access's auth callout logins were closed on the NATS servers. */
  LoginsCut: 'LoginsCut',
  /** An administrator removed the access without revoking its users (force annotation). */
  RevocationSkipped: 'RevocationSkipped',
  /** Access: a client logged in with one of its users (at most one Event a minute, with a count). */
  Connected: 'Connected',
  /** Access: a client of it disconnected (aggregated like Connected). */
  Disconnected: 'Disconnected',
  /** Access (Warning): a login with one of its users was refused (revoked or expired credentials). */
  AuthFailed: 'AuthFailed',
  /** Issuer (Warning): a connection of its account whose user no live access accounts for. */
  UnknownUserConnected: 'UnknownUserConnected',
  /** Issuer (Warning): a connection whose user JWT grants more than the issuer's policy. */
  OverPermission: 'OverPermission',
  /** Issuer (Warning): a revoked user of the account keeps trying to log in. */
  RevokedUserRetrying: 'RevokedUserRetrying',
  /** Issuer (Warning): policy.enforcement Revoke revoked a user and closed its connections. */
  UserRevokedByPolicy: 'UserRevokedByPolicy',
  /** Issuer (Warning): NATS servers held the account JWT without revocations they had confirmed; pushed again. */
  AccountJwtDrift: 'AccountJwtDrift',
} as const;

export type EventReason = (typeof EventReason)[keyof typeof EventReason];

/**
 * Why the auth callout denied a login: in the operator's log (never sent to the client, as NATS
 * does not) and, with issue 12's metrics, a label. Never carries the token.
 */
export const DenyReason = {
  /** CONNECT had no auth_token. */
  NoToken: 'NoToken',
  /** The token is not a JWT, or its header or claims do not parse. */
  MalformedToken: 'MalformedToken',
  /** No identity provider of the callout has the token's iss. */
  UnknownIssuer: 'UnknownIssuer',
  /** The token's alg is not in the provider's algorithms (alg none never is). */
  AlgorithmNotAllowed: 'AlgorithmNotAllowed',
  /** The token's kid is not in the provider's JWKS, even after fetching it again. */
  UnknownKey: 'UnknownKey',
  /** The signature does not verify with the provider's key. */
  BadSignature: 'BadSignature',
  /** The token names none of the provider's audiences. */
  WrongAudience: 'WrongAudience',
  TokenExpired: 'TokenExpired',
  TokenNotYetValid: 'TokenNotYetValid',
  /** A claim the provider needs (workspace id, pod) is missing or not a string. */
  ClaimMissing: 'ClaimMissing',
  /** The token's org claim is not one of the provider's orgs. */
  OrgNotAllowed: 'OrgNotAllowed',
  /** The same token came from another client host while it was in use (a copied token). */
  TokenReplayed: 'TokenReplayed',
  /** No live WorkspaceNatsAccess of this callout and the provider's issuers is the token's workspace. */
  NoAccess: 'NoAccess',
  /** The workspace's access is being deleted (the workspace is stopping). */
  AccessDeleting: 'AccessDeleting',
  /** More than one access matches the token. */
  AmbiguousAccess: 'AmbiguousAccess',
  /** The token's owner claim is not the access's spec.workspace.owner. */
  OwnerMismatch: 'OwnerMismatch',
  /** The access's issuer is missing, its key does not load, or its policy refuses the access. */
  IssuerRefused: 'IssuerRefused',
  /** Anything else: a bug, logged with its message. */
  InternalError: 'InternalError',
} as const;

export type DenyReason = (typeof DenyReason)[keyof typeof DenyReason];
