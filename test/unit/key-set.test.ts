// KeySet against a fake JWKS endpoint and a clock the test moves: it fetches before the first
// token, again for a key id it does not know (at most once per cooldown), in the background once
// its keys are old, and keeps serving the keys it has while the provider is down.

import { jest } from '@jest/globals';
import { errors, exportJWK, generateKeyPair, type CryptoKey, type JSONWebKeySet, type JWK } from 'jose';
import { KeySet, type KeySetTiming } from '../../src/identity/key-set.ts';
import { FakeTime, settle } from './fake-time.ts';

const timing: KeySetTiming = { refreshMs: 600_000, cooldownMs: 10_000 };

// EC keys: quick to make, and KeySet does not care which kind the provider uses.
const publicJwk = async (kid: string): Promise<JWK> => {
  const { publicKey } = await generateKeyPair('ES256', { extractable: true });
  return { ...(await exportJWK(publicKey)), kid, alg: 'ES256', use: 'sig' };
};
const [k1, k2, k3] = await Promise.all(['k1', 'k2', 'k3'].map(publicJwk)) as [JWK, JWK, JWK];

/** A provider whose JWKS the test changes, takes down, and counts the fetches of. */
function provider(keys: JWK[]) {
  const state = { jwks: { keys } as JSONWebKeySet, down: undefined as string | undefined };
  const fetch = jest.fn(async () => {
    if (state.down) throw new Error(state.down);
    return structuredClone(state.jwks);
  });
  return { state, fetch };
}

const setup = (keys: JWK[] = [k1]) => {
  const time = new FakeTime(new Date('2026-12-01T10:00:00Z'));
  const idp = provider(keys);
  return { time, idp, keySet: new KeySet(idp.fetch, time.clock, timing) };
};

const header = (kid: string) => ({ alg: 'ES256', kid });
const token = { payload: '', signature: '' };
/** The x coordinate of the key getKey chose: which JWK it is. */
const chosen = async (keySet: KeySet, kid: string) => (await exportJWK((await keySet.getKey(header(kid), token)) as CryptoKey)).x;

test('the first getKey fetches the keys; later ones use them without fetching', async () => {
  const { time, idp, keySet } = setup([k1, k2]);
  expect(keySet.state()).toEqual({ keyIds: [], lastFetchTime: undefined, error: undefined });
  expect(await chosen(keySet, 'k2')).toBe(k2.x);
  expect(await chosen(keySet, 'k1')).toBe(k1.x);
  time.ms += 60_000;
  expect(await chosen(keySet, 'k1')).toBe(k1.x);
  expect(idp.fetch).toHaveBeenCalledTimes(1);
  expect(keySet.state()).toEqual({ keyIds: ['k1', 'k2'], lastFetchTime: new Date('2026-12-01T10:00:00Z'), error: undefined });
});

test('logins that arrive together before the first fetch share it', async () => {
  const { idp, keySet } = setup();
  const keys = await Promise.all([chosen(keySet, 'k1'), chosen(keySet, 'k1'), chosen(keySet, 'k1')]);
  expect(keys).toEqual([k1.x, k1.x, k1.x]);
  expect(idp.fetch).toHaveBeenCalledTimes(1);
});

test('an unknown kid fetches again once (a rotation); another unknown kid within the cooldown does not', async () => {
  const { time, idp, keySet } = setup();
  await keySet.getKey(header('k1'), token);
  time.ms += timing.cooldownMs;
  idp.state.jwks = { keys: [k1, k2] };
  expect(await chosen(keySet, 'k2')).toBe(k2.x);
  expect(idp.fetch).toHaveBeenCalledTimes(2);
  expect(keySet.state().keyIds).toEqual(['k1', 'k2']);

  // Made-up kids: refused without a fetch until the cooldown has passed.
  time.ms += timing.cooldownMs - 1;
  await expect(keySet.getKey(header('made-up'), token)).rejects.toBeInstanceOf(errors.JWKSNoMatchingKey);
  await expect(keySet.getKey(header('made-up-2'), token)).rejects.toBeInstanceOf(errors.JWKSNoMatchingKey);
  expect(idp.fetch).toHaveBeenCalledTimes(2);
  // Known keys are still served meanwhile.
  expect(await chosen(keySet, 'k1')).toBe(k1.x);

  time.ms += 1;
  idp.state.jwks = { keys: [k1, k2, k3] };
  expect(await chosen(keySet, 'k3')).toBe(k3.x);
  expect(idp.fetch).toHaveBeenCalledTimes(3);
});

test('an unknown kid right after the first fetch is refused without another', async () => {
  const { idp, keySet } = setup();
  await expect(keySet.getKey(header('k2'), token)).rejects.toBeInstanceOf(errors.JWKSNoMatchingKey);
  expect(idp.fetch).toHaveBeenCalledTimes(1);
});

test('keys older than refreshMs are refreshed in the background, the old ones served meanwhile', async () => {
  const { time, idp, keySet } = setup([k1, k2]);
  await keySet.getKey(header('k1'), token);
  idp.state.jwks = { keys: [k2, k3] };
  time.ms += timing.refreshMs - 1;
  await chosen(keySet, 'k1');
  await settle();
  expect(idp.fetch).toHaveBeenCalledTimes(1);

  time.ms += 1;
  // The login that finds the keys old is answered from them, not after a fetch.
  expect(await chosen(keySet, 'k1')).toBe(k1.x);
  expect(idp.fetch).toHaveBeenCalledTimes(2);
  await settle();
  expect(keySet.state()).toEqual({ keyIds: ['k2', 'k3'], lastFetchTime: new Date(time.ms), error: undefined });
  // k1 was dropped by the provider: refused now (and within the cooldown, without another fetch).
  await expect(keySet.getKey(header('k1'), token)).rejects.toBeInstanceOf(errors.JWKSNoMatchingKey);
  expect(idp.fetch).toHaveBeenCalledTimes(2);
});

test('a failing refresh keeps the old keys in use and records why', async () => {
  const { time, idp, keySet } = setup([k1, k2]);
  await keySet.getKey(header('k1'), token);
  const fetchedAt = keySet.state().lastFetchTime;
  idp.state.down = 'GET https://idp.example/keys: HTTP 503';
  time.ms += timing.refreshMs;
  expect(await chosen(keySet, 'k2')).toBe(k2.x);
  await settle();
  expect(idp.fetch).toHaveBeenCalledTimes(2);
  expect(keySet.state()).toEqual({ keyIds: ['k1', 'k2'], lastFetchTime: fetchedAt, error: 'GET https://idp.example/keys: HTTP 503' });
  expect(await chosen(keySet, 'k1')).toBe(k1.x);

  // A JWKS without a keys array is a failed fetch too, not an empty key set.
  idp.state.down = undefined;
  idp.state.jwks = { nope: true } as unknown as JSONWebKeySet;
  time.ms += timing.cooldownMs;
  await keySet.refresh();
  expect(keySet.state()).toMatchObject({ keyIds: ['k1', 'k2'], error: 'the JWKS has no keys array' });
  expect(await chosen(keySet, 'k1')).toBe(k1.x);

  // Once the provider answers again, the error clears.
  idp.state.jwks = { keys: [k1] };
  await keySet.refresh();
  expect(keySet.state()).toEqual({ keyIds: ['k1'], lastFetchTime: new Date(time.ms), error: undefined });
});

test('while the provider is down, logins with old keys fetch at most once per cooldown', async () => {
  const { time, idp, keySet } = setup();
  await keySet.getKey(header('k1'), token);
  idp.state.down = 'GET https://idp.example/keys: HTTP 503';
  time.ms += timing.refreshMs;
  for (let i = 0; i < 20; i++) {
    expect(await chosen(keySet, 'k1')).toBe(k1.x);
    await settle();
    time.ms += 100;
  }
  expect(idp.fetch).toHaveBeenCalledTimes(2);
  time.ms += timing.cooldownMs;
  await chosen(keySet, 'k1');
  await settle();
  expect(idp.fetch).toHaveBeenCalledTimes(3);
});

test('no keys at all: refused with the reason, and fetched again only after the cooldown', async () => {
  const { time, idp, keySet } = setup();
  idp.state.down = 'GET https://idp.example/keys: connect ECONNREFUSED';
  const refused = keySet.getKey(header('k1'), token);
  await expect(refused).rejects.toBeInstanceOf(errors.JWKSNoMatchingKey);
  await expect(refused).rejects.toThrow(/no keys: GET https:\/\/idp.example\/keys: connect ECONNREFUSED/);
  expect(keySet.state()).toEqual({ keyIds: [], lastFetchTime: undefined, error: 'GET https://idp.example/keys: connect ECONNREFUSED' });
  time.ms += timing.cooldownMs - 1;
  await expect(keySet.getKey(header('k1'), token)).rejects.toBeInstanceOf(errors.JWKSNoMatchingKey);
  expect(idp.fetch).toHaveBeenCalledTimes(1);

  idp.state.down = undefined;
  time.ms += 1;
  expect(await chosen(keySet, 'k1')).toBe(k1.x);
  expect(idp.fetch).toHaveBeenCalledTimes(2);
});

test('keyIds lists each key of the JWKS, one without a kid too', async () => {
  const { keySet } = setup([k1, { ...k2, kid: undefined } as JWK, k3]);
  await keySet.refresh();
  expect(keySet.state().keyIds).toEqual(['k1', '(no kid)', 'k3']);
});
