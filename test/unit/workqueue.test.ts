import { jest } from '@jest/globals';
import { runWorkers, WorkQueue } from '../../src/kube/workqueue.ts';

describe('WorkQueue', () => {
  test('a key added many times before it is taken is processed once', async () => {
    const queue = new WorkQueue();
    queue.add('a');
    queue.add('a');
    queue.add('b');
    expect(queue.length).toBe(2);
    expect(await queue.get()).toBe('a');
    expect(await queue.get()).toBe('b');
  });

  test('a key being processed is not handed out again until done, then is re-processed', async () => {
    const queue = new WorkQueue();
    queue.add('a');
    const key = await queue.get();
    queue.add('a');
    expect(queue.length).toBe(0);
    let second: string | undefined;
    void queue.get().then((k) => (second = k));
    await Promise.resolve();
    expect(second).toBeUndefined();
    queue.done(key as string);
    await Promise.resolve();
    expect(second).toBe('a');
  });

  test('a processed key that was not re-added does not come back', async () => {
    const queue = new WorkQueue();
    queue.add('a');
    queue.done((await queue.get()) as string);
    expect(queue.length).toBe(0);
  });

  test('failures back off exponentially per key, capped, and forget() resets them', () => {
    const queue = new WorkQueue({ baseDelayMs: 100, maxDelayMs: 1000 });
    expect([0, 1, 2, 3, 4, 10].map((n) => queue.backoffDelay(n))).toEqual([100, 200, 400, 800, 1000, 1000]);
    queue.addRateLimited('a');
    queue.addRateLimited('a');
    queue.addRateLimited('b');
    expect(queue.numRequeues('a')).toBe(2);
    expect(queue.numRequeues('b')).toBe(1);
    queue.forget('a');
    expect(queue.numRequeues('a')).toBe(0);
    queue.shutDown();
  });

  test('addAfter delivers later, and the earlier of two schedules wins', async () => {
    jest.useFakeTimers();
    try {
      const queue = new WorkQueue();
      queue.addAfter('a', 5000);
      queue.addAfter('a', 1000);
      queue.addAfter('a', 3000);
      jest.advanceTimersByTime(999);
      expect(queue.length).toBe(0);
      jest.advanceTimersByTime(1);
      expect(queue.length).toBe(1);
      await queue.get();
      jest.advanceTimersByTime(10_000);
      expect(queue.length).toBe(0);
    } finally {
      jest.useRealTimers();
    }
  });

  test('shutDown releases waiting workers', async () => {
    const queue = new WorkQueue();
    const waiting = queue.get();
    queue.shutDown();
    expect(await waiting).toBeUndefined();
    queue.add('a');
    expect(queue.length).toBe(0);
  });
});

describe('runWorkers', () => {
  // Fake timers: the reconciles' work, the backoff and the requeue delays pass in simulated time, so
  // the tests wait for exactly what they assert, not for a guess at how long it takes.
  beforeEach(() => jest.useFakeTimers());
  afterEach(() => jest.useRealTimers());

  test('never runs one key on two workers at once, coalesces adds, and retries failures with backoff', async () => {
    const queue = new WorkQueue({ baseDelayMs: 5, maxDelayMs: 20 });
    const running = new Set<string>();
    let overlap = false;
    const calls: string[] = [];
    const flakyStarts: number[] = [];
    let failuresLeft = 2;
    const errors: string[] = [];
    const workers = runWorkers(
      queue,
      4,
      async (key) => {
        if (running.has(key)) overlap = true;
        running.add(key);
        calls.push(key);
        if (key === 'flaky') flakyStarts.push(Date.now());
        await new Promise((r) => setTimeout(r, 5));
        running.delete(key);
        if (key === 'flaky' && failuresLeft-- > 0) throw new Error('boom');
        return {};
      },
      (key) => errors.push(key),
    );
    // x and y are added every millisecond while each reconcile takes 5.
    for (let i = 0; i < 10; i++) {
      queue.add('x');
      queue.add('y');
      await jest.advanceTimersByTimeAsync(1);
    }
    queue.add('flaky');
    await jest.advanceTimersByTimeAsync(1_000);
    queue.shutDown();
    await workers;
    expect(overlap).toBe(false);
    // Added at 0..9 ms: run at 0, again at 5 for the adds during the first run, at 10 for the rest.
    expect(calls.filter((k) => k === 'x')).toHaveLength(3);
    expect(calls.filter((k) => k === 'y')).toHaveLength(3);
    expect(errors).toEqual(['flaky', 'flaky']);
    // Each run takes 5 ms; the retries wait 5, then 10 ms; the success ends them.
    expect(flakyStarts.map((at) => at - flakyStarts[0]!)).toEqual([0, 10, 25]);
    expect(queue.numRequeues('flaky')).toBe(0);
  });

  test('a result with requeueAfterMs schedules the key again, that much later', async () => {
    const queue = new WorkQueue();
    let calls = 0;
    const workers = runWorkers(
      queue,
      1,
      async () => (++calls === 1 ? { requeueAfterMs: 20 } : {}),
      () => undefined,
    );
    queue.add('a');
    await jest.advanceTimersByTimeAsync(19);
    expect(calls).toBe(1);
    await jest.advanceTimersByTimeAsync(1);
    expect(calls).toBe(2);
    await jest.advanceTimersByTimeAsync(10_000);
    queue.shutDown();
    await workers;
    expect(calls).toBe(2);
  });
});
