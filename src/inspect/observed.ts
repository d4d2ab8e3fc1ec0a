// What `inspect` reads from the NATS servers, in the shape the reports take it: plain values, no
// JWT (an account JWT is kept as what it says), so that nothing read can be printed by mistake.

import type { ConnectionListing } from '../nats/system-client.ts';

/** What a server's account JWT in force says. */
export interface AccountInForce {
  /** The account's public key. */
  subject: string;
  /** The operator key, or operator signing key, that signed it. */
  signer: string;
  issuedAt: string;
  /** Revoked user public key -> unix seconds (JWTs issued at or before then are refused). */
  revocations: Record<string, number>;
  signingKeys: string[];
}

export interface ServerAccount {
  id: string;
  name: string;
  /** undefined: the server has not loaded the account (it does when a client of it connects). */
  account: AccountInForce | { unreadable: string } | undefined;
}

/** A client connection of the account, with the server it is on. */
export interface LiveConnection extends ConnectionListing {
  server: string;
}

export interface NatsReading {
  servers: ServerAccount[];
  connections: LiveConnection[];
}

export const accountRead = (account: ServerAccount['account']): account is AccountInForce => account !== undefined && !('unreadable' in account);
