// Lease-based leader election against an in-memory Lease, a watch on it and simulated time: when a
// leader steps down, and when a candidate takes over.

import { jest } from '@jest/globals';
import type { V1Lease } from '@kubernetes/client-node';
import type { CoordinationApi } from '../../src/kube/api.ts';
import { pino } from 'pino';
import { LeaderElector, leaseExpired, type LeaseWatcher } from '../../src/kube/leader-election.ts';
import { apiError, RecordingApi } from './fake-kube.ts';

describe('leaseExpired', () => {
  const observed = { holder: 'other', resourceVersion: '7', observedAtMs: 1_000_000 };

  test('a lease nobody was seen holding, or that was released, is free', () => {
    expect(leaseExpired(undefined, 15_000, 0)).toBe(true);
    expect(leaseExpired({ ...observed, holder: '' }, 15_000, 1_000_001)).toBe(true);
  });

  test('a held lease expires leaseDuration after it was last seen changing, by our own clock', () => {
    expect(leaseExpired(observed, 15_000, 1_014_999)).toBe(false);
    expect(leaseExpired(observed, 15_000, 1_015_000)).toBe(true);
  });
});

describe('LeaderElector', () => {
  // Simulated time: the Lease's clock (Date) and its timers move only when the test says.
  beforeEach(() => jest.useFakeTimers({ now: 0 }));
  afterEach(() => jest.useRealTimers());

  /**
   * An API server holding one Lease, and a watch on it. `mode` makes its Lease calls fail or hang;
   * `dead` holds the identities whose requests hang (a SIGKILLed process sends none that land);
   * `watch: 'down'` keeps the watch from delivering; a read by an identity in `gates` is answered
   * as the Lease was when asked, once its gate opens (a slow answer, overtaken by the watch).
   */
  function leaseServer() {
    const server = {
      lease: undefined as V1Lease | undefined,
      version: 0,
      mode: 'up' as 'up' | 'down' | 'hanging',
      watch: 'up' as 'up' | 'down',
      dead: new Set<string>(),
      gates: new Map<string, Promise<void>>(),
    };
    const watchers = new Set<(lease: V1Lease | undefined) => void>();
    const deliver = () => {
      if (server.watch === 'down') return;
      for (const onChange of watchers) onChange(structuredClone(server.lease));
    };
    const store = (body: V1Lease) => {
      server.lease = { ...body, metadata: { ...body.metadata, resourceVersion: String(++server.version) } };
      deliver();
      return structuredClone(server.lease);
    };
    const watchLease: LeaseWatcher = (_lease, onChange) => {
      watchers.add(onChange);
      // As an informer's first list does.
      queueMicrotask(deliver);
      return { stop: async () => void watchers.delete(onChange) };
    };
    const apis = new Map<string, RecordingApi>();
    const api = (identity: string) => {
      const api = new RecordingApi();
      const reachable = () => {
        if (server.mode === 'hanging' || server.dead.has(identity)) return new Promise<never>(() => undefined);
        if (server.mode === 'down') throw apiError(503);
        return undefined;
      };
      api.on('readNamespacedLease', async () => {
        if (!server.lease) throw apiError(404);
        const answer = reachable() ?? structuredClone(server.lease);
        await server.gates.get(identity);
        return answer;
      });
      api.on('createNamespacedLease', (args) => reachable() ?? store(args.body as V1Lease));
      api.on('replaceNamespacedLease', (args) => {
        const body = args.body as V1Lease;
        if (body.metadata?.resourceVersion !== server.lease?.metadata?.resourceVersion) throw apiError(409);
        return reachable() ?? store(body);
      });
      apis.set(identity, api);
      return api;
    };
    const elector = (identity: string, options: { watch?: boolean } = {}) =>
      new LeaderElector({
        coordination: api(identity).client<CoordinationApi>(),
        namespace: 'wno-system',
        name: 'wno-leader',
        identity,
        ...(options.watch ? { watchLease } : {}),
        log: pino({ level: 'silent' }),
      });
    return { apis, server, watchers, elector };
  }

  /** A leader at time 0 (lease 15 s, renew deadline 10 s, retry 2 s), renewing; `lost` counts its step-downs. */
  async function leading() {
    const lease = leaseServer();
    const leader = lease.elector('a');
    expect(await leader.acquire()).toBe(true);
    const lost: number[] = [];
    leader.keepRenewing(() => lost.push(Date.now()));
    return { ...lease, api: lease.apis.get('a')!, leader, lost };
  }

  /** Starts `candidate` acquiring; `at` is when it became leader (false: it gave up). */
  function acquiring(candidate: LeaderElector, signal?: AbortSignal) {
    const result = { at: undefined as number | false | undefined };
    void candidate.acquire(signal).then((held) => (result.at = held && Date.now()));
    return result;
  }

  test('a leader that renews keeps leading', async () => {
    const { api, lost } = await leading();
    await jest.advanceTimersByTimeAsync(60_000);
    expect(lost).toEqual([]);
    expect(api.writes().filter((call) => call.startsWith('replaceNamespacedLease'))).toHaveLength(30);
  });

  test.each([
    { mode: 'down', lastRenewal: 4_000 },
    { mode: 'hanging', lastRenewal: 4_000 },
    { mode: 'down', lastRenewal: 0 },
  ] as const)(
    'with the API server $mode after $lastRenewal ms, the leader steps down renewDeadline after its last successful renewal',
    async ({ mode, lastRenewal }) => {
      const { server, lost } = await leading();
      await jest.advanceTimersByTimeAsync(lastRenewal);
      server.mode = mode;
      await jest.advanceTimersByTimeAsync(9_999);
      expect(lost).toEqual([]);
      await jest.advanceTimersByTimeAsync(1);
      expect(lost).toEqual([lastRenewal + 10_000]);
      // Once: it does not step down again, nor renew.
      server.mode = 'up';
      const version = server.version;
      await jest.advanceTimersByTimeAsync(30_000);
      expect(lost).toEqual([lastRenewal + 10_000]);
      expect(server.version).toBe(version);
    },
  );

  test('a leader that sees another holder steps down at its next renewal', async () => {
    const { server, lost } = await leading();
    await jest.advanceTimersByTimeAsync(1_000);
    server.lease = { ...server.lease!, spec: { ...server.lease!.spec, holderIdentity: 'b' }, metadata: { ...server.lease!.metadata, resourceVersion: String(++server.version) } };
    await jest.advanceTimersByTimeAsync(1_000);
    expect(lost).toEqual([2_000]);
  });

  test('a candidate takes over a Lease not renewed for leaseDuration by its own clock, at that moment, not at its next poll', async () => {
    const { server, elector } = leaseServer();
    expect(await elector('a').acquire()).toBe(true);
    // First seen at 500 ms, so its polls (every 2 s from then) never fall on the expiry.
    await jest.advanceTimersByTimeAsync(500);
    const candidate = acquiring(elector('b'));
    await jest.advanceTimersByTimeAsync(14_999);
    expect(candidate.at).toBeUndefined();
    await jest.advanceTimersByTimeAsync(1);
    expect(candidate.at).toBe(15_500);
    expect(server.lease?.spec?.holderIdentity).toBe('b');
    expect(server.lease?.spec?.leaseTransitions).toBe(1);
  });

  /** Leader 'a' renewing from 0 (at 2, 4, 6, 8 s), candidate 'b' waiting from 500 ms; 'a' dies at 9 s. */
  async function leaderDiesAt9s(options: { watch: boolean; watchDown?: boolean }) {
    const lease = await leading();
    if (options.watchDown) lease.server.watch = 'down';
    await jest.advanceTimersByTimeAsync(500);
    const candidate = acquiring(lease.elector('b', { watch: options.watch }));
    await jest.advanceTimersByTimeAsync(8_500);
    lease.server.dead.add('a');
    return { ...lease, candidate };
  }

  test('renewals the watch brings push the expiry back: the candidate takes over leaseDuration after the last one', async () => {
    const { candidate, lost, watchers } = await leaderDiesAt9s({ watch: true });
    expect(watchers.size).toBe(1);
    // The last renewal landed at 8 s; its poll at 8.5 s would have put the expiry at 23.5 s.
    await jest.advanceTimersByTimeAsync(13_999);
    expect(candidate.at).toBeUndefined();
    await jest.advanceTimersByTimeAsync(1);
    expect(candidate.at).toBe(23_000);
    // The dead leader's own deadline ran out well before (had it only been cut off, it stops there).
    expect(lost).toEqual([18_000]);
    // Leading, it watches no more.
    expect(watchers.size).toBe(0);
  });

  test('with the watch failing, polls every retryPeriod still take the Lease over, at most a retry period later', async () => {
    const { candidate } = await leaderDiesAt9s({ watch: true, watchDown: true });
    // The last renewal (8 s) is first seen by the poll at 8.5 s.
    await jest.advanceTimersByTimeAsync(14_499);
    expect(candidate.at).toBeUndefined();
    await jest.advanceTimersByTimeAsync(1);
    expect(candidate.at).toBe(23_500);
  });

  test('a read answered after the watch brought a newer version does not push the expiry back', async () => {
    const { server, elector } = await leading();
    await jest.advanceTimersByTimeAsync(500);
    const candidate = acquiring(elector('b', { watch: true }));
    // The poll at 4.5 s is answered at 6.5 s with the Lease as at 4.5 s, after the watch brought the 6 s renewal.
    await jest.advanceTimersByTimeAsync(3_600);
    let answer!: () => void;
    server.gates.set('b', new Promise((resolve) => (answer = resolve)));
    await jest.advanceTimersByTimeAsync(2_400);
    answer();
    server.gates.delete('b');
    await jest.advanceTimersByTimeAsync(500);
    server.dead.add('a');
    // Taken leaseDuration after the 6 s renewal, which that late answer must not make look newer.
    await jest.advanceTimersByTimeAsync(13_999);
    expect(candidate.at).toBeUndefined();
    await jest.advanceTimersByTimeAsync(1);
    expect(candidate.at).toBe(21_000);
  });

  test('a released Lease is taken the moment the watch shows it', async () => {
    const { leader, elector } = await leading();
    await jest.advanceTimersByTimeAsync(500);
    const candidate = acquiring(elector('b', { watch: true }));
    await jest.advanceTimersByTimeAsync(4_500);
    await leader.release();
    await jest.advanceTimersByTimeAsync(0);
    expect(candidate.at).toBe(5_000);
  });

  test('a read answered after the watch showed the Lease released is asked again, not written over', async () => {
    const { server, leader, elector } = await leading();
    await jest.advanceTimersByTimeAsync(500);
    const candidate = acquiring(elector('b', { watch: true }));
    // The poll at 2.5 s is answered at 3.5 s with the Lease as at 2.5 s; it was released at 3 s.
    await jest.advanceTimersByTimeAsync(1_900);
    let answer!: () => void;
    server.gates.set('b', new Promise((resolve) => (answer = resolve)));
    await jest.advanceTimersByTimeAsync(600);
    await leader.release();
    await jest.advanceTimersByTimeAsync(500);
    server.gates.delete('b');
    answer();
    await jest.advanceTimersByTimeAsync(0);
    expect(candidate.at).toBe(3_500);
  });

  test('an expiry that could not be acted on is tried again at the next poll, not in a loop', async () => {
    const { server, apis, elector } = leaseServer();
    expect(await elector('a').acquire()).toBe(true);
    await jest.advanceTimersByTimeAsync(500);
    const candidate = acquiring(elector('b', { watch: true }));
    await jest.advanceTimersByTimeAsync(14_000);
    server.mode = 'down';
    const reads = () => apis.get('b')!.calls.filter((call) => call.method === 'readNamespacedLease').length;
    const before = reads();
    // Tries at 15.5 s (the expiry), 17.5 s and 19.5 s fail; the one at 21.5 s takes it.
    await jest.advanceTimersByTimeAsync(6_000);
    expect(reads() - before).toBe(3);
    server.mode = 'up';
    await jest.advanceTimersByTimeAsync(1_000);
    expect(candidate.at).toBe(21_500);
  });

  test('a candidate told to stop resolves false at once, its watch stopped and no timer left', async () => {
    const { elector, watchers } = leaseServer();
    expect(await elector('a').acquire()).toBe(true);
    const stopping = new AbortController();
    const candidate = acquiring(elector('b', { watch: true }), stopping.signal);
    await jest.advanceTimersByTimeAsync(3_000);
    expect(watchers.size).toBe(1);
    stopping.abort();
    await jest.advanceTimersByTimeAsync(0);
    expect(candidate.at).toBe(false);
    expect(watchers.size).toBe(0);
    expect(jest.getTimerCount()).toBe(0);
  });
});
