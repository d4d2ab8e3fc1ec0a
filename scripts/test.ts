// `npm test`: the unit and the e2e project side by side. The e2e suites share one API server, so
// they run one at a time, and spend most of that time waiting on servers and timers (expiries,
// renewals, restarts); the unit tests only need a core, so running them meanwhile takes their
// minute off the run. The unit output is printed as one block when they finish, so it does not
// interleave with the e2e output. With arguments (`npm test -- test/unit/x.test.ts`), this is plain
// jest with those arguments.

import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const JEST = fileURLToPath(new URL('../node_modules/jest/bin/jest.js', import.meta.url));
const env = { ...process.env, NODE_OPTIONS: `${process.env.NODE_OPTIONS ?? ''} --experimental-vm-modules`.trim() };

const exitCode = (child: ChildProcess) =>
  new Promise<number>((resolve) => child.on('close', (code, signal) => resolve(code ?? (signal ? 1 : 0))));

function jest(args: string[], capture: boolean): { done: Promise<number>; output: () => string } {
  const child = spawn(process.execPath, [JEST, ...args], { env, stdio: capture ? ['ignore', 'pipe', 'pipe'] : 'inherit' });
  const chunks: Buffer[] = [];
  child.stdout?.on('data', (chunk: Buffer) => chunks.push(chunk));
  child.stderr?.on('data', (chunk: Buffer) => chunks.push(chunk));
  // Ctrl-C reaches both through the process group; a SIGTERM to this script is passed on.
  process.once('SIGTERM', () => child.kill('SIGTERM'));
  return { done: exitCode(child), output: () => Buffer.concat(chunks).toString('utf8') };
}

const args = process.argv.slice(2);
if (args.length > 0) {
  process.exitCode = await jest(args, false).done;
} else {
  const unit = jest(['--selectProjects', 'unit'], true);
  const e2e = jest(['--selectProjects', 'e2e'], false);
  const unitDone = unit.done.then((code) => {
    process.stdout.write(`\n===== unit tests (ran beside the e2e tests) =====\n${unit.output()}===== end of unit tests =====\n\n`);
    return code;
  });
  const [unitCode, e2eCode] = await Promise.all([unitDone, e2e.done]);
  process.exitCode = unitCode !== 0 ? unitCode : e2eCode;
}
