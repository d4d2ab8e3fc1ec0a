// The operator runs with the same Node flags everywhere: the image, `npm start`, and the tests and
// benchmarks (which measure its memory as deployed).

import { expect, test } from '@jest/globals';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { OPERATOR_NODE_FLAGS } from '../env/operator.ts';

const root = join(import.meta.dirname, '..', '..');

test('the Dockerfile entrypoint passes the flags', () => {
  const entrypoint = readFileSync(join(root, 'Dockerfile'), 'utf8').match(/^ENTRYPOINT (\[.*\])$/m)?.[1];
  expect(JSON.parse(entrypoint ?? '[]')).toEqual(['node', ...OPERATOR_NODE_FLAGS, 'src/cli/main.ts']);
});

test('npm start passes the flags', () => {
  const { scripts } = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { scripts: Record<string, string> };
  expect(scripts.start).toBe(['node', ...OPERATOR_NODE_FLAGS, 'src/cli/main.ts', 'run'].join(' '));
});
