// The revoker's logic against an in-memory stand-in for the NATS servers and the ConfigMap store:
// coalescing, failure reporting, pruning and repair of a server's stale copy, time read from the
// injected clock only, and Revocations' queries that start nothing. The e2e suites show the same
// against real nats-server processes and a real API server. Every test runs on a fake clock and
// timers (FakeTime): linger, backoff, the wait for the next whole second and the prune time take no
// real time.

import { Algorithms, encodeAccount } from '@nats-io/jwt';
import { createAccount, createOperator } from '@nats-io/nkeys';
import { pino } from 'pino';
import type { ClusterNatsIssuer } from '../../src/api/cluster-nats-issuer.ts';
import { notOk, ok } from '../../src/api/failure.ts';
import { accountJwtSizer, readAccountJwt } from '../../src/nats/account-jwt.ts';
import type { IssuerKeys } from '../../src/issuer/issuer-keys.ts';
import type { NatsSystemClient, PushReply } from '../../src/nats/system-client.ts';
import { AccountRevoker, type RevokeState } from '../../src/revocation/account-revoker.ts';
import type { RevocationEntry, RevocationStore } from '../../src/revocation/revocation-store.ts';
import { Revocations } from '../../src/revocation/revocations.ts';
import { MemoryLister } from './fake-kube.ts';
import { FakeTime } from './fake-time.ts';

const operatorSigner = createOperator();
const account = createAccount().getPublicKey();
/** The account JWT the servers start with (signed once: pure-JS ed25519 is slow under jest). */
const base = await encodeAccount('WS', account, {}, { algorithm: Algorithms.v2, signer: operatorSigner });
/**
 * Where a fake clock starts: in the second `base` was issued (its iat is real time), as when each
 * test signed its own, so that the first push waits for the next second with the cycle in flight.
 */
const fakeStart = () => new Date(readAccountJwt(base).issuedAt * 1000 + 250);

/** Servers holding a copy each of the account JWT; `down` makes every request fail. */
class FakeServers {
  copies: string[];
  /** The JWT each server has in force; a server that distrusts the signer stores but keeps the old. */
  inForce: string[];
  pushes: string[] = [];
  down = false;
  distrustSigner = false;
  /** The server's max_payload: the client refuses to publish more, as nats.js does. */
  maxPayload = 1024 * 1024;

  constructor(jwt: string, count: number) {
    this.copies = Array.from({ length: count }, () => jwt);
    this.inForce = [...this.copies];
  }

  client(): NatsSystemClient {
    const fail = () => {
      if (this.down) throw new Error('no servers available for connection');
    };
    return {
      isClosed: false,
      maxPayload: this.maxPayload,
      servers: async () => (fail(), this.copies.map((_, i) => ({ id: `S${i}`, name: `nats-${i}` }))),
      lookupAccount: async () => (fail(), [...this.copies]),
      accountInForce: async () => (fail(), this.inForce.map((jwt, i) => ({ server: { id: `S${i}`, name: `nats-${i}` }, jwt }))),
      pushAccount: async (jwt: string): Promise<PushReply[]> => {
        fail();
        if (jwt.length > this.maxPayload) throw new Error("'payload' max_payload size exceeded");
        this.pushes.push(jwt);
        this.copies = this.copies.map(() => jwt);
        if (!this.distrustSigner) this.inForce = this.inForce.map(() => jwt);
        return this.copies.map((_, i) => ({ server: { id: `S${i}`, name: `nats-${i}` }, ok: true, message: 'jwt updated' }));
      },
      close: async () => undefined,
    } as unknown as NatsSystemClient;
  }

  revocations(i = 0) {
    return readAccountJwt(this.copies[i] ?? '').revocations;
  }
}

class FakeStore {
  saved = new Map<string, RevocationEntry>();
  saves = 0;
  loads = 0;
  async load() {
    this.loads++;
    return new Map(this.saved);
  }
  async save(_account: string, entries: ReadonlyMap<string, RevocationEntry>) {
    this.saves++;
    this.saved = new Map(entries);
  }
}

const settings = () => ({ servers: ['nats://x'], creds: new Uint8Array(), connectionVersion: 'v1', operatorSigner });
const timing = (pruneGraceMs = 60_000) => ({ lingerMs: 20, verifyPeriodMs: 60_000, pruneGraceMs, maxBackoffMs: 100 });

function setup(options: { servers?: number; pruneGraceMs?: number; time?: FakeTime } = {}) {
  const time = options.time ?? new FakeTime(fakeStart());
  const servers = new FakeServers(base, options.servers ?? 3);
  const store = new FakeStore();
  const settled: string[] = [];
  const revoker = new AccountRevoker({
    account,
    store: store as unknown as RevocationStore,
    settings,
    connect: async () => servers.client(),
    onSettled: (keys) => settled.push(...keys),
    onObserved: () => undefined,
    log: pino({ level: 'silent' }),
    timing: timing(options.pruneGraceMs),
    clock: time.clock,
    timers: time.timers,
  });
  return { time, user: userAt(time), servers, store, settled, revoker };
}

/** A user whose JWT expires `inMs` after the fake clock's now. */
const userAt =
  (time: FakeTime) =>
  (key: string, inMs = 60_000) => ({ userPublicKey: key, expiresAt: new Date(time.ms + inMs) });
const revoked = (state: RevokeState) => state.ok && state.value === 'revoked';
/**
 * Moves the fake clock on until `check` holds; fails when it does not within 10 s of it. Nothing
 * changes between two timers (the fakes answer without I/O, and advance lets what a timer starts
 * run to its end), so `check` is tried after each timer: it may be costly (a JWT's signature is
 * checked in pure JS).
 */
const until = async (time: FakeTime, check: () => boolean, what: string) => {
  const deadline = time.ms + 10_000;
  await time.advance(0);
  while (!check()) {
    const next = time.dues()[0];
    if (next === undefined || next > deadline) throw new Error(`timed out waiting for ${what}`);
    await time.advance(next - time.ms);
  }
};
/** Awaits `promise` (one that waits on the fake timers), moving the fake clock on meanwhile. */
const driven = async <T>(time: FakeTime, promise: Promise<T>, what: string): Promise<T> => {
  let done = false;
  const tracked = promise.finally(() => (done = true));
  tracked.catch(() => undefined);
  await until(time, () => done, what);
  return tracked;
};

describe('AccountRevoker', () => {
  test('requests that arrive together share one push, stored before it, and are settled after', async () => {
    const { time, user, servers, store, settled, revoker } = setup();
    const keys = Array.from({ length: 50 }, (_, i) => `U${i}`);
    const states: RevokeState[] = keys.map((key) => {
      revoker.request(`ns/${key}`, [user(key)]);
      return revoker.state([user(key)]);
    });
    expect(states).toEqual(keys.map(() => ok('pending')));
    await until(time, () => settled.length === 50, 'all accesses settled');
    expect(servers.pushes).toHaveLength(1);
    expect(Object.keys(servers.revocations(2)).sort()).toEqual([...keys].sort());
    expect([...store.saved.keys()].sort()).toEqual([...keys].sort());
    expect(revoker.state([user('U1')])).toEqual(ok('revoked'));
    expect(revoker.summary()).toMatchObject({ active: 50, pushes: 1, lastPushResult: 'Succeeded' });
    await driven(time, revoker.stop(), 'the revoker to stop');
  });

  test('users whose JWTs expired need no revocation', async () => {
    const { time, user, servers, revoker } = setup();
    revoker.request('ns/old', [user('UOLD', -1000)]);
    expect(revoker.state([user('UOLD', -1000)])).toEqual(ok('revoked'));
    await driven(time, revoker.stop(), 'the revoker to stop');
    expect(servers.pushes).toHaveLength(0);
  });

  test('a failed cycle reports failed for the users it carried, and the retry revokes them', async () => {
    const { time, user, servers, settled, revoker } = setup();
    servers.down = true;
    revoker.request('ns/a', [user('UA')]);
    await until(time, () => settled.includes('ns/a'), 'the failure to be reported');
    expect(revoker.state([user('UA')])).toEqual(notOk('no servers available for connection'));
    expect(revoker.summary()).toMatchObject({ lastPushResult: 'Failed', lastPushMessage: 'no servers available for connection' });
    servers.down = false;
    await until(time, () => revoked(revoker.state([user('UA')])), 'the retry');
    expect(servers.revocations()).toHaveProperty('UA');
    await driven(time, revoker.stop(), 'the revoker to stop');
  });

  test('entries are pruned from the JWT, then from the store, once their users expired', async () => {
    const { time, user, servers, store, revoker } = setup({ pruneGraceMs: 0 });
    revoker.request('ns/short', [user('USHORT', 1500)]);
    revoker.request('ns/long', [user('ULONG')]);
    await until(time, () => Object.keys(servers.revocations()).length === 2, 'both revoked');
    await until(time, () => !('USHORT' in servers.revocations()) && !store.saved.has('USHORT'), 'the expired entry pruned');
    expect(servers.revocations()).toHaveProperty('ULONG');
    expect(store.saved.has('ULONG')).toBe(true);
    expect(revoker.summary().active).toBe(1);
    await driven(time, revoker.stop(), 'the revoker to stop');
  });

  test('a server holding a stale copy gets the current JWT again; servers in sync get no push', async () => {
    const { time, user, servers, revoker } = setup();
    const old = servers.copies[0] ?? '';
    revoker.request('ns/a', [user('UA')]);
    await until(time, () => servers.pushes.length === 1, 'the first push');
    // A server restarted with its old (preloaded) copy; a new server makes the revoker look.
    servers.copies[1] = old;
    servers.inForce[1] = old;
    const cycle = () => (revoker as unknown as { cycle(): Promise<void> }).cycle();
    await driven(time, cycle(), 'the repairing cycle');
    expect(servers.pushes).toHaveLength(2);
    expect(servers.revocations(1)).toHaveProperty('UA');
    await driven(time, cycle(), 'the cycle in sync');
    expect(servers.pushes).toHaveLength(2);
    await driven(time, revoker.stop(), 'the revoker to stop');
  });

  test('entries stored by an earlier process are pushed by a new one', async () => {
    const first = setup();
    const { time } = first;
    first.revoker.request('ns/a', [first.user('UA')]);
    await until(time, () => first.servers.pushes.length === 1, 'the push');
    await driven(time, first.revoker.stop(), 'the first revoker to stop');

    // The next process, on the same clock.
    const second = setup({ time });
    second.store.saved = first.store.saved;
    second.revoker.start();
    await until(time, () => second.servers.pushes.length === 1, 'the push of the stored entry');
    expect(second.servers.revocations()).toHaveProperty('UA');
    await driven(time, second.revoker.stop(), 'the second revoker to stop');
  });

  test('users the full JWT has no room for wait, said why, while the others settle; they go in once room is pruned', async () => {
    const { time, user, servers, store, settled, revoker } = setup({ pruneGraceMs: 0 });
    // Room for two revocations (the keys here are equally long, and so are the times).
    const seconds = Math.floor(time.ms / 1000);
    servers.maxPayload = accountJwtSizer(base)({ UA: seconds, UB: seconds });
    revoker.request('ns/a', [user('UA', 5_000)]);
    await until(time, () => settled.includes('ns/a'), 'the first revocation');

    // UA is in force, and stays; of the newcomers, UB stays valid longer than UC.
    revoker.request('ns/b', [user('UB', 120_000)]);
    revoker.request('ns/c', [user('UC', 60_000)]);
    await until(time, () => settled.includes('ns/b') && settled.includes('ns/c'), 'the second cycle');
    expect(Object.keys(servers.revocations()).sort()).toEqual(['UA', 'UB']);
    expect(revoker.state([user('UB', 120_000)])).toEqual(ok('revoked'));
    expect(revoker.state([user('UC', 60_000)])).toEqual(
      notOk(
        `the JWT of account ${account} is full: with these revocations it would exceed ${servers.maxPayload} bytes, ` +
          "the max_payload of the NATS server; they wait for earlier revocations to expire, or for these users' credentials to",
      ),
    );
    expect(revoker.summary().lastPushMessage).toMatch(/^3 of 3 NATS servers stored the account JWT \(2 revocations, \d+ bytes\); 1 more wait, as it is full$/);
    // Kept in the cluster meanwhile: a restart knows it still waits.
    expect(store.saved.has('UC')).toBe(true);

    // Another cycle with nothing new tells ns/c nothing new.
    const cycle = () => (revoker as unknown as { cycle(): Promise<void> }).cycle();
    await driven(time, cycle(), 'a cycle with nothing new');
    expect(settled.filter((key) => key === 'ns/c')).toHaveLength(1);

    // UA expires and is pruned: UC goes in.
    await until(time, () => revoked(revoker.state([user('UC', 60_000)])), 'UC revoked once UA made room');
    expect(Object.keys(servers.revocations()).sort()).toEqual(['UB', 'UC']);
    expect(settled.filter((key) => key === 'ns/c')).toHaveLength(2);
    await driven(time, revoker.stop(), 'the revoker to stop');
  });

  test('a push the servers store but do not put in force (an untrusted signer) is a failure', async () => {
    const { time, user, servers, settled, revoker } = setup();
    servers.distrustSigner = true;
    revoker.request('ns/a', [user('UA')]);
    await until(time, () => settled.includes('ns/a'), 'the failure to be reported');
    expect(revoker.state([user('UA')])).toEqual(
      notOk(
        `nats-0, nats-1, nats-2 stored the account JWT but kept the previous one in force: is the operator signing key ${operatorSigner.getPublicKey()} listed in the operator JWT?`,
      ),
    );
    await driven(time, revoker.stop(), 'the revoker to stop');
  });

  test('time comes from the injected clock: revocation and push times, one push per whole second', async () => {
    // Years after the servers' JWT was issued: a clock that cannot be the machine's own.
    const time = new FakeTime(new Date(fakeStart().getTime() + 5 * 365 * 86_400_000));
    const { servers, store, settled, revoker } = setup({ time });
    const seconds = (ms: number) => Math.floor(ms / 1000);
    const fakeUser = (key: string) => ({ userPublicKey: key, expiresAt: new Date(time.ms + 3_600_000) });
    revoker.request('ns/a', [fakeUser('UA')]);
    await time.advance(20);
    expect(settled).toEqual(['ns/a']);
    expect(readAccountJwt(servers.pushes[0] ?? '').issuedAt).toBe(seconds(time.ms));
    expect(store.saved.get('UA')).toEqual({ revokedAt: seconds(time.ms), expiresAt: seconds(time.ms) + 3600, access: 'ns/a' });
    expect(revoker.summary().lastPushTime).toEqual(time.clock());

    // The next push waits for the next whole second; what arrives meanwhile joins it.
    revoker.request('ns/b', [fakeUser('UB')]);
    await time.advance(20);
    revoker.request('ns/c', [fakeUser('UC')]);
    await time.advance(600);
    expect(servers.pushes).toHaveLength(1);
    await time.advance(110);
    expect(servers.pushes).toHaveLength(2);
    expect(readAccountJwt(servers.pushes[1] ?? '').issuedAt).toBe(seconds(time.ms));
    expect(Object.keys(servers.revocations()).sort()).toEqual(['UA', 'UB', 'UC']);
    expect(settled).toEqual(['ns/a', 'ns/b', 'ns/c']);
    // ns/c arrived while a cycle ran: one more runs (in the next second), finds all in sync.
    const stopping = revoker.stop();
    await time.advance(1000);
    await stopping;
    expect(servers.pushes).toHaveLength(2);
  });
});

describe('Revocations', () => {
  function setupRevocations() {
    const time = new FakeTime(fakeStart());
    const servers = new FakeServers(base, 1);
    const store = new FakeStore();
    let connects = 0;
    const issuer = { metadata: { name: 'ws' }, spec: { account: { publicKey: account } } } as ClusterNatsIssuer;
    const revocations = new Revocations({
      store: store as unknown as RevocationStore,
      issuers: new MemoryLister([issuer]),
      keys: { natsSettings: settings } as unknown as IssuerKeys,
      onSettled: () => undefined,
      onObserved: () => undefined,
      log: pino({ level: 'silent' }),
      timing: timing(),
      connect: async () => {
        connects++;
        return servers.client();
      },
      clock: time.clock,
      timers: time.timers,
    });
    return { time, user: userAt(time), revocations, store, servers, connects: () => connects };
  }

  test('state, observe and summary only read: they start no revoker', async () => {
    const { time, user, revocations, store, connects } = setupRevocations();
    expect(revocations.observe(account)).toBeUndefined();
    expect(revocations.summary(account)).toEqual({ active: 0, pushes: 0 });
    expect(revocations.state(account, [user('UA')])).toEqual(ok('pending'));
    expect(revocations.state(account, [user('UOLD', -1000)])).toEqual(ok('revoked'));
    // Whatever they might have started would have run by now.
    await time.advance(1000);
    expect(connects()).toBe(0);
    expect(store.loads).toBe(0);
    await driven(time, revocations.stop(), 'the revocations to stop');
  });

  test('watch starts checking the account; request revokes in it', async () => {
    const { time, user, revocations, servers, connects } = setupRevocations();
    revocations.watch(account);
    await until(time, () => revocations.observe(account)?.ok === true, 'the first observation');
    expect(connects()).toBe(1);
    expect(servers.pushes).toHaveLength(0);
    revocations.watch(account);
    revocations.request(account, 'ns/a', [user('UA')]);
    await until(time, () => revoked(revocations.state(account, [user('UA')])), 'the revocation');
    expect(revocations.summary(account)).toMatchObject({ active: 1, pushes: 1 });
    expect(connects()).toBe(1);
    await driven(time, revocations.stop(), 'the revocations to stop');
  });
});
