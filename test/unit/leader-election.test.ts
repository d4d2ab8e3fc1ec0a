// Lease-based leader election against an in-memory Lease and simulated time: when a leader steps
// down, and when a candidate takes over.

import { jest } from '@jest/globals';
import type { CoordinationV1Api, V1Lease } from '@kubernetes/client-node';
import { pino } from 'pino';
import { LeaderElector, leaseExpired } from '../../src/kube/leader-election.ts';
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

  /** An API server holding one Lease; `mode` makes its Lease calls fail or hang. */
  function leaseServer() {
    const api = new RecordingApi();
    const server = { lease: undefined as V1Lease | undefined, version: 0, mode: 'up' as 'up' | 'down' | 'hanging' };
    const reachable = () => {
      if (server.mode === 'down') throw apiError(503);
      if (server.mode === 'hanging') return new Promise<never>(() => undefined);
      return undefined;
    };
    const store = (body: V1Lease) => {
      server.lease = { ...body, metadata: { ...body.metadata, resourceVersion: String(++server.version) } };
      return structuredClone(server.lease);
    };
    api.on('readNamespacedLease', () => {
      if (!server.lease) throw apiError(404);
      return reachable() ?? structuredClone(server.lease);
    });
    api.on('createNamespacedLease', (args) => reachable() ?? store(args.body as V1Lease));
    api.on('replaceNamespacedLease', (args) => {
      const body = args.body as V1Lease;
      if (body.metadata?.resourceVersion !== server.lease?.metadata?.resourceVersion) throw apiError(409);
      return reachable() ?? store(body);
    });
    const elector = (identity: string) =>
      new LeaderElector({ coordination: api.client<CoordinationV1Api>(), namespace: 'wno-system', name: 'wno-leader', identity, log: pino({ level: 'silent' }) });
    return { api, server, elector };
  }

  /** A leader at time 0 (lease 15 s, renew deadline 10 s, retry 2 s), renewing; `lost` counts its step-downs. */
  async function leading() {
    const lease = leaseServer();
    const leader = lease.elector('a');
    expect(await leader.acquire()).toBe(true);
    const lost: number[] = [];
    leader.keepRenewing(() => lost.push(Date.now()));
    return { ...lease, leader, lost };
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

  test('a candidate takes over a Lease not renewed for leaseDuration, by its own clock', async () => {
    const { server, elector } = leaseServer();
    expect(await elector('a').acquire()).toBe(true);
    const candidate = elector('b');
    let acquired: number | undefined;
    void candidate.acquire().then(() => (acquired = Date.now()));
    await jest.advanceTimersByTimeAsync(14_000);
    expect(acquired).toBeUndefined();
    await jest.advanceTimersByTimeAsync(2_000);
    expect(acquired).toBe(16_000);
    expect(server.lease?.spec?.holderIdentity).toBe('b');
    expect(server.lease?.spec?.leaseTransitions).toBe(1);
  });
});
