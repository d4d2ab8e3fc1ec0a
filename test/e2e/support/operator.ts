// Runs the operator under test as a real child process (node src/cli/main.ts run), so tests can
// kill it with SIGKILL and start it again, and scan its log output afterwards.

import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startProcess, type ManagedProcess } from '../../env/processes.ts';
import { waitFor } from '../../env/net.ts';

const MAIN = join(import.meta.dirname, '..', '..', '..', 'src', 'cli', 'main.ts');
let started = 0;

export interface OperatorOptions {
  kubeconfig: string;
  namespace: string;
  /** Extra flags, such as ['--resync-period', '2s']. */
  args?: string[];
}

export class OperatorProcess {
  readonly logFile: string;
  private process: ManagedProcess | undefined;
  private readonly options: OperatorOptions;

  constructor(options: OperatorOptions, logDir = mkdtempSync(join(tmpdir(), 'wno-operator-'))) {
    this.options = options;
    this.logFile = join(logDir, 'operator.log');
  }

  /** Starts the operator and waits until its caches are synced. */
  async start(): Promise<void> {
    const before = this.log().split('\n').length;
    this.process = startProcess({
      name: `operator-${++started}`,
      command: process.execPath,
      args: [
        MAIN,
        'run',
        '--kubeconfig',
        this.options.kubeconfig,
        '--namespace',
        this.options.namespace,
        '--log-level',
        'debug',
        ...(this.options.args ?? []),
      ],
      logFile: this.logFile,
    });
    await waitFor(
      async () => (this.log().split('\n').slice(before - 1).some((l) => l.includes('"msg":"started"')) ? true : undefined),
      { what: 'the operator to start', timeoutMs: 60_000, watch: [this.process] },
    );
  }

  /** Kills the operator with `signal` and waits until it is gone. */
  async kill(signal: NodeJS.Signals): Promise<void> {
    const child = this.process;
    if (!child?.isRunning()) return;
    process.kill(child.pid, signal);
    await child.exited;
  }

  async stop(): Promise<void> {
    await this.process?.stop();
  }

  log(): string {
    try {
      return readFileSync(this.logFile, 'utf8');
    } catch {
      return '';
    }
  }
}
