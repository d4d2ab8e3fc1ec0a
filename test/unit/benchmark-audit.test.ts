// The audit benchmark's pure parts: its flags, how it counts the operator's audit lines, and the
// arithmetic and layout of what it prints.

import { auditReport, countAuditLines, lost, parseAuditFlags, type AuditRun, type Connects, type Phase } from '../../scripts/benchmark-audit-report.ts';

describe('audit benchmark flags', () => {
  test('defaults', () => {
    expect(parseAuditFlags([])).toEqual({ workspaces: 50, accesses: 50, connects: 1000 });
  });

  test('values', () => {
    expect(parseAuditFlags(['--workspaces', '10', '--accesses=200', '--connects', '5000'])).toEqual({ workspaces: 10, accesses: 200, connects: 5000 });
  });

  test.each([
    [['--workspaces', '0'], '--workspaces: "0" is not a whole number from 1 to 1000'],
    [['--accesses', '10001'], '--accesses: "10001" is not a whole number from 1 to 10000'],
    [['--connects', '1e3'], '--connects: "1e3" is not a whole number from 1 to 100000'],
    [['--connects', ''], '--connects: "" is not a whole number from 1 to 100000'],
    [['--connect', '5'], "Unknown option '--connect'"],
    [['5'], "Unexpected argument '5'"],
  ])('%j is refused, naming the flag', (args, message) => {
    expect(() => parseAuditFlags(args)).toThrow(message);
  });
});

describe('counting audit lines', () => {
  const ours = new Set(['bench/ws-0', 'bench/ws-1']);
  const line = (fields: Record<string, unknown>) => `${JSON.stringify({ level: 30, logger: 'audit', ...fields })}\n`;
  const connect = (access: string) => line({ event: 'connect', attribution: 'access', namespace: 'bench', access });
  const disconnect = (access: string) => line({ event: 'disconnect', attribution: 'access', namespace: 'bench', access });

  test('connects and disconnects attributed to the accesses used, everything else by event and attribution', () => {
    const log = [
      connect('ws-0'),
      connect('ws-1'),
      disconnect('ws-0'),
      '{"level":30,"msg":"reconciled","access":"ws-0"}\n',
      line({ event: 'connect', attribution: 'unknown' }),
      connect('other'),
      line({ event: 'auth_error', attribution: 'revoked', namespace: 'bench', access: 'ws-1' }),
    ].join('');
    expect(countAuditLines(log, ours)).toEqual({
      connect: 2,
      disconnect: 1,
      other: new Map([
        ['connect unknown', 1],
        ['connect access', 1],
        ['auth_error revoked', 1],
      ]),
    });
  });

  test('a last line without its newline is still being written, and is not counted yet', () => {
    const log = connect('ws-0') + connect('ws-1').slice(0, 30);
    expect(countAuditLines(log, ours)).toMatchObject({ connect: 1 });
    expect(countAuditLines('', ours)).toEqual({ connect: 0, disconnect: 0, other: new Map() });
  });
});

describe('audit benchmark report', () => {
  const times = (ms: number) => ({ latencies: Array.from({ length: 20 }, (_, i) => (i === 19 ? ms * 2 : ms)), totalMs: ms * 3 });
  const phase = (ms: number, cpuMs: number, writes: number): Phase => ({ times: times(ms), cpuMs, writes: new Map([['create events', writes]]) });
  const connects = (wallMs: number, failures: [string, number][] = []): Connects => ({
    latencies: Array.from({ length: 1000 }, () => 40),
    wallMs,
    failures: new Map(failures),
    clientCpuMs: 900,
  });
  const run: AuditRun = {
    flags: { workspaces: 50, accesses: 20, connects: 1000 },
    inFlight: 50,
    cores: 2,
    load: [2.04, 1.5],
    quiet: phase(400, 300, 80),
    unaudited: { ...phase(440, 320, 80), connects: connects(2000) },
    audited: { ...phase(500, 820, 120), connects: connects(2500) },
    audit: { connect: 1000, disconnect: 998, other: new Map() },
    auditSettledMs: 3100,
    memory: { before: 100 * 2 ** 20, peak: 112 * 2 ** 20, after: 105 * 2 ** 20 },
  };

  test('lost lines: expected minus found, each event apart (negative: more than expected)', () => {
    expect(lost(run)).toEqual({ connect: 0, disconnect: 2 });
    expect(lost({ ...run, audit: { ...run.audit, connect: 1001 } })).toEqual({ connect: -1, disconnect: 2 });
  });

  test('the table: each phase, audited over quiet and over not audited', () => {
    const lines = auditReport(run);
    expect(lines.slice(2, 10)).toEqual([
      '| figure | NATS quiet | connects not audited | audited connects | audited / quiet | audited / not audited |',
      '| --- | --- | --- | --- | --- | --- |',
      '| create -> Ready, p50 | 400 ms | 440 ms | 500 ms | 1.25x | 1.14x |',
      '| create -> Ready, p95 | 400 ms | 440 ms | 500 ms | 1.25x | 1.14x |',
      '| create -> Ready, max | 800 ms | 880 ms | 1000 ms | 1.25x | 1.14x |',
      '| all 20 Ready | 1200 ms | 1320 ms | 1500 ms | 1.25x | 1.14x |',
      '| operator CPU | 300 ms | 320 ms | 820 ms | 2.73x | 2.56x |',
      '| operator API writes | 80 | 80 | 120 | 1.50x | 1.50x |',
    ]);
  });

  test('the bursts, the audit lines, the memory and the goals', () => {
    const text = auditReport(run).join('\n');
    expect(text).toContain('audited connects: 1000 in 2500 ms (400/s), connect + round trip p50 40.0 ms, p99 40.0 ms; load generator CPU 900 ms; failed: none');
    expect(text).toContain('operator CPU per audited connect: 0.500 ms');
    expect(text).toContain('audit lines: 1000 connect and 998 disconnect attributed to an access, of 1000 each (all in the log 3100 ms after the burst began)');
    expect(text).toContain('operator RSS: 100 MiB before the audited connects, 112 MiB at most during them (sampled every 100 ms), 105 MiB after');
    expect(text).toContain('at most 1.20x with NATS quiet (p50, p95): NOT met (1.25x, 1.25x)');
    expect(text).toContain('no audit line lost: NOT met (lost 0 connect, 2 disconnect)');
    const good = auditReport({ ...run, audited: { ...run.audited, times: times(480) }, audit: { ...run.audit, disconnect: 1000 } }).join('\n');
    expect(good).toContain('(p50, p95): met (1.20x, 1.20x)');
    expect(good).toContain('no audit line lost: met (lost 0 connect, 0 disconnect)');
  });

  test('failed connects are listed by reason; without an API server audit log, writes are not counted', () => {
    const text = auditReport({
      ...run,
      quiet: { ...run.quiet, writes: undefined },
      unaudited: { ...run.unaudited, connects: connects(2000, [['Authorization Violation', 3]]), writes: undefined },
      audited: { ...run.audited, writes: undefined },
    }).join('\n');
    expect(text).toContain('failed: Authorization Violation 3');
    expect(text).toContain('operator API writes during the audited connects: not counted (no API server audit log)');
    expect(text).toContain('| operator API writes | - | - | - | - | - |');
  });
});
