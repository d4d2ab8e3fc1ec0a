// The curve key (xkey) that auth callout requests are sealed to, and responses sealed back with.
// The wire format is nkeys' (`xkv1`, a 24-byte nonce, then a NaCl box), and so is the seed encoding
// (`SX...`, its Codec). nkeys' CurveKP runs the whole box, X25519 included, in pure JS on every
// call (milliseconds each); a server seals with one key for its lifetime, so this class keeps the
// precomputed shared key per server key and runs only the symmetric part of the box per message,
// with tweetnacl (the library nkeys itself uses), as NaCl's box.before/box.after are meant to be.

import { randomBytes } from 'node:crypto';
import { NKeysError, NKeysErrorCode, Prefix } from '@nats-io/nkeys';
import { Codec } from '@nats-io/nkeys/lib/codec.js';
import nacl from 'tweetnacl';

const VERSION = new TextEncoder().encode('xkv1');
const NONCE_BYTES = 24;
/** Shared keys kept: one per server key seen (servers keep theirs until they restart). */
const MAX_SHARED_KEYS = 1024;

export class XKey {
  readonly publicKey: string;
  readonly #secret: Uint8Array;
  readonly #shared = new Map<string, Uint8Array>();

  /** From an encoded curve seed (`SX...`). Throws an NKeysError that quotes nothing of it. */
  constructor(seed: string | Uint8Array) {
    let decoded: { prefix: Prefix; buf: Uint8Array };
    try {
      decoded = Codec.decodeSeed(typeof seed === 'string' ? new TextEncoder().encode(seed) : seed);
    } catch {
      throw new NKeysError(NKeysErrorCode.InvalidSeed);
    }
    if (decoded.prefix !== Prefix.Curve || decoded.buf.byteLength !== 32) throw new NKeysError(NKeysErrorCode.InvalidCurveKey);
    this.#secret = decoded.buf;
    this.publicKey = new TextDecoder().decode(Codec.encode(Prefix.Curve, nacl.scalarMult.base(this.#secret)));
  }

  /** The plaintext of `message` sealed by `sender` (an `X...` key) to this key; throws if it is not. */
  open(message: Uint8Array, sender: string): Uint8Array {
    if (message.byteLength <= VERSION.byteLength + NONCE_BYTES || !VERSION.every((byte, i) => message[i] === byte)) {
      throw new NKeysError(NKeysErrorCode.InvalidEncrypted);
    }
    const nonce = message.subarray(VERSION.byteLength, VERSION.byteLength + NONCE_BYTES);
    const opened = nacl.box.open.after(message.subarray(VERSION.byteLength + NONCE_BYTES), nonce, this.#sharedKey(sender));
    if (!opened) throw new NKeysError(NKeysErrorCode.InvalidEncrypted);
    return opened;
  }

  /** `message` sealed to `recipient` (an `X...` key) in nkeys' format. */
  seal(message: Uint8Array, recipient: string): Uint8Array {
    const nonce = randomBytes(NONCE_BYTES);
    const boxed = nacl.box.after(message, nonce, this.#sharedKey(recipient));
    const out = new Uint8Array(VERSION.byteLength + NONCE_BYTES + boxed.byteLength);
    out.set(VERSION);
    out.set(nonce, VERSION.byteLength);
    out.set(boxed, VERSION.byteLength + NONCE_BYTES);
    return out;
  }

  #sharedKey(peer: string): Uint8Array {
    let key = this.#shared.get(peer);
    if (!key) {
      let raw: Uint8Array;
      try {
        raw = Codec.decode(Prefix.Curve, new TextEncoder().encode(peer));
      } catch {
        throw new NKeysError(NKeysErrorCode.InvalidRecipient);
      }
      key = nacl.box.before(raw, this.#secret);
      if (this.#shared.size >= MAX_SHARED_KEYS) this.#shared.clear();
      this.#shared.set(peer, key);
    }
    return key;
  }
}
