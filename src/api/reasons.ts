// CamelCase reasons used in the Ready condition and in Events. Part of the API: users alert on them.

export const READY = 'Ready';

export const Reason = {
  /** Ready=True: the Secret holds valid credentials. */
  Issued: 'Issued',
  /** The issuerRef names no ClusterNatsIssuer. */
  IssuerNotFound: 'IssuerNotFound',
  /** The issuer's signing key Secret, or its key, does not exist. */
  SigningKeyNotFound: 'SigningKeyNotFound',
  /** The signing key Secret holds something that is not an account seed. */
  SigningKeyInvalid: 'SigningKeyInvalid',
  /** The spec cannot be turned into credentials (for example a template that does not expand). */
  InvalidSpec: 'InvalidSpec',
  /** The spec asks for more than the issuer allows. */
  PolicyViolation: 'PolicyViolation',
  /** The Secret name is taken by a Secret this access does not own. */
  SecretConflict: 'SecretConflict',
  /** Deleting: the users' revocation could not be pushed to NATS yet; the finalizer stays. */
  RevocationFailed: 'RevocationFailed',
  /** Issuer: the operator's NATS settings (system creds, operator key) are missing or invalid. */
  NatsCredentialsInvalid: 'NatsCredentialsInvalid',
  /** Issuer: no NATS server could be reached with the system account credentials. */
  NatsUnreachable: 'NatsUnreachable',
  /** Issuer: the NATS servers do not have the account's JWT, or it is not what the issuer says. */
  AccountMismatch: 'AccountMismatch',
} as const;

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

/** Issuer Ready=True: its keys load, NATS answers and has the account JWT, which lists the key. */
export const IssuerReason = {
  AccountVerified: 'AccountVerified',
  /** Ready=Unknown: the first look at the account on NATS is under way. */
  Verifying: 'Verifying',
} as const;
