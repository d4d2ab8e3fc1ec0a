// Reading what nats-server tells the system account about clients: the connect and disconnect
// advisories of an account ($SYS.ACCOUNT.<account>.CONNECT / .DISCONNECT), the authentication
// failures of a server ($SYS.SERVER.<id>.CLIENT.AUTH.ERR) and the connections a CONNZ request
// lists. Pure. The user JWT these carry is read here for what it says (its user, account, signer,
// expiry and permissions) and not kept: nothing returned holds a JWT or any other secret.

import type { ClaimsData, User } from '@nats-io/jwt';
import { decodeJwt } from './native-jwt.ts';

export type ClientEventKind = 'connect' | 'disconnect' | 'auth_error';

const KIND_OF_TYPE: Record<string, ClientEventKind> = {
  'io.nats.server.advisory.v1.client_connect': 'connect',
  'io.nats.server.advisory.v1.client_disconnect': 'disconnect',
};

/** What a presented user JWT says, if its signature checks out (`signer` made it). */
export interface PresentedUser {
  userPublicKey: string;
  /** The account the JWT is for (`issuer_account`, or the signer when that is the account key). */
  account: string;
  /** The key that signed it: the account key or one of its signing keys. */
  signer: string;
  name: string | undefined;
  issuedAt: Date | undefined;
  /** Undefined when the JWT never expires. */
  expiresAt: Date | undefined;
  /** The `nats` claims: permissions, limits, connection types, tags. */
  nats: Partial<User>;
}

export interface ClientRecord {
  server: { id: string; name: string };
  /** The client's id on that server (cid). */
  cid: number;
  /** The account the client is in (the global account for a refused login). */
  account: string | undefined;
  /** The user public key, or the name an auth callout gave the user; "[REDACTED]" for a token. */
  user: string | undefined;
  host: string | undefined;
  clientName: string | undefined;
  lang: string | undefined;
  version: string | undefined;
  tags: string[];
  /** The user JWT the client presented, as read (minted creds; a callout login presents none). */
  presented: PresentedUser | undefined;
}

export interface ClientEvent extends ClientRecord {
  kind: ClientEventKind;
  /** The advisory's own id: unique, so a copy of it (seen over two connections) can be dropped. */
  id: string;
  time: string;
  /** Why a client disconnected or was refused, in the server's words. */
  reason: string | undefined;
  /** Bytes the client received from and sent to the server (disconnect advisories). */
  bytesIn: number | undefined;
  bytesOut: number | undefined;
}

interface AdvisoryClient {
  id?: number;
  acc?: string;
  user?: string;
  host?: string;
  name?: string;
  lang?: string;
  ver?: string;
  jwt?: string;
  tags?: string[];
}

interface Advisory {
  type?: string;
  id?: string;
  timestamp?: string;
  server?: { id?: string; name?: string };
  client?: AdvisoryClient;
  sent?: { bytes?: number };
  received?: { bytes?: number };
  reason?: string;
}

/**
 * JWTs already read: a client's JWT comes back in its disconnect advisory, in every listing of
 * its account's connections, and in each connect of a workspace that reconnects; checking its
 * signature again each time was half the audit's CPU in a connect burst. Bounded like the key
 * cache of nativeVerify: emptied when full.
 */
const MAX_READ_JWTS = 4096;
const readJwts = new Map<string, PresentedUser | undefined>();

/** Reads the user JWT `jwt`; undefined when it is not one, or its signature does not verify. */
export function readPresentedUser(jwt: string | undefined): PresentedUser | undefined {
  if (!jwt) return undefined;
  if (readJwts.has(jwt)) return readJwts.get(jwt);
  const presented = readJwt(jwt);
  if (readJwts.size >= MAX_READ_JWTS) readJwts.clear();
  readJwts.set(jwt, presented);
  return presented;
}

function readJwt(jwt: string): PresentedUser | undefined {
  let claims: ClaimsData<User>;
  try {
    claims = decodeJwt<User>(jwt);
  } catch {
    return undefined;
  }
  const nats = (claims.nats ?? {}) as Partial<User> & { issuer_account?: string };
  if (typeof claims.sub !== 'string' || !claims.sub.startsWith('U')) return undefined;
  const seconds = (value: unknown) => (typeof value === 'number' && value > 0 ? new Date(value * 1000) : undefined);
  return {
    userPublicKey: claims.sub,
    account: nats.issuer_account || claims.iss,
    signer: claims.iss,
    name: typeof claims.name === 'string' ? claims.name : undefined,
    issuedAt: seconds(claims.iat),
    expiresAt: seconds(claims.exp),
    nats,
  };
}

/**
 * A connect, disconnect or auth error advisory; undefined for anything else (another advisory
 * type, or a message that is not one). `subject` tells an auth error from a disconnect: both use
 * the disconnect type.
 */
export function readClientEvent(subject: string, data: string): ClientEvent | undefined {
  let advisory: Advisory;
  try {
    advisory = JSON.parse(data) as Advisory;
  } catch {
    return undefined;
  }
  const typed = KIND_OF_TYPE[advisory.type ?? ''];
  const kind: ClientEventKind | undefined = subject.endsWith('.CLIENT.AUTH.ERR') ? 'auth_error' : typed;
  const { client, server } = advisory;
  if (!kind || !client || !server?.id || !advisory.id) return undefined;
  return {
    kind,
    id: advisory.id,
    time: advisory.timestamp ?? new Date().toISOString(),
    server: { id: server.id, name: server.name ?? server.id },
    cid: client.id ?? 0,
    account: client.acc,
    user: client.user,
    host: client.host,
    clientName: client.name,
    lang: client.lang,
    version: client.ver,
    tags: client.tags ?? [],
    presented: readPresentedUser(client.jwt),
    reason: kind === 'connect' ? undefined : advisory.reason,
    // The advisory counts from the client's side: `sent` is what the client published (the
    // server's inBytes), `received` what was delivered to it (outBytes).
    bytesIn: kind === 'disconnect' ? advisory.received?.bytes : undefined,
    bytesOut: kind === 'disconnect' ? advisory.sent?.bytes : undefined,
  };
}

/** A connection as CONNZ lists it (the fields read here). */
export interface ConnzConnection {
  cid?: number;
  /** When the client connected (RFC 3339). */
  start?: string;
  ip?: string;
  name?: string;
  lang?: string;
  version?: string;
  authorized_user?: string;
  account?: string;
  jwt?: string;
  tags?: string[];
}

/** The client connections of one server's CONNZ answer (asked with `auth: true`). */
export function readConnz(server: { id: string; name: string }, connections: readonly ConnzConnection[]): ClientRecord[] {
  return connections.map((connection) => ({
    server,
    cid: connection.cid ?? 0,
    account: connection.account,
    user: connection.authorized_user,
    host: connection.ip,
    clientName: connection.name,
    lang: connection.lang,
    version: connection.version,
    tags: connection.tags ?? [],
    presented: readPresentedUser(connection.jwt),
  }));
}
