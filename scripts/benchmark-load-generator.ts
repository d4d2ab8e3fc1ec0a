// The benchmarks' side of the NATS load generator (benchmark-callout-load.ts): a child process with
// an IPC channel, one job at a time. A process of its own, so that its event loop serves only the
// connects it times and its CPU is read apart from the benchmark's, the operator's and
// nats-server's. Used by `npm run benchmark:callout` and `npm run benchmark:audit`.

import { fork } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import type { LoadJob, LoadResult } from './benchmark-callout-load.ts';
import { benchLog } from './benchmark-setup.ts';

export interface LoadGenerator {
  run(job: LoadJob): Promise<LoadResult>;
  stop(): Promise<void>;
}

/** Starts benchmark-callout-load.ts as a child process; one job at a time. */
export function startLoadGenerator(): LoadGenerator {
  const child = fork(fileURLToPath(new URL('./benchmark-callout-load.ts', import.meta.url)), [], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  let pending: { resolve: (result: LoadResult) => void; reject: (error: Error) => void } | undefined;
  child.on('message', (message: { result?: LoadResult; error?: string }) => {
    const waiting = pending;
    pending = undefined;
    if (message.result) waiting?.resolve(message.result);
    else waiting?.reject(new Error(`the load generator failed: ${message.error}`));
  });
  child.once('exit', (code, signal) => pending?.reject(new Error(`the load generator exited (${signal ?? code})`)));
  return {
    run(job) {
      if (pending) throw new Error('the load generator runs one job at a time');
      return new Promise((resolve, reject) => {
        pending = { resolve, reject };
        child.send(job);
      });
    },
    async stop() {
      if (child.connected) child.disconnect();
      const killed = setTimeout(() => {
        benchLog.warn({ pid: child.pid }, 'the load generator did not exit; killing it');
        child.kill('SIGKILL');
      }, 5000);
      await exited;
      clearTimeout(killed);
    },
  };
}
