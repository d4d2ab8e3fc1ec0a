// The benchmark's pure parts: its flags, and how it counts API writes by kind.

import { byKind, kindsDiffer, percentile } from '../../scripts/benchmark-figures.ts';
import { parseBenchmarkFlags } from '../../scripts/benchmark-flags.ts';

describe('benchmark flags', () => {
  test('defaults', () => {
    expect(parseBenchmarkFlags([])).toEqual({ accesses: 200, workers: 16, logLevel: 'info' });
  });

  test('values', () => {
    expect(parseBenchmarkFlags(['--accesses', '1000', '--workers', '8', '--log-level', 'debug'])).toEqual({
      accesses: 1000,
      workers: 8,
      logLevel: 'debug',
    });
  });

  test.each([
    [['--accesses', '0'], '--accesses: "0" is not a whole number from 1 to 10000'],
    [['--accesses', '1e3'], '--accesses: "1e3" is not a whole number from 1 to 10000'],
    [['--accesses', '10001'], '--accesses: "10001" is not a whole number from 1 to 10000'],
    [['--workers', '65'], '--workers: "65" is not a whole number from 1 to 64'],
    [['--log-level', 'loud'], '--log-level: "loud" is not one of'],
    [['--acesses', '5'], "Unknown option '--acesses'"],
  ])('%j is refused, naming the flag', (args, message) => {
    expect(() => parseBenchmarkFlags(args)).toThrow(message);
  });
});

describe('API writes by kind', () => {
  const writes = [
    'update workspacenatsaccesses bench/a 200',
    'update workspacenatsaccesses/status bench/a 200',
    'update workspacenatsaccesses/status bench/a 409',
    'create events bench/ 201',
    'update workspacenatsaccesses bench/b 200',
  ];

  test('refused writes are counted apart, with their code', () => {
    expect(byKind(writes)).toEqual(
      new Map([
        ['update workspacenatsaccesses', 2],
        ['update workspacenatsaccesses/status', 1],
        ['update workspacenatsaccesses/status 409', 1],
        ['create events', 1],
      ]),
    );
  });

  test('the difference keeps only the kinds that differ, negative where the second has more', () => {
    const other = new Map([
      ['update workspacenatsaccesses', 2],
      ['update workspacenatsaccesses/status', 1],
      ['create secrets', 1],
    ]);
    expect(kindsDiffer(byKind(writes), other)).toEqual(
      new Map([
        ['update workspacenatsaccesses/status 409', 1],
        ['create events', 1],
        ['create secrets', -1],
      ]),
    );
  });
});

describe('benchmark figures', () => {
  test('percentiles by nearest rank', () => {
    const values = Array.from({ length: 100 }, (_, i) => 100 - i);
    expect([percentile(values, 50), percentile(values, 99), percentile(values, 100)]).toEqual([50, 99, 100]);
  });
});
