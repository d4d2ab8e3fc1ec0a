// The auth callout's wire protocol (ADR-26): reading the authorization request a nats-server
// publishes on $SYS.REQ.USER.AUTH, and encoding the authorization response it waits for. Pure but
// for the signing. The response is @nats-io/jwt's encodeAuthorizationResponse() (its claims, signed
// by native-jwt.ts's encodeJwt, byte for byte its encoder's); the library has no reader for
// requests, so the checks a reader must make (who signed, for whom, until when, sealed by whom) are
// here.

import type { ClaimsData } from '@nats-io/jwt';
import type { KeyPair } from '@nats-io/nkeys';
import { checkedPublicKey, decodeJwt, encodeJwt, type UnsignedClaims } from './native-jwt.ts';
import type { XKey } from './xkey.ts';

/** The header in which a server names the curve key it sealed a request with. */
export const SERVER_XKEY_HEADER = 'Nats-Server-Xkey';
const REQUEST_AUDIENCE = 'nats-authorization-request';

/** What the service reads of a request; the token is secret and must never be logged. */
export interface AuthorizationRequest {
  /** The server's id (its nkey, N...): the response's audience. */
  serverId: string;
  serverName: string;
  /** The server's curve key, when the request was sealed: the response is sealed back to it. */
  serverXkey: string | undefined;
  /** The user key the server made for this connection: the user JWT's subject. */
  userNkey: string;
  /** CONNECT's auth_token (where clients put an identity token), or undefined. */
  token: string | undefined;
  client: { host: string; id: number; name: string; kind: string; type: string };
}

interface RequestClaims {
  server_id?: { id?: string; name?: string; xkey?: string };
  user_nkey?: string;
  client_info?: { host?: string; id?: number; name?: string; kind?: string; type?: string };
  connect_opts?: { auth_token?: string };
}

/** Why a request cannot be answered: it is dropped, and the server times the client out. */
export class RequestRefused extends Error {}

/**
 * Reads a request. With `xkey`, the request must be sealed to it by the key in the header, and that
 * key must be the one the server signed into the request (a request sealed by anyone else is
 * refused). Without, a sealed request cannot be read. Messages quote nothing from the request.
 */
export function readAuthorizationRequest(data: Uint8Array, headerXkey: string | undefined, xkey: XKey | undefined, now: Date): AuthorizationRequest {
  let jwt: string;
  if (xkey) {
    if (!headerXkey) throw new RequestRefused(`request is not sealed (no ${SERVER_XKEY_HEADER} header), but the callout has an xkey`);
    let opened: Uint8Array;
    try {
      opened = xkey.open(data, headerXkey);
    } catch {
      throw new RequestRefused('request does not open with the callout xkey and the key in its header');
    }
    jwt = new TextDecoder().decode(opened);
  } else {
    if (headerXkey) throw new RequestRefused('request is sealed, but the callout has no xkey');
    jwt = new TextDecoder().decode(data);
  }
  let claims: ClaimsData<RequestClaims>;
  try {
    claims = decodeJwt<RequestClaims>(jwt);
  } catch (error) {
    throw new RequestRefused(`request is not a signed JWT: ${(error as Error).message}`);
  }
  const nats = claims.nats ?? {};
  if (!claims.iss.startsWith('N')) throw new RequestRefused('request is not signed by a server key');
  if (claims.aud !== REQUEST_AUDIENCE) throw new RequestRefused(`request audience is not ${REQUEST_AUDIENCE}`);
  if (!claims.exp || claims.exp * 1000 < now.getTime()) throw new RequestRefused('request has expired');
  if (nats.server_id?.id !== claims.iss) throw new RequestRefused('request server_id.id is not its signer');
  if (xkey && nats.server_id?.xkey !== headerXkey) {
    throw new RequestRefused(`${SERVER_XKEY_HEADER} header is not the xkey the server signed into the request`);
  }
  if (!nats.user_nkey?.startsWith('U')) throw new RequestRefused('request has no user_nkey');
  const info = nats.client_info ?? {};
  return {
    serverId: claims.iss,
    serverName: nats.server_id.name ?? claims.iss,
    serverXkey: xkey ? headerXkey : undefined,
    userNkey: nats.user_nkey,
    token: nats.connect_opts?.auth_token || undefined,
    client: { host: info.host ?? '', id: info.id ?? 0, name: info.name ?? '', kind: info.kind ?? '', type: info.type ?? '' },
  };
}

/** Who signs responses: the callout account's key, or one of its signing keys. */
export interface ResponseSigner {
  accountPublicKey: string;
  key: KeyPair;
}

/**
 * The response to `request`: a user JWT, or an error (which nats-server logs and does not tell the
 * client). Sealed back to the server when the request was sealed.
 */
export function encodeAuthorizationReply(
  request: AuthorizationRequest,
  signer: ResponseSigner,
  answer: { jwt: string } | { error: string },
  xkey: XKey | undefined,
): Uint8Array {
  const viaSigningKey = signer.key.getPublicKey() !== signer.accountPublicKey;
  // encodeAuthorizationResponse()'s claims, in its order, signed as its encoder would (encodeJwt).
  const claims: UnsignedClaims = {
    aud: checkedPublicKey(request.serverId, 'N'),
    sub: checkedPublicKey(request.userNkey, 'U'),
    // A copy: the caller's answer is not written to.
    nats: { ...answer },
  };
  const account = checkedPublicKey(viaSigningKey ? signer.accountPublicKey : signer.key, 'A');
  checkedPublicKey(signer.key, 'A');
  if (viaSigningKey) claims.nats.issuer_account = account;
  claims.nats.type = 'authorization_response';
  const jwt = encodeJwt(claims, signer.key);
  const bytes = new TextEncoder().encode(jwt);
  return xkey && request.serverXkey ? xkey.seal(bytes, request.serverXkey) : bytes;
}
