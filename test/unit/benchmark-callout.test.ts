// The callout benchmark's pure parts: its flags, the closed loop that drives the connects, and the
// arithmetic and layout of what it prints.

import {
  connectsPerSecond,
  connectTable,
  costTable,
  fineMs,
  goalLines,
  mintLines,
  parseCalloutFlags,
  type Level,
  type Side,
} from '../../scripts/benchmark-callout-report.ts';
import { closedLoop } from '../../scripts/benchmark-loop.ts';

describe('callout benchmark flags', () => {
  test('defaults', () => {
    expect(parseCalloutFlags([])).toEqual({ workspaces: 50, connects: 1000, concurrency: [1, 50, 500], mintIterations: 200, freshTokens: false });
  });

  test('values', () => {
    expect(parseCalloutFlags(['--workspaces', '10', '--connects', '5000', '--concurrency', '2, 200', '--mint-iterations', '50', '--fresh-tokens'])).toEqual({
      workspaces: 10,
      connects: 5000,
      concurrency: [2, 200],
      mintIterations: 50,
      freshTokens: true,
    });
  });

  test.each([
    [['--workspaces', '0'], '--workspaces: "0" is not a whole number from 1 to 1000'],
    [['--connects', '1e3'], '--connects: "1e3" is not a whole number from 1 to 100000'],
    [['--concurrency', '1,,50'], '--concurrency: "" is not a whole number from 1 to 2000'],
    [['--concurrency', '5000'], '--concurrency: "5000" is not a whole number from 1 to 2000'],
    [['--mint-iterations=-1'], '--mint-iterations: "-1" is not a whole number from 1 to 10000'],
    [['--connect', '5'], "Unknown option '--connect'"],
  ])('%j is refused, naming the flag', (args, message) => {
    expect(() => parseCalloutFlags(args)).toThrow(message);
  });
});

describe('closed loop', () => {
  /** Opens that finish when the test says, so that what is in flight can be watched. */
  function controlledOpens() {
    const waiting: { i: number; done: (ok: boolean) => void }[] = [];
    let inFlight = 0;
    let peak = 0;
    const open = (i: number) =>
      new Promise<number>((resolve, reject) => {
        inFlight++;
        peak = Math.max(peak, inFlight);
        waiting.push({ i, done: (ok) => (inFlight--, ok ? resolve(i) : reject(new Error(`refused ${i % 2}`))) });
      });
    return { open, waiting, peak: () => peak };
  }
  const settle = () => new Promise((resolve) => setImmediate(resolve));

  test('keeps `concurrency` opens in flight until all are started, and times each open', async () => {
    const opens = controlledOpens();
    let clock = 0;
    const closed: number[] = [];
    const running = closedLoop({
      total: 7,
      concurrency: 3,
      open: opens.open,
      close: async (i) => void closed.push(i),
      describe: (error) => (error as Error).message,
      now: () => clock,
    });
    for (let finished = 0; finished < 7; finished++) {
      await settle();
      expect(opens.waiting.length).toBe(Math.min(3, 7 - finished));
      clock += 10;
      opens.waiting.shift()!.done(true);
    }
    const run = await running;
    expect(opens.peak()).toBe(3);
    expect(closed.sort()).toEqual([0, 1, 2, 3, 4, 5, 6]);
    // Opens 0-2 started at 0 and finished at 10, 20, 30; each later one started when one finished.
    expect(run.latencies).toEqual([10, 20, 30, 30, 30, 30, 30]);
    expect(run.wallMs).toBe(70);
    expect(run.failures.size).toBe(0);
  });

  test('counts failed opens by description, and does not close them', async () => {
    const opens = controlledOpens();
    const closed: number[] = [];
    const running = closedLoop({
      total: 5,
      concurrency: 2,
      open: opens.open,
      close: async (i) => void closed.push(i),
      describe: (error) => (error as Error).message,
    });
    for (let finished = 0; finished < 5; finished++) {
      await settle();
      const next = opens.waiting.shift()!;
      next.done(next.i === 0);
    }
    const run = await running;
    expect(closed).toEqual([0]);
    expect(run.latencies).toHaveLength(1);
    expect(run.failures).toEqual(new Map([['refused 1', 2], ['refused 0', 2]]));
  });

  test('starts no more lanes than attempts', async () => {
    const opens = controlledOpens();
    const running = closedLoop({ total: 2, concurrency: 50, open: opens.open, close: async () => undefined, describe: String });
    await settle();
    expect(opens.waiting).toHaveLength(2);
    for (const next of opens.waiting.splice(0)) next.done(true);
    expect((await running).latencies).toHaveLength(2);
  });
});

describe('callout benchmark report', () => {
  const side = (latencies: number[], wallMs: number, cpuMs = { client: 0, operator: 0, nats: 0 }): Side => ({ latencies, wallMs, cpuMs });
  const hundred = (ms: number) => Array.from({ length: 100 }, (_, i) => (i === 99 ? ms * 10 : ms));
  const levels: Level[] = [
    {
      concurrency: 1,
      callout: side(hundred(2), 250, { client: 50, operator: 100, nats: 150 }),
      creds: side(hundred(1), 125, { client: 40, operator: 0, nats: 80 }),
      operatorResidentBytes: 100 * 2 ** 20,
    },
    {
      concurrency: 50,
      callout: side(hundred(40), 50, { client: 50, operator: 90, nats: 140 }),
      creds: side(hundred(25), 100, { client: 45, operator: 1, nats: 70 }),
      operatorResidentBytes: 110 * 2 ** 20,
    },
  ];

  test('milliseconds keep about three significant digits', () => {
    expect([0.1234, 1.234, 12.34, 123.4].map(fineMs)).toEqual(['0.123 ms', '1.23 ms', '12.3 ms', '123 ms']);
  });

  test('connects per second count the successful connects over the wall time', () => {
    expect(connectsPerSecond(side([1, 1, 1, 1], 2))).toBe(2000);
  });

  test('the connect table: rates, percentiles and the ratios of callout over creds', () => {
    expect(connectTable(levels)).toEqual([
      '| in flight | callout connects/s | callout p50 | callout p99 | creds connects/s | creds p50 | creds p99 | p50 callout/creds | connects/s callout/creds |',
      '| --- | --- | --- | --- | --- | --- | --- | --- | --- |',
      '| 1 | 400 | 2.00 ms | 2.00 ms | 800 | 1.00 ms | 1.00 ms | 2.00x | 0.50x |',
      '| 50 | 2000 | 40.0 ms | 40.0 ms | 1000 | 25.0 ms | 25.0 ms | 1.60x | 2.00x |',
    ]);
  });

  test('the cost table: CPU per connect of each process and of all three, the ceiling that sets, and the operator memory', () => {
    const table = costTable(levels, 2);
    expect(table[0]).toContain('| connects/s ceiling on 2 cores (callout, creds) |');
    expect(table.slice(2)).toEqual([
      // Callout: 0.5 + 1.0 + 1.5 = 3 ms, so 2 cores run out at 667/s; creds: 0.4 + 0 + 0.8 = 1.2 ms.
      '| 1 | 1.00 ms | 1.50 ms, 0.800 ms | 0.500 ms, 0.400 ms | 3.00 ms, 1.20 ms | 667, 1667 | 100 MiB |',
      '| 50 | 0.900 ms | 1.40 ms, 0.700 ms | 0.500 ms, 0.450 ms | 2.80 ms, 1.16 ms | 714, 1724 | 110 MiB |',
    ]);
  });

  test('goals say what was measured, met or not', () => {
    expect(goalLines(levels)).toEqual([
      '>= 1000 callout connects/s: met (best 2000/s, at 50 in flight)',
      'callout p99 < 50 ms at 50 in flight: met (40.0 ms)',
      'callout connect <= 2x creds (p50): met (2.00x at 1, 1.60x at 50)',
    ]);
    const slow = [{ ...levels[0]!, concurrency: 500, callout: side(hundred(90), 500) }];
    expect(goalLines(slow)).toEqual([
      '>= 1000 callout connects/s: NOT met (best 200/s, at 500 in flight)',
      'callout p99 < 50 ms at 50 in flight: not measured (no level of 50)',
      'callout connect <= 2x creds (p50): NOT met (90.00x at 500)',
    ]);
  });

  test('mint figures: native and pure JS, and the speed-up', () => {
    expect(mintLines({ iterations: 200, mint: { native: 0.25, pureJs: 35 }, publicKey: { native: 0.05, pureJs: 9 } }).slice(2)).toEqual([
      '  user JWT + creds file (mintUserCredentials)    0.250 ms    35.0 ms   140.00x',
      '  key pair from seed + getPublicKey()            0.050 ms    9.00 ms   180.00x',
    ]);
  });
});
