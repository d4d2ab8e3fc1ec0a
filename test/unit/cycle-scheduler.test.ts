// The revocation scheduler on a fake clock: linger, coalescing, backoff, the retry that nothing
// precedes, one push per whole second, and stop. No test waits in real time.

import { notOk, ok, type Result } from '../../src/api/failure.ts';
import { CycleScheduler } from '../../src/revocation/cycle-scheduler.ts';
import { FakeTime } from './fake-time.ts';

const START = new Date('2030-01-01T00:00:10.000Z');

/** A scheduler whose cycles record when they started and answer from `results` (default ok(60s)). */
function setup(options: { lingerMs?: number; maxBackoffMs?: number } = {}) {
  const time = new FakeTime(START);
  const runs: number[] = [];
  const results: Result<number>[] = [];
  let block: Promise<void> | undefined;
  const scheduler = new CycleScheduler({
    clock: time.clock,
    timers: time.timers,
    lingerMs: options.lingerMs ?? 100,
    maxBackoffMs: options.maxBackoffMs ?? 30_000,
    run: async () => {
      runs.push(time.ms - START.getTime());
      await block;
      return results.shift() ?? ok(60_000);
    },
  });
  /** Makes the next cycles hang until the returned function is called. */
  const hold = () => {
    let release = () => {};
    block = new Promise((resolve) => (release = resolve));
    return () => {
      block = undefined;
      release();
    };
  };
  return { time, runs, results, scheduler, hold };
}

describe('CycleScheduler', () => {
  test('a kick runs a cycle after the linger, and kicks meanwhile share it', async () => {
    const { time, runs, scheduler } = setup();
    scheduler.kick(100);
    await time.advance(50);
    scheduler.kick(100);
    scheduler.kick(100);
    await time.advance(49);
    expect(runs).toEqual([]);
    await time.advance(1);
    expect(runs).toEqual([100]);
    await time.advance(1000);
    expect(runs).toEqual([100]);
    await scheduler.stop();
  });

  test('a sooner kick moves the cycle earlier; a later one does not delay it', async () => {
    const { time, runs, scheduler } = setup();
    scheduler.kick(500);
    scheduler.kick(0);
    scheduler.kick(800);
    await time.advance(0);
    expect(runs).toEqual([0]);
    await scheduler.stop();
  });

  test('a kick while a cycle runs makes it run again, once, a linger after', async () => {
    const { time, runs, scheduler, hold } = setup();
    const release = hold();
    scheduler.kick(0);
    await time.advance(0);
    expect(runs).toEqual([0]);
    scheduler.kick(0);
    scheduler.kick(0);
    await time.advance(30);
    release();
    await time.advance(99);
    expect(runs).toEqual([0]);
    await time.advance(1);
    expect(runs).toEqual([0, 130]);
    await scheduler.stop();
  });

  test('after a success, the next cycle is when the cycle said', async () => {
    const { time, runs, results, scheduler } = setup();
    results.push(ok(5000));
    scheduler.kick(0);
    await time.advance(4999);
    expect(runs).toEqual([0]);
    await time.advance(1);
    expect(runs).toEqual([0, 5000]);
    await scheduler.stop();
  });

  test('failures back off exponentially up to the maximum, and a success resets the backoff', async () => {
    const { time, runs, results, scheduler } = setup({ maxBackoffMs: 5000 });
    results.push(notOk('down'), notOk('down'), notOk('down'), notOk('down'), ok(60_000));
    scheduler.kick(0);
    await time.advance(30_000);
    // 1 s, 2 s, 4 s, then 5 s (the maximum) between the tries.
    expect(runs).toEqual([0, 1000, 3000, 7000, 12_000]);
    results.push(notOk('down'));
    scheduler.kick(0);
    await time.advance(0);
    await time.advance(999);
    expect(runs).toHaveLength(6);
    await time.advance(1);
    expect(runs).toEqual([0, 1000, 3000, 7000, 12_000, 30_000, 31_000]);
    await scheduler.stop();
  });

  test('while backing off, nothing runs sooner than the retry', async () => {
    const { time, runs, results, scheduler } = setup();
    results.push(notOk('down'));
    scheduler.kick(0);
    await time.advance(0);
    scheduler.kick(0);
    await time.advance(500);
    expect(runs).toEqual([0]);
    await time.advance(500);
    expect(runs).toEqual([0, 1000]);
    await scheduler.stop();
  });

  test('no cycle starts within the whole second of the last push', async () => {
    const { time, runs, scheduler } = setup();
    await time.advance(300);
    scheduler.pushed(time.clock());
    scheduler.kick(0);
    await time.advance(699);
    // The cycle has begun (it is waiting), but does not run before the next second.
    expect(runs).toEqual([]);
    await time.advance(1);
    expect(runs).toEqual([1000]);
    // A push in an earlier second holds nothing up.
    scheduler.pushed(new Date(time.ms - 1000));
    scheduler.kick(0);
    await time.advance(0);
    expect(runs).toEqual([1000, 1000]);
    await scheduler.stop();
  });

  test('stop cancels the timer and waits for the cycle running', async () => {
    const { time, runs, scheduler, hold } = setup();
    const release = hold();
    scheduler.kick(0);
    await time.advance(0);
    let stopped = false;
    const stopping = scheduler.stop().then(() => (stopped = true));
    await time.advance(10);
    expect(stopped).toBe(false);
    release();
    await stopping;
    scheduler.kick(0);
    await time.advance(120_000);
    expect(runs).toEqual([0]);
    expect(time.dues()).toEqual([]);
  });
});
