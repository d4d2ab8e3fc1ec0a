// XKey speaks nkeys' sealed-box format: what nkeys' CurveKP seals to it opens, what it seals opens
// with CurveKP, and anything not sealed by the named sender to this key is refused, without the
// seed in the error.

import { createAccount, createCurve, createUser, NKeysError } from '@nats-io/nkeys';
import { XKey } from '../../src/nats/xkey.ts';

const bytes = (value: string) => new TextEncoder().encode(value);
const text = (value: Uint8Array) => new TextDecoder().decode(value);
const messages = ['', 'eyJ0eXAiOiJKV1QifQ.e30.sig', 'x'.repeat(5000)];

// Pure-JS curve pairs are slow to make: a few, shared.
const [serverKp, calloutKp, strangerKp] = [createCurve(), createCurve(), createCurve()];
const calloutSeed = text(calloutKp.getSeed());
const xkey = new XKey(calloutSeed);

const thrown = (action: () => unknown): Error => {
  try {
    action();
  } catch (error) {
    return error as Error;
  }
  throw new Error('did not throw');
};

test('the public key is the one nkeys derives from the seed, given as text or bytes', () => {
  expect(xkey.publicKey).toBe(calloutKp.getPublicKey());
  expect(xkey.publicKey).toMatch(/^X[A-Z2-7]{55}$/);
  expect(new XKey(calloutKp.getSeed()).publicKey).toBe(calloutKp.getPublicKey());
});

test.each(messages.map((m) => [m.length, m] as const))('opens what nkeys sealed to it (%i bytes)', (_length, message) => {
  const sealed = serverKp.seal(bytes(message), xkey.publicKey);
  expect(text(xkey.open(sealed, serverKp.getPublicKey()))).toBe(message);
  // The shared key is kept per sender: a second message from the same server opens too.
  expect(text(xkey.open(serverKp.seal(bytes(message), xkey.publicKey), serverKp.getPublicKey()))).toBe(message);
});

test.each(messages.map((m) => [m.length, m] as const))('seals what nkeys opens (%i bytes)', (_length, message) => {
  const sealed = xkey.seal(bytes(message), serverKp.getPublicKey());
  expect(text(sealed.subarray(0, 4))).toBe('xkv1');
  const opened = serverKp.open(sealed, xkey.publicKey);
  expect(opened).not.toBeNull();
  expect(text(opened as Uint8Array)).toBe(message);
});

test('every seal has a fresh nonce', () => {
  const [a, b] = [xkey.seal(bytes('same'), serverKp.getPublicKey()), xkey.seal(bytes('same'), serverKp.getPublicKey())];
  expect(a.subarray(4, 28)).not.toEqual(b.subarray(4, 28));
  expect(a).not.toEqual(b);
});

test('a message sealed by another key than the named sender does not open', () => {
  const sealed = strangerKp.seal(bytes('hello'), xkey.publicKey);
  expect(() => xkey.open(sealed, serverKp.getPublicKey())).toThrow(NKeysError);
  // ...and one sealed to another recipient does not open either.
  const toOther = serverKp.seal(bytes('hello'), strangerKp.getPublicKey());
  expect(() => xkey.open(toOther, serverKp.getPublicKey())).toThrow(NKeysError);
});

test('a tampered byte anywhere after the version makes the message refused', () => {
  const sealed = serverKp.seal(bytes('a sealed request'), xkey.publicKey);
  for (const at of [4, 27, 28, sealed.length - 1]) {
    const tampered = Uint8Array.from(sealed);
    tampered[at] = (tampered[at] ?? 0) ^ 0x01;
    expect(() => xkey.open(tampered, serverKp.getPublicKey())).toThrow(NKeysError);
  }
  expect(() => xkey.open(sealed.subarray(0, sealed.length - 1), serverKp.getPublicKey())).toThrow(NKeysError);
});

test('a message without the xkv1 prefix, or too short to hold a box, is refused', () => {
  const sealed = serverKp.seal(bytes('hello'), xkey.publicKey);
  const renamed = Uint8Array.from(sealed);
  renamed.set(bytes('xkv2'));
  expect(() => xkey.open(renamed, serverKp.getPublicKey())).toThrow(NKeysError);
  expect(() => xkey.open(sealed.subarray(4), serverKp.getPublicKey())).toThrow(NKeysError);
  expect(() => xkey.open(bytes('eyJ0eXAiOiJKV1QifQ.e30.sig'), serverKp.getPublicKey())).toThrow(NKeysError);
  expect(() => xkey.open(sealed.subarray(0, 28), serverKp.getPublicKey())).toThrow(NKeysError);
});

test('a peer that is not a curve public key is refused', () => {
  const sealed = serverKp.seal(bytes('hello'), xkey.publicKey);
  expect(() => xkey.open(sealed, createUser().getPublicKey())).toThrow(NKeysError);
  expect(() => xkey.open(sealed, 'X-not-a-key')).toThrow(NKeysError);
  expect(() => xkey.seal(bytes('hello'), createAccount().getPublicKey())).toThrow(NKeysError);
});

test('seeds that are not curve seeds are refused, and no error quotes the seed', () => {
  const userSeed = text(createUser().getSeed());
  const corrupt = `${calloutSeed.slice(0, 10)}${calloutSeed[10] === 'A' ? 'B' : 'A'}${calloutSeed.slice(11)}`;
  for (const seed of [userSeed, text(createAccount().getSeed()), calloutKp.getPublicKey(), corrupt, '', 'SX']) {
    const error = thrown(() => new XKey(seed));
    expect(error).toBeInstanceOf(NKeysError);
    const secret = seed.slice(2);
    if (secret) expect(`${error.message} ${error.stack} ${JSON.stringify(error)}`).not.toContain(secret);
  }
});

test('errors of open and seal do not quote the seed either', () => {
  const errors = [
    thrown(() => xkey.open(bytes('xkv1'.padEnd(60, '0')), serverKp.getPublicKey())),
    thrown(() => xkey.open(serverKp.seal(bytes('x'), xkey.publicKey), 'nope')),
    thrown(() => xkey.seal(bytes('x'), 'nope')),
  ];
  for (const error of errors) {
    expect(`${error.message} ${error.stack} ${JSON.stringify(error)}`).not.toContain(calloutSeed.slice(2));
  }
  // The instance shows nothing of its secret either (it is a private field).
  expect(JSON.stringify(xkey)).not.toContain(calloutSeed.slice(2));
});
