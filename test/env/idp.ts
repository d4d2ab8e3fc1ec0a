// A test OpenID provider of our own, for the auth callout: workspaces log in to NATS with an ID
// token (GitPod's) or a projected ServiceAccount token, and the callout verifies it against the
// issuer's published keys. This one serves discovery and JWKS over plain HTTP on loopback, at an
// issuer shaped like GitPod's (http://127.0.0.1:<port>/idp), with RS256 keys generated at run time,
// and signs tokens on demand: good ones, and the broken kinds a verifier must refuse (bad signature,
// unknown kid, alg none; wrong audience, issuer or times through the options). It rotates keys and
// can answer 503 to everything, to test a verifier's key cache. Its keys are throwaway test keys.

import { createHash, randomBytes } from 'node:crypto';
import { createServer, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { exportJWK, generateKeyPair, SignJWT, UnsecuredJWT, type CryptoKey, type JWK, type JWTPayload } from 'jose';

const ALG = 'RS256';
const TOKEN_TTL_S = 3600;

/** A time in a claim: seconds since the epoch, or a Date. */
export type ClaimTime = number | Date;

export interface SignOptions {
  /** `aud`; default: what the claims say. */
  audience?: string | string[];
  /** `iss`; default: the claims', else the IdP's issuer. */
  issuer?: string;
  /** `iat`; default: the claims', else now. */
  issuedAt?: ClaimTime;
  /** `exp`; null leaves it out; default: the claims', else an hour after `iat`. */
  expiresAt?: ClaimTime | null;
  /** `nbf`; default: the claims', else none. */
  notBefore?: ClaimTime;
  /** Sign with the key of this kid (published or retired, see rotate); default: the current key. */
  kid?: string;
  /**
   * A token the published keys cannot verify: 'bad-signature' carries the current kid but is
   * signed by another private key; 'unknown-kid' is signed by a key whose kid was never published.
   */
  forge?: 'bad-signature' | 'unknown-kid';
}

export interface TestIdp {
  /** http://127.0.0.1:<port>/idp */
  readonly issuer: string;
  /** <issuer>/.well-known/openid-configuration */
  readonly discoveryUri: string;
  /** <issuer>/keys */
  readonly jwksUri: string;
  /** The kid of the key that signs by default. */
  readonly kid: string;
  /** The kids in the JWKS, oldest first. */
  readonly publishedKids: string[];
  /** Requests for the JWKS so far, the ones refused while down included. */
  readonly requests: number;
  /** A compact RS256 JWT of `claims` over the defaults (iss, iat, exp), then the options. */
  sign(claims?: JWTPayload, options?: SignOptions): Promise<string>;
  /** An `alg: none` token (header {"alg":"none"}, empty signature) with the same defaults. */
  unsigned(claims?: JWTPayload, options?: Omit<SignOptions, 'kid' | 'forge'>): string;
  /**
   * Makes a new current key and publishes it; the old ones stay published unless `retire`, which
   * takes them out of the JWKS (they can still sign, with `kid`). Returns the new kid.
   */
  rotate(options?: { retire?: boolean }): Promise<string>;
  /** While down, every request is answered with HTTP 503. */
  setDown(down: boolean): void;
  /** Closes the server and its connections; calling it again does nothing. */
  stop(): Promise<void>;
}

interface SigningKey {
  kid: string;
  privateKey: CryptoKey;
  jwk: JWK;
  published: boolean;
}

let kidCounter = 0;

async function newKey(published: boolean): Promise<SigningKey> {
  const { publicKey, privateKey } = await generateKeyPair(ALG);
  // Random too, so that two IdPs in one test never publish the same kid.
  const kid = `k${++kidCounter}-${randomBytes(4).toString('hex')}`;
  return { kid, privateKey, jwk: { ...(await exportJWK(publicKey)), kid, alg: ALG, use: 'sig' }, published };
}

const seconds = (time: ClaimTime) => (typeof time === 'number' ? time : Math.floor(time.getTime() / 1000));

/** `claims` with the defaults filled in and the options applied; undefined values are left out. */
function claimsFor(issuer: string, claims: JWTPayload, options: SignOptions): JWTPayload {
  const iat = options.issuedAt !== undefined ? seconds(options.issuedAt) : (claims.iat ?? Math.floor(Date.now() / 1000));
  const exp = options.expiresAt === null ? undefined : options.expiresAt !== undefined ? seconds(options.expiresAt) : (claims.exp ?? iat + TOKEN_TTL_S);
  const payload: JWTPayload = {
    ...claims,
    iss: options.issuer ?? claims.iss ?? issuer,
    aud: options.audience ?? claims.aud,
    iat,
    exp,
    nbf: options.notBefore !== undefined ? seconds(options.notBefore) : claims.nbf,
  };
  return Object.fromEntries(Object.entries(payload).filter(([, value]) => value !== undefined));
}

/** Starts the IdP on a free loopback port. Call stop() when done (an afterAll, say). */
export async function startTestIdp(): Promise<TestIdp> {
  const keys: SigningKey[] = [await newKey(true)];
  // Signs 'bad-signature' and 'unknown-kid' tokens; made on first use.
  let impostor: SigningKey | undefined;
  let down = false;
  let jwksRequests = 0;
  let issuer = '';

  const send = (response: ServerResponse, status: number, body: unknown) => {
    response.writeHead(status, { 'content-type': 'application/json', 'cache-control': 'no-store' });
    response.end(JSON.stringify(body));
  };
  const server = createServer((request, response) => {
    const path = new URL(request.url ?? '/', 'http://idp').pathname;
    if (path === '/idp/keys') jwksRequests++;
    if (down) return send(response, 503, { error: 'temporarily_unavailable' });
    if (request.method !== 'GET') return send(response, 405, { error: 'method not allowed' });
    if (path === '/idp/.well-known/openid-configuration') {
      return send(response, 200, {
        issuer,
        jwks_uri: `${issuer}/keys`,
        id_token_signing_alg_values_supported: [ALG],
        response_types_supported: ['id_token'],
        subject_types_supported: ['public'],
      });
    }
    if (path === '/idp/keys') return send(response, 200, { keys: keys.filter((k) => k.published).map((k) => k.jwk) });
    return send(response, 404, { error: 'not found' });
  });
  // A test that forgets stop() must not keep its process alive.
  server.unref();
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  issuer = `http://127.0.0.1:${(server.address() as AddressInfo).port}/idp`;

  const current = () => keys[keys.length - 1]!;
  const signer = async (options: SignOptions): Promise<{ kid: string; privateKey: CryptoKey }> => {
    if (options.forge) {
      impostor ??= await newKey(false);
      return { kid: options.forge === 'bad-signature' ? current().kid : impostor.kid, privateKey: impostor.privateKey };
    }
    if (options.kid === undefined) return current();
    const key = keys.find((k) => k.kid === options.kid);
    if (!key) throw new Error(`the test IdP has no key ${options.kid} (it has ${keys.map((k) => k.kid).join(', ')})`);
    return key;
  };
  let stopped: Promise<void> | undefined;

  return {
    issuer,
    discoveryUri: `${issuer}/.well-known/openid-configuration`,
    jwksUri: `${issuer}/keys`,
    get kid() {
      return current().kid;
    },
    get publishedKids() {
      return keys.filter((k) => k.published).map((k) => k.kid);
    },
    get requests() {
      return jwksRequests;
    },
    async sign(claims = {}, options = {}) {
      const { kid, privateKey } = await signer(options);
      return new SignJWT(claimsFor(issuer, claims, options)).setProtectedHeader({ alg: ALG, kid, typ: 'JWT' }).sign(privateKey);
    },
    unsigned(claims = {}, options = {}) {
      return new UnsecuredJWT(claimsFor(issuer, claims, options)).encode();
    },
    async rotate(options = {}) {
      const key = await newKey(true);
      if (options.retire) for (const k of keys) k.published = false;
      keys.push(key);
      return key.kid;
    },
    setDown(value) {
      down = value;
    },
    stop() {
      stopped ??= new Promise<void>((resolve) => {
        server.close(() => resolve());
        // Keep-alive connections (a verifier's fetch keeps one) would hold close() open.
        server.closeAllConnections();
      });
      return stopped;
    },
  };
}

/** GitPod-shaped ID token claims, as `gp idp token --audience <audience>` gives them. */
export function gitpodClaims(workspace: {
  workspaceId: string;
  orgId: string;
  userId: string;
  audience: string;
  email?: string;
  name?: string;
  /** `sub`: the workspace's context URL, which many workspaces share; default https://github.com/acme/repo. */
  contextUrl?: string;
}): JWTPayload {
  return {
    aud: [workspace.audience],
    azp: workspace.audience,
    sub: workspace.contextUrl ?? 'https://github.com/acme/repo',
    workspace_id: workspace.workspaceId,
    org_id: workspace.orgId,
    user_id: workspace.userId,
    email: workspace.email ?? `${workspace.userId}@example.com`,
    email_verified: true,
    name: workspace.name ?? 'Test User',
  };
}

/** Claims shaped like a Kubernetes projected ServiceAccount token bound to a pod. */
export function serviceAccountClaims(pod: {
  namespace: string;
  podName: string;
  podUid: string;
  serviceAccount: string;
  audience: string;
  /** Default: a UUID made from namespace and name, the same on every call. */
  serviceAccountUid?: string;
}): JWTPayload {
  const hex = createHash('sha256').update(`${pod.namespace}/${pod.serviceAccount}`).digest('hex');
  const derivedUid = `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20, 32)}`;
  return {
    aud: [pod.audience],
    sub: `system:serviceaccount:${pod.namespace}:${pod.serviceAccount}`,
    'kubernetes.io': {
      namespace: pod.namespace,
      pod: { name: pod.podName, uid: pod.podUid },
      serviceaccount: { name: pod.serviceAccount, uid: pod.serviceAccountUid ?? derivedUid },
    },
  };
}
