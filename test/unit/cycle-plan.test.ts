// What a revocation cycle decides from what it read, one row per state of the cluster: in sync,
// a copy missing, stale or not in force, entries to add or to prune, and the cases where no push
// can be planned at all.

import { Algorithms, encodeAccount } from '@nats-io/jwt';
import { createAccount, createOperator } from '@nats-io/nkeys';
import { accountJwtSizer, MAX_JWT_BYTES, withRevocations, type Revocations } from '../../src/nats/account-jwt.ts';
import type { PushReply } from '../../src/nats/system-client.ts';
import { nextCheckInMs, planCycle, pushStored, type CycleInput } from '../../src/revocation/cycle-plan.ts';
import type { RevocationEntry } from '../../src/revocation/revocation-store.ts';

const operatorSigner = createOperator();
const account = createAccount().getPublicKey();
const NOW = new Date('2030-06-01T12:00:00.500Z');
const nowSeconds = Math.floor(NOW.getTime() / 1000);
const GRACE_MS = 10_000;

const template = await encodeAccount('WS', account, {}, { algorithm: Algorithms.v2, signer: operatorSigner });
/** The account JWT with `revocations`, issued `ago` seconds before NOW. */
const jwt = (revocations: Revocations, ago = 60) => withRevocations(template, revocations, operatorSigner, new Date((nowSeconds - ago) * 1000));
const otherAccount = await encodeAccount('X', createAccount(), {}, { algorithm: Algorithms.v2, signer: operatorSigner });

const servers = [0, 1, 2].map((i) => ({ id: `S${i}`, name: `nats-${i}` }));
/** An entry revoked at `revokedAt`, whose user's JWT expires `expiresIn` seconds after NOW. */
const entry = (revokedAt: number, expiresIn = 3600): RevocationEntry => ({ revokedAt, expiresAt: nowSeconds + expiresIn, access: 'ns/a' });

/** Every server holds `copy` and has it in force, unless a row says otherwise. */
function input(copy: string, overrides: Partial<CycleInput> = {}): CycleInput {
  return {
    account,
    servers,
    copies: servers.map(() => copy),
    inForce: servers.map((server) => ({ server, jwt: copy })),
    entries: new Map(),
    confirmed: new Set(),
    now: NOW,
    pruneGraceMs: GRACE_MS,
    maxPayload: 1024 * 1024,
    ...overrides,
  };
}

const inSync = jwt({ UA: 100 });
const UA = new Map([['UA', entry(100)]]);

describe('planCycle', () => {
  describe('finds servers that lost revocations they had confirmed (drift)', () => {
    const held = jwt({ UA: 100, UB: 200 });
    const entries = new Map([...UA, ['UB', entry(200)]]);
    const confirmed = new Set(['UA', 'UB']);
    const inForceAt = (index: number, other: string) => servers.map((server, i) => ({ server, jwt: i === index ? other : held }));
    test.each<[string, Partial<CycleInput>, { servers: number; named: string[]; missing: number } | undefined]>([
      ['every server holds what it confirmed', {}, undefined],
      ['nothing confirmed yet (an operator just started)', { confirmed: new Set(), copies: [held, jwt({}, 120), held] }, undefined],
      ['a server with no copy, or no answer, holds nothing that lacks them', { copies: [held, ''] }, undefined],
      ["another account's JWT is no copy of this one", { copies: [held, otherAccount, held] }, undefined],
      ['a stored copy without one: a server, unnamed (lookups do not say whose)', { copies: [held, jwt({ UA: 100 }, 120), held] }, { servers: 1, named: [], missing: 1 }],
      ['an older JWT in force names its server', { inForce: inForceAt(2, jwt({}, 120)) }, { servers: 1, named: ['nats-2'], missing: 2 }],
      ['a server counts once, though its copy and the JWT in force both lack them', { copies: [held, held, jwt({}, 120)], inForce: inForceAt(2, jwt({}, 120)) }, { servers: 1, named: ['nats-2'], missing: 2 }],
    ])('%s', (_name, row, drift) => {
      const plan = planCycle(input(held, { entries, confirmed, ...row }));
      if (!plan.ok) throw new Error(plan.message);
      expect(plan.value.drift && { ...plan.value.drift, named: plan.value.drift.named.map((server) => server.name) }).toEqual(drift);
      // Drift is repaired by the same cycle's push.
      if (drift) expect(plan.value.push?.revocations).toEqual({ UA: 100, UB: 200 });
    });
  });

  test.each<[string, CycleInput, Revocations | undefined]>([
    ['every server holds and applies the revocations: no push', input(inSync, { entries: UA }), undefined],
    ['revocations of users the operator does not know are left alone', input(jwt({ UA: 100, UOTHER: 5 }), { entries: UA }), undefined],
    ['a server without the account loaded has nothing in force to check', input(inSync, {
      entries: UA,
      inForce: servers.map((server, i) => ({ server, jwt: i === 1 ? undefined : inSync })),
    }), undefined],
    ['a new entry is pushed', input(inSync, { entries: new Map([...UA, ['UB', entry(200)]]) }), { UA: 100, UB: 200 }],
    ['a later revocation time for a listed user wins', input(inSync, { entries: new Map([['UA', entry(150)]]) }), { UA: 150 }],
    ['a server with no copy of the JWT gets it', input(inSync, { entries: UA, copies: [inSync, '', inSync] }), { UA: 100 }],
    ['a server that did not answer the lookup gets it', input(inSync, { entries: UA, copies: [inSync, inSync] }), { UA: 100 }],
    ['a server with a stale copy gets the newest again', input(inSync, {
      entries: UA,
      copies: [inSync, jwt({}, 120), inSync],
    }), { UA: 100 }],
    ['a server with another JWT in force gets it again', input(inSync, {
      entries: UA,
      inForce: servers.map((server, i) => ({ server, jwt: i === 2 ? jwt({}, 120) : inSync })),
    }), { UA: 100 }],
  ])('%s', (_name, row, push) => {
    const plan = planCycle(row);
    if (!plan.ok) throw new Error(plan.message);
    expect(plan.value.push?.revocations).toEqual(push);
    // In every row the first server holds the newest copy.
    if (push) expect(plan.value.push?.base).toBe(row.copies[0]);
    expect(plan.value.expired).toEqual(new Set());
    expect(plan.value.confirmed).toEqual(new Set(row.entries.keys()));
  });

  test('the newest copy is the base, and the push comes after it', () => {
    const newest = jwt({ UA: 100 }, 1);
    const plan = planCycle(input(newest, { entries: new Map([['UB', entry(200)]]), copies: [jwt({}, 120), newest, ''] }));
    expect(plan).toMatchObject({ ok: true, value: { push: { base: newest, revocations: { UA: 100, UB: 200 } } } });
    expect(plan.ok && plan.value.push?.notBefore).toEqual(new Date(nowSeconds * 1000));
  });

  test('an entry past its expiry and grace leaves the JWT and the store; one within the grace stays', () => {
    const entries = new Map([
      ['UA', entry(100)],
      ['UGONE', entry(100, -11)],
      ['UGRACE', entry(100, -9)],
    ]);
    const plan = planCycle(input(jwt({ UA: 100, UGONE: 100, UGRACE: 100 }), { entries }));
    expect(plan).toMatchObject({ ok: true, value: { push: { revocations: { UA: 100, UGRACE: 100 } } } });
    expect(plan.ok && plan.value.expired).toEqual(new Set(['UGONE']));
    expect(plan.ok && plan.value.confirmed).toEqual(new Set(['UA', 'UGRACE']));
  });

  test('an expired entry the JWT does not carry is pruned from the store without a push', () => {
    const plan = planCycle(input(inSync, { entries: new Map([...UA, ['UGONE', entry(100, -3600)]]) }));
    expect(plan).toMatchObject({ ok: true, value: { push: undefined } });
    expect(plan.ok && plan.value.expired).toEqual(new Set(['UGONE']));
  });

  test.each<[string, CycleInput, string]>([
    ['no server answered', input(inSync, { servers: [], copies: [], inForce: [] }), 'no NATS server answered a PING from the system account'],
    ['no server has the JWT', input('', { copies: ['', 'garbage', otherAccount] }), `none of 3 NATS servers has the JWT of account ${account}`],
    [
      'the JWT to revise was issued in the future',
      input(jwt({}, -3), { entries: UA }),
      `the account JWT on the servers was issued at ${new Date((nowSeconds + 3) * 1000).toISOString()}, in the future: ` +
        'the operator will not push an older one; check the clocks of whoever signed it',
    ],
  ])('no plan: %s', (_name, row, message) => {
    expect(planCycle(row)).toEqual({ ok: false, message });
  });

  test('a JWT issued slightly ahead is revised after its second; one in the future but in sync is left alone', () => {
    const ahead = jwt({}, -1);
    expect(planCycle(input(ahead, { entries: UA }))).toMatchObject({
      ok: true,
      value: { push: { revocations: { UA: 100 }, notBefore: new Date((nowSeconds + 2) * 1000) } },
    });
    const aheadInSync = jwt({ UA: 100 }, -3);
    expect(planCycle(input(aheadInSync, { entries: UA }))).toMatchObject({ ok: true, value: { push: undefined } });
  });
});

describe('planCycle with a full account JWT', () => {
  /** Room, in a JWT based on `copy`, for exactly `revocations`. */
  const roomFor = (copy: string, revocations: Revocations) => accountJwtSizer(copy)(revocations);
  const waitingMessage =
    (limit: string) =>
    `the JWT of account ${account} is full: with these revocations it would exceed ${limit}; ` +
    "they wait for earlier revocations to expire, or for these users' credentials to";

  test('what the servers hold stays; of the rest, the users valid longest go in; the others wait', () => {
    const held = jwt({ UA: 100 });
    const entries = new Map([
      ['UA', entry(100, 60)],
      ['UB', entry(200, 600)],
      ['UC', entry(200, 3600)],
      ['UD', entry(200, 1800)],
    ]);
    const maxPayload = roomFor(held, { UA: 100, UC: 200, UD: 200 });
    const plan = planCycle(input(held, { entries, maxPayload }));
    if (!plan.ok) throw new Error(plan.message);
    expect(plan.value.push?.revocations).toEqual({ UA: 100, UC: 200, UD: 200 });
    expect(plan.value.confirmed).toEqual(new Set(['UA', 'UC', 'UD']));
    expect(plan.value.waiting).toEqual({
      users: new Set(['UB']),
      message: waitingMessage(`${maxPayload} bytes, the max_payload of the NATS server`),
    });
  });

  test('an entry the servers hold is never dropped for a newcomer valid longer', () => {
    const held = jwt({ UA: 100 });
    const entries = new Map([
      ['UA', entry(100, 60)],
      ['UB', entry(200, 3600)],
    ]);
    const plan = planCycle(input(held, { entries, maxPayload: roomFor(held, { UA: 100 }) }));
    expect(plan).toMatchObject({ ok: true, value: { push: undefined, confirmed: new Set(['UA']), waiting: { users: new Set(['UB']) } } });
  });

  test('expired entries make room in the same push', () => {
    const held = jwt({ UGONE: 100 });
    const entries = new Map([
      ['UGONE', entry(100, -3600)],
      ['UB', entry(200, 3600)],
    ]);
    const plan = planCycle(input(held, { entries, maxPayload: roomFor(held, { UGONE: 100 }) }));
    expect(plan).toMatchObject({ ok: true, value: { push: { revocations: { UB: 200 } }, waiting: undefined } });
  });

  test('a larger max_payload does not lift the limit of 1 MiB that nats-server puts on any JWT', () => {
    const key = (i: number) => `U${String(i).padStart(55, 'X')}`;
    const entries = new Map(Array.from({ length: 12_000 }, (_, i) => [key(i), entry(nowSeconds - 10, 3600 + i)]));
    const plan = planCycle(input(inSync, { entries, maxPayload: 8 * 1024 * 1024 }));
    if (!plan.ok) throw new Error(plan.message);
    const pushed = plan.value.push?.revocations ?? {};
    const size = accountJwtSizer(inSync);
    expect(size(pushed)).toBeLessThanOrEqual(MAX_JWT_BYTES);
    const waiting = [...(plan.value.waiting?.users ?? [])];
    // Exactly as many as fit: the next one, the first left out, would not.
    expect(size({ ...pushed, [waiting[0] ?? '']: nowSeconds - 10 })).toBeGreaterThan(MAX_JWT_BYTES);
    expect(Object.keys(pushed).length + waiting.length).toBe(12_001);
    // Those left out are those that expire soonest.
    const expiries = (users: string[]) => users.map((user) => entries.get(user)?.expiresAt ?? NaN);
    const newcomers = Object.keys(pushed).filter((user) => user !== 'UA');
    expect(Math.max(...expiries(waiting))).toBeLessThan(Math.min(...expiries(newcomers)));
    expect(plan.value.waiting?.message).toBe(waitingMessage(`${MAX_JWT_BYTES} bytes, the largest JWT nats-server accepts`));
  });
});

describe('pushStored', () => {
  const reply = (i: number, ok = true, message = 'jwt updated'): PushReply => ({ server: servers[i] ?? servers[0]!, ok, message });

  test.each<[string, PushReply[], { ok: true; value: number } | { ok: false; message: string }]>([
    ['every server stored it', [reply(0), reply(1), reply(2)], { ok: true, value: 3 }],
    [
      'one refused and one did not answer',
      [reply(0), reply(1, false, 'not trusted')],
      { ok: false, message: '1 of 3 NATS servers stored the account JWT (nats-1: not trusted; nats-2: no answer)' },
    ],
  ])('%s', (_name, replies, expected) => {
    expect(pushStored(servers, replies)).toEqual(expected);
  });
});

describe('nextCheckInMs', () => {
  const timing = { verifyPeriodMs: 60_000, pruneGraceMs: GRACE_MS };

  test.each<[string, RevocationEntry[], number]>([
    ['nothing listed: the periodic check', [], 60_000],
    ['an entry to prune sooner', [entry(1, 3600), entry(1, 20)], 20_000 + GRACE_MS - 500],
    ['an entry already due', [entry(1, -60)], 0],
  ])('%s', (_name, entries, expected) => {
    expect(nextCheckInMs(entries, NOW, timing)).toBe(expected);
  });
});
