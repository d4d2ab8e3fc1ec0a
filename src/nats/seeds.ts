// Turns seed text read from a Secret into a key pair of the expected kind. Errors say what kind of
// key was found and where it came from, never any part of the seed.

import type { KeyPair } from '@nats-io/nkeys';
import { nativeFromSeed } from './native-keys.ts';

export type SeedKind = 'account' | 'operator' | 'user';

/** The second character of a seed says what kind of key it is: SA..., SO..., SU... */
const kindByPrefix: Record<string, SeedKind> = { A: 'account', O: 'operator', U: 'user' };
const prefixByKind: Record<SeedKind, string> = { account: 'SA', operator: 'SO', user: 'SU' };

export class SeedError extends Error {}

/**
 * Parses `text` (surrounding whitespace ignored) as a seed of `expected` kind. `source` names where
 * it was read from, for example `Secret wno-system/ws-signing-key, key "seed"`.
 */
export function parseSeed(text: string, expected: SeedKind, source: string): KeyPair {
  const seed = text.trim();
  if (seed.length === 0) throw new SeedError(`${source} is empty; expected ${withArticle(expected)}`);
  const found = seed.startsWith('S') ? kindByPrefix[seed.charAt(1)] : undefined;
  let pair: KeyPair;
  try {
    // A native pair: it derives the public key at once, which checks the whole seed, and signs
    // natively every JWT the issuer's keys sign from then on.
    pair = nativeFromSeed(seed);
  } catch {
    throw new SeedError(`${source} does not hold a valid nkey seed; expected ${withArticle(expected)}`);
  }
  if (found !== expected) {
    throw new SeedError(
      `${source} holds ${found ? withArticle(found) : 'a seed of another kind'}; expected ${withArticle(expected)}`,
    );
  }
  return pair;
}

function describe(kind: SeedKind): string {
  return `${kind} seed (${prefixByKind[kind]}...)`;
}

/** "an account seed", "a user seed". */
function withArticle(kind: SeedKind): string {
  return `${kind === 'user' ? 'a' : 'an'} ${describe(kind)}`;
}
