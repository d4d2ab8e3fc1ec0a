// `npm run busy -- [--cores N]`: keeps N cores (default: all) busy until stopped with Ctrl-C or a
// signal, so that the test suite can be run on a machine as busy as a shared CI runner:
//   npm run busy & for i in 1 2 3; do npm test || break; done; kill %1

import { availableParallelism } from 'node:os';
import { parseArgs } from 'node:util';
import { Worker } from 'node:worker_threads';

const { values } = parseArgs({ options: { cores: { type: 'string' } } });
const cores = Number(values.cores ?? availableParallelism());
if (!Number.isInteger(cores) || cores < 1) {
  process.stderr.write(`--cores: "${values.cores}" is not a whole number of at least 1\n`);
  process.exit(2);
}
const workers = Array.from({ length: cores }, () => new Worker('for (;;);', { eval: true }));
process.stderr.write(`busy: ${cores} core(s) spinning; stop with Ctrl-C\n`);
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, () => {
    for (const worker of workers) void worker.terminate();
    process.exit(0);
  });
}
