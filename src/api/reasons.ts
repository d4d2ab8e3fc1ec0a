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
} as const;

/** Events for things that happened (Normal), beside the condition reasons (Warning). */
export const EventReason = {
  Issued: 'Issued',
  Renewed: 'Renewed',
  Reissued: 'Reissued',
  SecretRestored: 'SecretRestored',
  Deleted: 'CredentialsDeleted',
} as const;

/** Issuer Ready=True: its signing key loads. */
export const IssuerReason = {
  KeysLoaded: 'KeysLoaded',
} as const;
