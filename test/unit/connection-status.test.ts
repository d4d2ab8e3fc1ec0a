// ConnectionStatusWriter: status.connections written at once the first time, then at most once per
// interval per access, never while it equals what is stored, never for a gone access, and again
// after a failed write; simulated time.

import { jest } from '@jest/globals';
import { ConnectionStatusWriter, type ConnectionsStatus } from '../../src/audit/connection-status.ts';
import type { Logger } from '../../src/log.ts';

const INTERVAL = 10_000;
const T1 = '2026-12-03T08:00:00Z';
const T2 = '2026-12-03T08:00:05Z';

/** Accesses' stored status.connections (null: the access is gone); each write lands in it. */
function writer(stored: Record<string, ConnectionsStatus | undefined | null> = {}, { failures = 0 } = {}) {
  const writes: { at: number; access: string; connections: ConnectionsStatus }[] = [];
  const warnings: unknown[] = [];
  let failing = failures;
  const status = new ConnectionStatusWriter({
    intervalMs: INTERVAL,
    log: { warn: (fields: unknown) => warnings.push(fields) } as unknown as Logger,
    stored: (access) => (access in stored ? stored[access] : null),
    write: async (access, connections) => {
      writes.push({ at: Date.now(), access, connections });
      if (failing-- > 0) throw new Error('conflict');
      stored[access] = connections;
    },
  });
  return { status, writes, warnings, stored };
}

beforeEach(() => jest.useFakeTimers({ now: 0 }));
afterEach(() => jest.useRealTimers());

test('the first change is written at once', async () => {
  const { status, writes } = writer({ 'team-a/ws1': undefined });
  status.update('team-a/ws1', { active: 1, lastConnectTime: T1 });
  await jest.advanceTimersByTimeAsync(0);
  expect(writes).toEqual([{ at: 0, access: 'team-a/ws1', connections: { active: 1, lastConnectTime: T1 } }]);
});

test('changes after a write wait for the interval, and are written together as they last stood', async () => {
  const { status, writes } = writer({ 'team-a/ws1': undefined });
  status.update('team-a/ws1', { active: 1, lastConnectTime: T1 });
  await jest.advanceTimersByTimeAsync(1_000);
  status.update('team-a/ws1', { active: 2, lastConnectTime: T2 });
  status.update('team-a/ws1', { active: 3 });
  await jest.advanceTimersByTimeAsync(INTERVAL - 1_000 - 1);
  expect(writes).toHaveLength(1);
  await jest.advanceTimersByTimeAsync(1);
  expect(writes[1]).toEqual({ at: INTERVAL, access: 'team-a/ws1', connections: { active: 3, lastConnectTime: T2 } });
  await jest.advanceTimersByTimeAsync(5 * INTERVAL);
  expect(writes).toHaveLength(2);
});

test('a client reconnecting in a loop costs one write per interval', async () => {
  const { status, writes } = writer({ 'team-a/ws1': { active: 0 } });
  for (let i = 0; i < 100; i++) {
    status.update('team-a/ws1', { active: 1, lastConnectTime: new Date(i * 500).toISOString() });
    status.update('team-a/ws1', { active: 0 });
    await jest.advanceTimersByTimeAsync(500);
  }
  await jest.advanceTimersByTimeAsync(INTERVAL);
  // 50 s of churn: at 0, 10, 20, 30, 40 and 50 s.
  expect(writes.map(({ at }) => at)).toEqual([0, 10_000, 20_000, 30_000, 40_000, 50_000]);
  expect(writes.at(-1)?.connections).toEqual({ active: 0, lastConnectTime: new Date(99 * 500).toISOString() });
});

test('each access is held to its own interval', async () => {
  const { status, writes } = writer({ 'team-a/ws1': undefined, 'team-a/ws2': undefined });
  status.update('team-a/ws1', { active: 1 });
  await jest.advanceTimersByTimeAsync(1_000);
  status.update('team-a/ws2', { active: 1 });
  await jest.advanceTimersByTimeAsync(0);
  expect(writes.map(({ at, access }) => [at, access])).toEqual([[0, 'team-a/ws1'], [1_000, 'team-a/ws2']]);
});

test('nothing is written while the fields equal what is stored', async () => {
  const { status, writes } = writer({ 'team-a/ws1': { active: 1, lastConnectTime: T1 } });
  status.update('team-a/ws1', { active: 1 });
  status.update('team-a/ws1', { lastConnectTime: T1 });
  await jest.advanceTimersByTimeAsync(3 * INTERVAL);
  expect(writes).toEqual([]);
});

test('a change undone before its write is not written', async () => {
  const { status, writes } = writer({ 'team-a/ws1': { active: 1 } });
  status.update('team-a/ws1', { active: 2 });
  await jest.advanceTimersByTimeAsync(0);
  status.update('team-a/ws1', { active: 3 });
  status.update('team-a/ws1', { active: 2 });
  await jest.advanceTimersByTimeAsync(3 * INTERVAL);
  expect(writes.map(({ connections }) => connections)).toEqual([{ active: 2 }]);
});

test('nothing is written for an access that is gone', async () => {
  const { status, writes } = writer({ 'team-a/gone': null });
  status.update('team-a/gone', { active: 0 });
  await jest.advanceTimersByTimeAsync(3 * INTERVAL);
  expect(writes).toEqual([]);
});

test('a failed write is logged and tried again an interval later, with what is wanted by then', async () => {
  const { status, writes, warnings, stored } = writer({ 'team-a/ws1': undefined }, { failures: 2 });
  status.update('team-a/ws1', { active: 1 });
  await jest.advanceTimersByTimeAsync(0);
  expect(warnings).toEqual([expect.objectContaining({ access: 'team-a/ws1' })]);
  status.update('team-a/ws1', { lastConnectTime: T1 });
  await jest.advanceTimersByTimeAsync(2 * INTERVAL);
  expect(writes.map(({ at, connections }) => [at, connections])).toEqual([
    [0, { active: 1 }],
    [INTERVAL, { active: 1, lastConnectTime: T1 }],
    [2 * INTERVAL, { active: 1, lastConnectTime: T1 }],
  ]);
  expect(warnings).toHaveLength(2);
  expect(stored['team-a/ws1']).toEqual({ active: 1, lastConnectTime: T1 });
  await jest.advanceTimersByTimeAsync(5 * INTERVAL);
  expect(writes).toHaveLength(3);
});

test('update() keeps the fields it is not given, from the last wish or else from the status', async () => {
  const { status, writes } = writer({ 'team-a/ws1': { active: 1, lastAuthFailureTime: T1 } });
  status.update('team-a/ws1', { lastConnectTime: T2 });
  status.update('team-a/ws1', { active: 2 });
  await jest.advanceTimersByTimeAsync(0);
  expect(writes[0]?.connections).toEqual({ active: 2, lastAuthFailureTime: T1, lastConnectTime: T2 });
  // Once written, the next change starts from what is stored.
  await jest.advanceTimersByTimeAsync(INTERVAL);
  status.update('team-a/ws1', { active: 1 });
  await jest.advanceTimersByTimeAsync(INTERVAL);
  expect(writes[1]?.connections).toEqual({ active: 1, lastAuthFailureTime: T1, lastConnectTime: T2 });
});

test('an access with no status yet starts from no connections', async () => {
  const { status, writes } = writer({ 'team-a/ws1': undefined });
  status.update('team-a/ws1', { lastAuthFailureTime: T1 });
  await jest.advanceTimersByTimeAsync(0);
  expect(writes[0]?.connections).toEqual({ active: 0, lastAuthFailureTime: T1 });
});

test('once an interval has passed without writes, the next change is written at once again', async () => {
  const { status, writes } = writer({ 'team-a/ws1': undefined });
  status.update('team-a/ws1', { active: 1 });
  await jest.advanceTimersByTimeAsync(INTERVAL + 5_000);
  status.update('team-a/ws1', { active: 0 });
  await jest.advanceTimersByTimeAsync(0);
  expect(writes.map(({ at }) => at)).toEqual([0, INTERVAL + 5_000]);
});

test('stop() drops pending writes', async () => {
  const { status, writes } = writer({ 'team-a/ws1': undefined });
  status.update('team-a/ws1', { active: 1 });
  await jest.advanceTimersByTimeAsync(0);
  status.update('team-a/ws1', { active: 2 });
  await status.stop();
  await jest.advanceTimersByTimeAsync(3 * INTERVAL);
  expect(writes.map(({ connections }) => connections.active)).toEqual([1]);
});
