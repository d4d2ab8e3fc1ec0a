// The revoker's logic against an in-memory stand-in for the NATS servers and the ConfigMap store:
// coalescing, failure reporting, pruning and repair of a server's stale copy, time read from the
// injected clock only, and Revocations' queries that start nothing. The e2e suites show the same
// against real nats-server processes and a real API server.

import { Algorithms, encodeAccount } from '@nats-io/jwt';
import { createAccount, createOperator } from '@nats-io/nkeys';
import { pino } from 'pino';
import type { ClusterNatsIssuer } from '../../src/api/cluster-nats-issuer.ts';
import { systemClock, type Clock } from '../../src/api/clock.ts';
import { notOk, ok } from '../../src/api/failure.ts';
import { readAccountJwt } from '../../src/nats/account-jwt.ts';
import type { IssuerKeys } from '../../src/issuer/issuer-keys.ts';
import type { NatsSystemClient, PushReply } from '../../src/nats/system-client.ts';
import { AccountRevoker, type RevokeState } from '../../src/revocation/account-revoker.ts';
import type { Timers } from '../../src/revocation/cycle-scheduler.ts';
import type { RevocationEntry, RevocationStore } from '../../src/revocation/revocation-store.ts';
import { Revocations } from '../../src/revocation/revocations.ts';
import { MemoryLister } from './fake-kube.ts';
import { FakeTime, settle } from './fake-time.ts';

const operatorSigner = createOperator();
const account = createAccount().getPublicKey();

/** Servers holding a copy each of the account JWT; `down` makes every request fail. */
class FakeServers {
  copies: string[];
  /** The JWT each server has in force; a server that distrusts the signer stores but keeps the old. */
  inForce: string[];
  pushes: string[] = [];
  down = false;
  distrustSigner = false;

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
      servers: async () => (fail(), this.copies.map((_, i) => ({ id: `S${i}`, name: `nats-${i}` }))),
      lookupAccount: async () => (fail(), [...this.copies]),
      accountInForce: async () => (fail(), this.inForce.map((jwt, i) => ({ server: { id: `S${i}`, name: `nats-${i}` }, jwt }))),
      pushAccount: async (jwt: string): Promise<PushReply[]> => {
        fail();
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

async function setup(options: { servers?: number; pruneGraceMs?: number; clock?: Clock; timers?: Timers } = {}) {
  const base = await encodeAccount('WS', account, {}, { algorithm: Algorithms.v2, signer: operatorSigner });
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
    clock: options.clock ?? systemClock,
    timers: options.timers,
  });
  return { servers, store, settled, revoker };
}

const user = (key: string, inMs = 60_000) => ({ userPublicKey: key, expiresAt: new Date(Date.now() + inMs) });
const revoked = (state: RevokeState) => state.ok && state.value === 'revoked';
const until = async (check: () => boolean, what: string) => {
  const deadline = Date.now() + 10_000;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
};

describe('AccountRevoker', () => {
  test('requests that arrive together share one push, stored before it, and are settled after', async () => {
    const { servers, store, settled, revoker } = await setup();
    const keys = Array.from({ length: 50 }, (_, i) => `U${i}`);
    const states: RevokeState[] = keys.map((key) => {
      revoker.request(`ns/${key}`, [user(key)]);
      return revoker.state([user(key)]);
    });
    expect(states).toEqual(keys.map(() => ok('pending')));
    await until(() => settled.length === 50, 'all accesses settled');
    expect(servers.pushes).toHaveLength(1);
    expect(Object.keys(servers.revocations(2)).sort()).toEqual([...keys].sort());
    expect([...store.saved.keys()].sort()).toEqual([...keys].sort());
    expect(revoker.state([user('U1')])).toEqual(ok('revoked'));
    expect(revoker.summary()).toMatchObject({ active: 50, pushes: 1, lastPushResult: 'Succeeded' });
    await revoker.stop();
  });

  test('users whose JWTs expired need no revocation', async () => {
    const { servers, revoker } = await setup();
    revoker.request('ns/old', [user('UOLD', -1000)]);
    expect(revoker.state([user('UOLD', -1000)])).toEqual(ok('revoked'));
    await revoker.stop();
    expect(servers.pushes).toHaveLength(0);
  });

  test('a failed cycle reports failed for the users it carried, and the retry revokes them', async () => {
    const { servers, settled, revoker } = await setup();
    servers.down = true;
    revoker.request('ns/a', [user('UA')]);
    await until(() => settled.includes('ns/a'), 'the failure to be reported');
    expect(revoker.state([user('UA')])).toEqual(notOk('no servers available for connection'));
    expect(revoker.summary()).toMatchObject({ lastPushResult: 'Failed', lastPushMessage: 'no servers available for connection' });
    servers.down = false;
    await until(() => revoked(revoker.state([user('UA')])), 'the retry');
    expect(servers.revocations()).toHaveProperty('UA');
    await revoker.stop();
  });

  test('entries are pruned from the JWT, then from the store, once their users expired', async () => {
    const { servers, store, revoker } = await setup({ pruneGraceMs: 0 });
    revoker.request('ns/short', [user('USHORT', 1500)]);
    revoker.request('ns/long', [user('ULONG')]);
    await until(() => Object.keys(servers.revocations()).length === 2, 'both revoked');
    await until(() => !('USHORT' in servers.revocations()) && !store.saved.has('USHORT'), 'the expired entry pruned');
    expect(servers.revocations()).toHaveProperty('ULONG');
    expect(store.saved.has('ULONG')).toBe(true);
    expect(revoker.summary().active).toBe(1);
    await revoker.stop();
  });

  test('a server holding a stale copy gets the current JWT again; servers in sync get no push', async () => {
    const { servers, revoker } = await setup();
    const old = servers.copies[0] ?? '';
    revoker.request('ns/a', [user('UA')]);
    await until(() => servers.pushes.length === 1, 'the first push');
    // A server restarted with its old (preloaded) copy; a new server makes the revoker look.
    servers.copies[1] = old;
    servers.inForce[1] = old;
    await (revoker as unknown as { cycle(): Promise<void> }).cycle();
    expect(servers.pushes).toHaveLength(2);
    expect(servers.revocations(1)).toHaveProperty('UA');
    await (revoker as unknown as { cycle(): Promise<void> }).cycle();
    expect(servers.pushes).toHaveLength(2);
    await revoker.stop();
  });

  test('entries stored by an earlier process are pushed by a new one', async () => {
    const first = await setup();
    first.revoker.request('ns/a', [user('UA')]);
    await until(() => first.servers.pushes.length === 1, 'the push');
    await first.revoker.stop();

    const second = await setup();
    second.store.saved = first.store.saved;
    second.revoker.start();
    await until(() => second.servers.pushes.length === 1, 'the push of the stored entry');
    expect(second.servers.revocations()).toHaveProperty('UA');
    await second.revoker.stop();
  });

  test('a push the servers store but do not put in force (an untrusted signer) is a failure', async () => {
    const { servers, settled, revoker } = await setup();
    servers.distrustSigner = true;
    revoker.request('ns/a', [user('UA')]);
    await until(() => settled.includes('ns/a'), 'the failure to be reported');
    expect(revoker.state([user('UA')])).toEqual(
      notOk(
        `nats-0, nats-1, nats-2 stored the account JWT but kept the previous one in force: is the operator signing key ${operatorSigner.getPublicKey()} listed in the operator JWT?`,
      ),
    );
    await revoker.stop();
  });

  test('time comes from the injected clock: revocation and push times, one push per whole second', async () => {
    const time = new FakeTime(new Date('2031-01-01T00:00:00.250Z'));
    const { servers, store, settled, revoker } = await setup({ clock: time.clock, timers: time.timers });
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
  async function setupRevocations() {
    const base = await encodeAccount('WS', account, {}, { algorithm: Algorithms.v2, signer: operatorSigner });
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
    });
    return { revocations, store, servers, connects: () => connects };
  }

  test('state, observe and summary only read: they start no revoker', async () => {
    const { revocations, store, connects } = await setupRevocations();
    expect(revocations.observe(account)).toBeUndefined();
    expect(revocations.summary(account)).toEqual({ active: 0, pushes: 0 });
    expect(revocations.state(account, [user('UA')])).toEqual(ok('pending'));
    expect(revocations.state(account, [user('UOLD', -1000)])).toEqual(ok('revoked'));
    await settle();
    expect(connects()).toBe(0);
    expect(store.loads).toBe(0);
    await revocations.stop();
  });

  test('watch starts checking the account; request revokes in it', async () => {
    const { revocations, servers, connects } = await setupRevocations();
    revocations.watch(account);
    await until(() => revocations.observe(account)?.ok === true, 'the first observation');
    expect(connects()).toBe(1);
    expect(servers.pushes).toHaveLength(0);
    revocations.watch(account);
    revocations.request(account, 'ns/a', [user('UA')]);
    await until(() => revoked(revocations.state(account, [user('UA')])), 'the revocation');
    expect(revocations.summary(account)).toMatchObject({ active: 1, pushes: 1 });
    expect(connects()).toBe(1);
    await revocations.stop();
  });
});
