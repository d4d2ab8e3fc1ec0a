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
  /** An administrator removed the access without revoking its users (force annotation). */
  RevocationSkipped: 'RevocationSkipped',
} as const;

export type EventReason = (typeof EventReason)[keyof typeof EventReason];
