// AggregatingEventRecorder: at most one Event per object and reason per window, the first at once,
// the rest of the window summed into one Event with their count; simulated time.

import { jest } from '@jest/globals';
import type { KubernetesObject } from '@kubernetes/client-node';
import { AggregatingEventRecorder } from '../../src/kube/aggregated-events.ts';
import type { EventRecorder, EventType } from '../../src/kube/events.ts';

const WINDOW = 60_000;

interface Sent {
  object: string;
  type: EventType;
  reason: string;
  message: string;
  count: number;
  /** When the first occurrence an aggregated Event stands for happened (ms of the fake clock). */
  since?: number;
}

/** Records what would be sent, as "kind namespace/name"; `hold` keeps each call pending until released. */
function recorder({ hold = false } = {}) {
  const sent: Sent[] = [];
  const releases: (() => void)[] = [];
  const inner: EventRecorder = {
    record: (object, type, reason, message, series) => {
      const event: Sent = { object: `${object.kind} ${object.metadata?.namespace ?? ''}/${object.metadata?.name}`, type, reason, message, count: series?.count ?? 1 };
      if (series) event.since = series.since.getTime();
      sent.push(event);
      return hold ? new Promise<void>((resolve) => releases.push(resolve)) : Promise.resolve();
    },
  };
  return { sent, releases, events: new AggregatingEventRecorder(inner, WINDOW) };
}

const wna = (name: string): KubernetesObject => ({ apiVersion: 'natsaccess.io/v1alpha1', kind: 'WorkspaceNatsAccess', metadata: { namespace: 'team-a', name } });
const issuer: KubernetesObject = { apiVersion: 'natsaccess.io/v1alpha1', kind: 'ClusterNatsIssuer', metadata: { name: 'team-a' } };

beforeEach(() => jest.useFakeTimers({ now: 0 }));
afterEach(() => jest.useRealTimers());

test('the first occurrence is sent at once, with a count of 1', () => {
  const { sent, events } = recorder();
  events.record(wna('ws1'), 'Warning', 'AuthFailed', 'refused 1');
  expect(sent).toEqual([{ object: 'WorkspaceNatsAccess team-a/ws1', type: 'Warning', reason: 'AuthFailed', message: 'refused 1', count: 1 }]);
});

test('the rest of the window make one Event at its end, with their count and the latest message', async () => {
  const { sent, events } = recorder();
  for (let i = 1; i <= 50; i++) {
    events.record(wna('ws1'), 'Warning', 'AuthFailed', `refused ${i}`);
    await jest.advanceTimersByTimeAsync(100);
  }
  expect(sent).toHaveLength(1);
  await jest.advanceTimersByTimeAsync(WINDOW - 5_000 - 1);
  expect(sent).toHaveLength(1);
  await jest.advanceTimersByTimeAsync(1);
  expect(sent).toHaveLength(2);
  // It stands for the 2nd to the 50th, from when the 2nd happened (kubectl: "x49 over 1m").
  expect(sent[1]).toEqual({ object: 'WorkspaceNatsAccess team-a/ws1', type: 'Warning', reason: 'AuthFailed', message: 'refused 50', count: 49, since: 100 });
  // Nothing more is owed.
  await jest.advanceTimersByTimeAsync(10 * WINDOW);
  expect(sent).toHaveLength(2);
});

test('occurrences keep being summed, one Event per window, while they go on', async () => {
  const { sent, events } = recorder();
  events.record(wna('ws1'), 'Warning', 'AuthFailed', 'a');
  events.record(wna('ws1'), 'Warning', 'AuthFailed', 'b');
  await jest.advanceTimersByTimeAsync(WINDOW);
  events.record(wna('ws1'), 'Warning', 'AuthFailed', 'c');
  events.record(wna('ws1'), 'Warning', 'AuthFailed', 'd');
  events.record(wna('ws1'), 'Warning', 'AuthFailed', 'e');
  // Still the next window: not sent until it closes.
  expect(sent.map(({ message, count }) => [message, count])).toEqual([['a', 1], ['b', 1]]);
  await jest.advanceTimersByTimeAsync(WINDOW);
  expect(sent.map(({ message, count }) => [message, count])).toEqual([['a', 1], ['b', 1], ['e', 3]]);
});

test('a quiet window forgets the key: the next occurrence is sent at once again', async () => {
  const { sent, events } = recorder();
  events.record(wna('ws1'), 'Normal', 'Connected', 'first');
  await jest.advanceTimersByTimeAsync(WINDOW);
  expect(sent).toHaveLength(1);
  events.record(wna('ws1'), 'Normal', 'Connected', 'after a quiet window');
  expect(sent.map(({ message, count }) => [message, count])).toEqual([['first', 1], ['after a quiet window', 1]]);
});

test('a window after a summed one is also forgotten once quiet', async () => {
  const { sent, events } = recorder();
  events.record(wna('ws1'), 'Normal', 'Connected', 'a');
  events.record(wna('ws1'), 'Normal', 'Connected', 'b');
  await jest.advanceTimersByTimeAsync(2 * WINDOW);
  events.record(wna('ws1'), 'Normal', 'Connected', 'c');
  expect(sent.map(({ message, count }) => [message, count])).toEqual([['a', 1], ['b', 1], ['c', 1]]);
});

test('each object and each reason has a window of its own', async () => {
  const { sent, events } = recorder();
  events.record(wna('ws1'), 'Normal', 'Connected', 'ws1 connected');
  events.record(wna('ws2'), 'Normal', 'Connected', 'ws2 connected');
  events.record(wna('ws1'), 'Normal', 'Disconnected', 'ws1 disconnected');
  // A cluster-scoped object whose name is a namespace's: not the same object.
  events.record(issuer, 'Normal', 'Connected', 'issuer');
  expect(sent.map(({ object, reason, count }) => [object, reason, count])).toEqual([
    ['WorkspaceNatsAccess team-a/ws1', 'Connected', 1],
    ['WorkspaceNatsAccess team-a/ws2', 'Connected', 1],
    ['WorkspaceNatsAccess team-a/ws1', 'Disconnected', 1],
    ['ClusterNatsIssuer /team-a', 'Connected', 1],
  ]);
  events.record(wna('ws1'), 'Normal', 'Connected', 'ws1 again');
  events.record(wna('ws1'), 'Normal', 'Connected', 'ws1 again and again');
  events.record(wna('ws2'), 'Normal', 'Connected', 'ws2 again');
  await jest.advanceTimersByTimeAsync(WINDOW);
  expect(sent.slice(4).map(({ object, message, count }) => [object, message, count])).toEqual([
    ['WorkspaceNatsAccess team-a/ws1', 'ws1 again and again', 2],
    ['WorkspaceNatsAccess team-a/ws2', 'ws2 again', 1],
  ]);
});

test('flush() sends what is pending at once, waits for it, and forgets every window', async () => {
  const { sent, releases, events } = recorder({ hold: true });
  events.record(wna('ws1'), 'Warning', 'AuthFailed', 'a');
  events.record(wna('ws1'), 'Warning', 'AuthFailed', 'b');
  events.record(wna('ws1'), 'Warning', 'AuthFailed', 'c');
  events.record(wna('ws2'), 'Normal', 'Connected', 'quiet since');
  let flushed = false;
  const flushing = events.flush().then(() => (flushed = true));
  expect(sent.map(({ message, count }) => [message, count])).toEqual([['a', 1], ['quiet since', 1], ['c', 2]]);
  await jest.advanceTimersByTimeAsync(0);
  expect(flushed).toBe(false);
  for (const release of releases) release();
  await flushing;
  expect(flushed).toBe(true);
  // No timer left to send anything again; the next occurrence opens a new window.
  await jest.advanceTimersByTimeAsync(2 * WINDOW);
  expect(sent).toHaveLength(3);
  events.record(wna('ws1'), 'Warning', 'AuthFailed', 'd');
  expect(sent[3]).toMatchObject({ message: 'd', count: 1 });
});
