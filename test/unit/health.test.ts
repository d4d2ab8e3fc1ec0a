// Liveness (a stalled event loop) and readiness (named checks, reported as Kubernetes reports its
// own), and the endpoints that serve them with the metrics.

import { EventLoopHeartbeat, Readiness } from '../../src/cli/health.ts';
import { serveMonitoring } from '../../src/cli/monitoring-server.ts';
import { createLogger } from '../../src/log.ts';
import { OperatorMetrics } from '../../src/metrics.ts';

describe('the event loop heartbeat', () => {
  let now = 0;
  const heartbeat = () => {
    now = 0;
    return new EventLoopHeartbeat(() => now);
  };
  /** Runs the heartbeat every second for `ms`, as the timer would on a healthy loop. */
  const beatFor = (watch: EventLoopHeartbeat, ms: number) => {
    for (const end = now + ms; now < end; ) {
      now += 1000;
      watch.beat();
    }
  };

  test('a loop that runs its heartbeat, even seconds late as on a busy machine, is healthy', () => {
    const watch = heartbeat();
    beatFor(watch, 5000);
    now += 8000;
    watch.beat();
    expect(watch.problem()).toBeUndefined();
  });

  test('a heartbeat overdue by more than 10 s is a stalled loop', () => {
    const watch = heartbeat();
    beatFor(watch, 3000);
    now += 12_000;
    expect(watch.problem()).toBe('the event loop has not run its 1s heartbeat for 12.0s');
  });

  test('a stall is reported for 15 s after the loop came back: the next probe sees it, too few in a row to restart', () => {
    const watch = heartbeat();
    now += 15_000;
    watch.beat();
    beatFor(watch, 10_000);
    expect(watch.problem()).toBe('the event loop stalled for 14.0s, 10.0s ago');
    beatFor(watch, 5_000);
    expect(watch.problem()).toBeUndefined();
  });
});

describe('readiness', () => {
  test('is ready when every check passes; says which fail, and why, when one does not', () => {
    const readiness = new Readiness();
    expect(readiness.report(false)).toEqual({ ready: true, body: 'ok\n' });
    readiness.fail('callouts', 'not synced');
    readiness.fail('caches', 'not synced yet');
    readiness.pass('callouts');
    expect(readiness.report(false)).toEqual({ ready: false, body: '[+]callouts ok\n[-]caches failed: not synced yet\nreadyz check failed\n' });
    readiness.pass('caches');
    expect(readiness.report(false)).toEqual({ ready: true, body: 'ok\n' });
    expect(readiness.report(true)).toEqual({ ready: true, body: '[+]callouts ok\n[+]caches ok\nreadyz check passed\n' });
  });
});

test('one server answers /metrics, /healthz and /readyz (?verbose), and nothing else', async () => {
  const metrics = new OperatorMetrics();
  const readiness = new Readiness();
  readiness.fail('caches', 'not synced yet');
  const server = await serveMonitoring({ registry: metrics.registry, readiness, port: 0, log: createLogger('fatal') });
  try {
    const get = async (path: string) => {
      const response = await fetch(`http://127.0.0.1:${server.port}${path}`);
      return { status: response.status, body: await response.text() };
    };
    expect((await get('/metrics')).body).toContain('workqueue_adds_total');
    expect(await get('/healthz')).toEqual({ status: 200, body: 'ok\n' });
    expect(await get('/readyz')).toEqual({ status: 500, body: '[-]caches failed: not synced yet\nreadyz check failed\n' });
    readiness.pass('caches');
    expect(await get('/readyz')).toEqual({ status: 200, body: 'ok\n' });
    expect(await get('/readyz?verbose')).toEqual({ status: 200, body: '[+]caches ok\nreadyz check passed\n' });
    expect((await get('/debug')).status).toBe(404);
  } finally {
    await server.stop();
  }
});
