// Ed25519 nkeys whose curve math runs in node:crypto (OpenSSL, tens of microseconds) instead of
// the pure-JS tweetnacl inside @nats-io/nkeys, whose key pair derives the public key from the seed
// again on every getPublicKey(), sign() and getPrivateKey() call (about 4 ms each here) and signs
// and makes keys in pure JS. The encodings stay the library's: nkey strings (base32, prefix byte,
// CRC16) come from its Codec, and the pairs made here implement its KeyPair interface, so
// @nats-io/jwt's encoders and fmtCreds take them as they take its own.
//
// Written by hand because no library does it: the key pair class below, and the two fixed DER
// prefixes (RFC 8410) that wrap a raw 32-byte Ed25519 key for node:crypto, which takes no raw keys.
//
// Codec is not re-exported by the package's entry point (lib/mod.js), so it is imported by path.
// The package (pinned in package.json) has no "exports" map, so the path resolves both for
// TypeScript (NodeNext: lib/codec.d.ts) and for Node's ESM loader, which finds a CommonJS file's
// named exports (`exports.Codec = ...`) by static analysis. It is the very file the library's own
// fromSeed decodes with; if an upgrade moves it, the type check and every key test fail.

import { createPrivateKey, createPublicKey, randomBytes, sign, verify, type KeyObject } from 'node:crypto';
import { NKeysError, NKeysErrorCode, Prefix, type KeyPair } from '@nats-io/nkeys';
import { Codec } from '@nats-io/nkeys/lib/codec.js';

/** DER of a PKCS#8 Ed25519 private key up to the 32-byte seed that follows it. */
const PKCS8_ED25519 = Buffer.from('302e020100300506032b657004220420', 'hex');
/** DER of an SPKI Ed25519 public key up to the 32-byte key that follows it. */
const SPKI_ED25519 = Buffer.from('302a300506032b6570032100', 'hex');

/** Kinds of nkey that sign (curve keys, `X...`, encrypt instead and are not Ed25519 keys). */
const SIGNING_KINDS: ReadonlySet<number> = new Set([Prefix.Operator, Prefix.Account, Prefix.User, Prefix.Server, Prefix.Cluster]);

class NativeKeyPair implements KeyPair {
  /** The seed as nkeys encodes it (`SU...`, `SA...`): what getSeed() hands to fmtCreds. */
  #seed: Uint8Array | undefined;
  #privateKey: KeyObject | undefined;
  readonly #publicKeyObject: KeyObject;
  readonly #rawPublicKey: Uint8Array;
  readonly #publicKey: string;

  constructor(kind: Prefix, rawSeed: Uint8Array) {
    this.#seed = Codec.encodeSeed(kind, rawSeed);
    const der = Buffer.concat([PKCS8_ED25519, rawSeed]);
    this.#privateKey = createPrivateKey({ key: der, format: 'der', type: 'pkcs8' });
    der.fill(0);
    this.#publicKeyObject = createPublicKey(this.#privateKey);
    this.#rawPublicKey = Buffer.from(this.#publicKeyObject.export({ format: 'jwk' }).x ?? '', 'base64url');
    this.#publicKey = new TextDecoder().decode(Codec.encode(kind, this.#rawPublicKey));
  }

  getPublicKey(): string {
    this.#live();
    return this.#publicKey;
  }

  getSeed(): Uint8Array {
    return this.#live().seed;
  }

  /** As nkeys encodes it: `P...` over tweetnacl's 64-byte secret key (seed, then public key). */
  getPrivateKey(): Uint8Array {
    const rawSeed = Codec.decodeSeed(this.#live().seed).buf;
    const secretKey = new Uint8Array(64);
    secretKey.set(rawSeed);
    secretKey.set(this.#rawPublicKey, 32);
    rawSeed.fill(0);
    return Codec.encode(Prefix.Private, secretKey);
  }

  sign(input: Uint8Array): Uint8Array {
    return new Uint8Array(sign(null, input, this.#live().privateKey));
  }

  verify(input: Uint8Array, sig: Uint8Array): boolean {
    this.#live();
    return verify(null, input, this.#publicKeyObject, sig);
  }

  /** Zeroes the encoded seed and drops the private key; every later call throws, as nkeys' does. */
  clear(): void {
    this.#seed?.fill(0);
    this.#seed = undefined;
    this.#privateKey = undefined;
  }

  seal(): Uint8Array {
    throw new NKeysError(NKeysErrorCode.InvalidNKeyOperation);
  }

  open(): Uint8Array | null {
    throw new NKeysError(NKeysErrorCode.InvalidNKeyOperation);
  }

  #live(): { seed: Uint8Array; privateKey: KeyObject } {
    if (!this.#seed || !this.#privateKey) throw new NKeysError(NKeysErrorCode.ClearedPair);
    return { seed: this.#seed, privateKey: this.#privateKey };
  }
}

/**
 * The key pair of an encoded seed (`SU...`, `SA...`, `SO...`; bytes or text). The public key is
 * derived here, once, which also checks the seed. Throws an NKeysError whose message and cause
 * hold nothing of the seed (the codec's own error would cite a character of it).
 */
export function nativeFromSeed(seed: Uint8Array | string): KeyPair {
  let decoded: { prefix: Prefix; buf: Uint8Array };
  try {
    decoded = Codec.decodeSeed(typeof seed === 'string' ? new TextEncoder().encode(seed) : seed);
  } catch {
    throw new NKeysError(NKeysErrorCode.InvalidSeed);
  }
  try {
    if (!SIGNING_KINDS.has(decoded.prefix)) throw new NKeysError(NKeysErrorCode.InvalidCurveOperation);
    if (decoded.buf.byteLength !== 32) throw new NKeysError(NKeysErrorCode.InvalidSeedLen);
    return new NativeKeyPair(decoded.prefix, decoded.buf);
  } finally {
    decoded.buf.fill(0);
  }
}

/** A new user key from 32 random bytes, as nkeys' createUser() makes one. */
export function createNativeUser(): KeyPair {
  const rawSeed = randomBytes(32);
  try {
    return new NativeKeyPair(Prefix.User, rawSeed);
  } finally {
    rawSeed.fill(0);
  }
}

/** Public keys kept for verifying: the servers' (callout requests) and the issuers' are few. */
const MAX_VERIFY_KEYS = 1024;
const verifyKeys = new Map<string, KeyObject>();

/**
 * Whether `signature` is `publicKey`'s Ed25519 signature of `data`; `publicKey` is an encoded
 * nkey (`O...`, `A...`, `U...`). Throws an NKeysError if it is not the public key of a signing nkey.
 * The key object of each public key is kept (a few, see MAX_VERIFY_KEYS): every callout login
 * verifies a request signed by one of the servers' keys, and making it again cost more than the
 * rest of decoding the request's JWT but the signature check.
 */
export function nativeVerify(publicKey: string, data: Uint8Array, signature: Uint8Array): boolean {
  let key = verifyKeys.get(publicKey);
  if (!key) {
    let raw: Uint8Array;
    try {
      raw = Codec._decode(new TextEncoder().encode(publicKey));
    } catch {
      throw new NKeysError(NKeysErrorCode.InvalidPublicKey);
    }
    if (raw.byteLength !== 33 || !SIGNING_KINDS.has(raw[0] ?? -1)) throw new NKeysError(NKeysErrorCode.InvalidPublicKey);
    key = createPublicKey({ key: Buffer.concat([SPKI_ED25519, raw.subarray(1)]), format: 'der', type: 'spki' });
    if (verifyKeys.size >= MAX_VERIFY_KEYS) verifyKeys.clear();
    verifyKeys.set(publicKey, key);
  }
  return verify(null, data, key, signature);
}
