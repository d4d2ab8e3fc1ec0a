// The mint micro-benchmark of `npm run benchmark:callout`: what minting a user (a new key, its user
// JWT signed by an account signing key, the creds file) costs with the operator's native keys
// (mintUserCredentials: node:crypto Ed25519, src/nats/native-keys.ts) against the same steps with
// @nats-io/nkeys' pure-JS keys (createUser, fromSeed), as the operator minted before; and what
// deriving a public key from a seed costs each way (nkeys derives it again on every getPublicKey(),
// sign() and getPrivateKey()). Medians of single operations timed one by one, after a warm-up, in
// this process, with no environment running.

import { fmtCreds } from '@nats-io/jwt';
import { createAccount, createUser, fromSeed, type KeyPair } from '@nats-io/nkeys';
import { mintUserCredentials, signUserJwt, type MintRequest, type UserGrant } from '../src/nats/credentials.ts';
import { nativeFromSeed } from '../src/nats/native-keys.ts';
import { percentile } from './benchmark-figures.ts';
import type { MintFigures } from './benchmark-callout-report.ts';

const WARM_UP = 10;

const GRANT: UserGrant = {
  pub: { allow: ['ws.bench-1.>'], deny: [] },
  sub: { allow: ['ws.bench-1.>', '_INBOX.>'], deny: [] },
  subs: -1,
  payload: -1,
  data: -1,
  allowed_connection_types: [],
  src: [],
};

/** Median ms of `op` over `iterations` runs, each timed alone. */
async function median(iterations: number, op: () => unknown): Promise<number> {
  for (let i = 0; i < WARM_UP; i++) await op();
  const times: number[] = [];
  for (let i = 0; i < iterations; i++) {
    const startedAt = performance.now();
    await op();
    times.push(performance.now() - startedAt);
  }
  return percentile(times, 50);
}

/** mintUserCredentials' steps with the key pairs nkeys makes (its signing through signUserJwt, the same encodeUser call). */
async function mintPureJs(request: MintRequest): Promise<string> {
  const user = createUser();
  const jwt = signUserJwt(request, user);
  const creds = new TextDecoder().decode(fmtCreds(jwt, user));
  user.getPublicKey();
  return creds;
}

export async function measureMint(iterations: number): Promise<MintFigures> {
  const account = createAccount().getPublicKey();
  const signingSeed = new TextDecoder().decode(createAccount().getSeed());
  const request = (signingKey: KeyPair): MintRequest => ({
    name: 'bench/bench-1',
    accountPublicKey: account,
    signingKey,
    grant: GRANT,
    expiresAt: new Date(Date.now() + 3_600_000),
  });
  // Made once, as the operator keeps an issuer's keys.
  const native = request(nativeFromSeed(signingSeed));
  const pureJs = request(fromSeed(new TextEncoder().encode(signingSeed)));
  const userSeed = createUser().getSeed();
  return {
    iterations,
    mint: { native: await median(iterations, () => mintUserCredentials(native)), pureJs: await median(iterations, () => mintPureJs(pureJs)) },
    publicKey: {
      native: await median(iterations, () => nativeFromSeed(userSeed).getPublicKey()),
      pureJs: await median(iterations, () => fromSeed(userSeed).getPublicKey()),
    },
  };
}
