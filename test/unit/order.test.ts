// byCodeUnits: the fixed order the operator sorts names, keys and timestamps in, and the guard that
// keeps String.localeCompare (ICU collation, 11 MiB resident once used) out of src/.

import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { byCodeUnits } from '../../src/api/order.ts';

test('orders by UTF-16 code units, whatever the locale', () => {
  expect(['b', 'B', 'a-2', 'a', 'a-10', 'Z'].sort(byCodeUnits)).toEqual(['B', 'Z', 'a', 'a-10', 'a-2', 'b']);
  expect(byCodeUnits('2026-01-02T00:00:00Z', '2026-01-02T00:00:00Z')).toBe(0);
  expect(byCodeUnits('2026-01-02T00:00:00Z', '2026-01-10T00:00:00Z')).toBeLessThan(0);
});

test('no source file calls localeCompare', () => {
  const src = join(import.meta.dirname, '..', '..', 'src');
  const offenders = readdirSync(src, { recursive: true, encoding: 'utf8' })
    .filter((file) => file.endsWith('.ts'))
    .filter((file) => /\.localeCompare\(/.test(readFileSync(join(src, file), 'utf8')));
  expect(offenders).toEqual([]);
});
