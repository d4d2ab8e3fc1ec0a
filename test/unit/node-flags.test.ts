// The operator runs with the same Node flags and allocator settings everywhere: the image, `npm
// start`, and the tests and benchmarks (which measure its memory as deployed).

import { expect, test } from '@jest/globals';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { OPERATOR_MALLOC_ENV, OPERATOR_NODE_FLAGS } from '../env/operator.ts';

const root = join(import.meta.dirname, '..', '..');

test('the Dockerfile entrypoint passes the flags', () => {
  const entrypoint = readFileSync(join(root, 'Dockerfile'), 'utf8').match(/^ENTRYPOINT (\[.*\])$/m)?.[1];
  expect(JSON.parse(entrypoint ?? '[]')).toEqual(['node', ...OPERATOR_NODE_FLAGS, 'src/cli/main.ts']);
});

const mallocAssignments = Object.entries(OPERATOR_MALLOC_ENV).map(([name, value]) => `${name}=${value}`);

test('the Dockerfile sets the allocator settings', () => {
  const env = readFileSync(join(root, 'Dockerfile'), 'utf8').match(/^ENV (.*)$/m)?.[1];
  expect(env?.split(' ')).toEqual(mallocAssignments);
});

test('npm start passes the flags and the allocator settings', () => {
  const { scripts } = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { scripts: Record<string, string> };
  expect(scripts.start).toBe([...mallocAssignments, 'node', ...OPERATOR_NODE_FLAGS, 'src/cli/main.ts', 'run'].join(' '));
});
