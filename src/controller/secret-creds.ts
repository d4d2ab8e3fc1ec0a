// The creds file in an access's Secret, read once per object: reading parses the JWT and checks the
// seed against it. A Secret kept in the operator's cache has its creds text dropped once read
// (trimCreds): some 1.7 kB per Secret, 17 MB at 10,000 accesses, that no reconcile reads again. The
// one write that needs the text, putting back an edited Secret, reads the Secret from the API
// server first.

import type { V1Secret } from '@kubernetes/client-node';
import { CREDS_KEY } from '../api/constants.ts';
import { notOk, ok, type Result } from '../api/failure.ts';
import { readCredentials, type IssuedCredentials } from '../nats/credentials.ts';

/**
 * What each Secret object's creds read as. Caches hand out the same object until the Secret
 * changes, so a resync of thousands of unchanged Secrets reads none of them again.
 */
const readByObject = new WeakMap<V1Secret, Result<IssuedCredentials>>();
/** Secrets whose creds text was dropped after reading. */
const trimmed = new WeakSet<V1Secret>();

/** The creds in a Secret, or why they cannot be read. */
export function issuedCredentials(secret: V1Secret): Result<IssuedCredentials> {
  let issued = readByObject.get(secret);
  if (!issued) {
    const encoded = secret.data?.[CREDS_KEY];
    issued = encoded ? readCreds(Buffer.from(encoded, 'base64').toString('utf8')) : notOk(`key ${CREDS_KEY} is missing`);
    readByObject.set(secret, issued);
  }
  return issued;
}

function readCreds(text: string): Result<IssuedCredentials> {
  try {
    return ok(readCredentials(text));
  } catch (error) {
    // readCredentials throws only messages of its own, which quote nothing from the file.
    return notOk((error as Error).message);
  }
}

/**
 * Reads `secret`'s creds and drops their text from it: for an object about to be cached (a watch
 * event's), before anything else sees it. issuedCredentials() answers for it as before.
 */
export function trimCreds(secret: V1Secret): void {
  if (secret.data?.[CREDS_KEY] === undefined) return;
  issuedCredentials(secret);
  delete secret.data[CREDS_KEY];
  trimmed.add(secret);
}

/** True when `secret` holds a creds key (whose text may have been dropped by trimCreds). */
export function hasCredsKey(secret: V1Secret): boolean {
  return secret.data?.[CREDS_KEY] !== undefined || trimmed.has(secret);
}
