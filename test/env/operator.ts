// Runs the operator under test as a real child process (node src/cli/main.ts run), so e2e tests
// can kill it with SIGKILL and start it again, and scan its log output afterwards; the benchmarks
// run it the same way. Each serves its metrics and probes on a port of its own (metricsUrl), kept
// across restarts: replicas on one machine cannot all have the default 8080.

import { mkdtempSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { startProcess, type ManagedProcess } from './processes.ts';
import { freePort, waitFor } from './net.ts';
import { secretMaterialIn } from './cluster.ts';

const MAIN = join(import.meta.dirname, '..', '..', 'src', 'cli', 'main.ts');
/** The Lease the operator elects its leader with, in its namespace (src/cli/main.ts). */
export const LEADER_LEASE = 'workspace-nats-operator';
/**
 * How long after its due time a waiting replica may come to hold the Lease: it sees the leader's
 * last renewal through its watch, and at the expiry (a timer of its own) reads and writes the Lease.
 * Those are requests to the API server, and a moment of its event loop each: milliseconds on an
 * idle machine, up to hundreds when the cores are shared with the control plane, NATS and other
 * suites. The lease duration is not stretched by load: it is a span of the clock.
 */
export const TAKEOVER_ALLOWANCE_MS = 1_000;
/** Node's flags for the operator, as the image (Dockerfile) and `npm start` give them. */
export const OPERATOR_NODE_FLAGS = ['--max-semi-space-size=1', '--optimize-for-size'];
/** The C library's allocator settings for the operator, as the image (Dockerfile) and `npm start` give them. */
export const OPERATOR_MALLOC_ENV = { MALLOC_ARENA_MAX: '2', MALLOC_MMAP_THRESHOLD_: '131072' };
let started = 0;

export interface OperatorOptions {
  kubeconfig: string;
  namespace: string;
  /** The namespaces it serves (--namespaces), matching its kubeconfig's rights. */
  serves: string[];
  /** Extra flags, such as ['--resync-period', '2s']. */
  args?: string[];
}

export class OperatorProcess {
  readonly logFile: string;
  private process: ManagedProcess | undefined;
  /** First log line of the current process (the log file is kept across restarts). */
  private firstLine = 1;
  private readonly options: OperatorOptions;
  private metricsPort: number | undefined;

  /** `logDir` should be the environment's temp root, which is removed when the run ends. */
  constructor(options: OperatorOptions, logDir: string) {
    this.options = options;
    // A folder of its own: test files share a process, and each starts counting afresh.
    this.logFile = join(mkdtempSync(join(logDir, 'operator-')), 'operator.log');
  }

  /**
   * Starts the operator and waits until it logs `readyMessage`: by default "started" (caches
   * synced, workers running).
   */
  async start(readyMessage = 'started'): Promise<void> {
    this.firstLine = this.log().split('\n').length;
    this.metricsPort ??= await freePort();
    this.process = startProcess({
      name: `operator-${++started}`,
      command: process.execPath,
      args: [
        ...OPERATOR_NODE_FLAGS,
        MAIN,
        'run',
        '--kubeconfig',
        this.options.kubeconfig,
        '--namespace',
        this.options.namespace,
        '--log-level',
        'debug',
        '--namespaces',
        this.options.serves.join(','),
        '--metrics-port',
        String(this.metricsPort),
        ...(this.options.args ?? []),
      ],
      logFile: this.logFile,
      env: OPERATOR_MALLOC_ENV,
    });
    await this.waitForLog(readyMessage, 60_000);
  }

  /** Where it serves /metrics, /healthz and /readyz (http://127.0.0.1:PORT), once started. */
  get metricsUrl(): string {
    if (this.metricsPort === undefined) throw new Error('the operator has not been started');
    return `http://127.0.0.1:${this.metricsPort}`;
  }

  /** The current process's id (the benchmark reads its CPU time and memory from /proc). */
  get pid(): number | undefined {
    return this.process?.isRunning() ? this.process.pid : undefined;
  }

  /** Waits until the current process logs `message` (the pino "msg" field). */
  async waitForLog(message: string, timeoutMs: number): Promise<void> {
    const current = this.process;
    await waitFor(
      async () => (this.linesSince(this.firstLine).some((l) => l.includes(`"msg":"${message}"`)) ? true : undefined),
      { what: `the operator to log "${message}"`, timeoutMs, watch: current ? [current] : [] },
    );
  }

  /** Kills the operator with `signal` and waits until it is gone. */
  async kill(signal: NodeJS.Signals): Promise<void> {
    const child = this.process;
    if (!child?.isRunning()) return;
    process.kill(child.pid, signal);
    await child.exited;
  }

  /**
   * Stops the operator, then fails if its log holds a seed or a JWT: so every operator of the run
   * is checked for leaking secrets, whatever its suite tested.
   */
  async stop(): Promise<void> {
    await this.process?.stop();
    const leaked = secretMaterialIn(this.log());
    if (leaked.length > 0) {
      throw new Error(`the operator logged ${leaked.length} seed(s) or JWT(s) (${this.logFile})`);
    }
  }

  /** Log lines from line `from` (1-based) on. */
  linesSince(from: number): string[] {
    return this.log().split('\n').slice(from - 1);
  }

  log(): string {
    try {
      return readFileSync(this.logFile, 'utf8');
    } catch {
      return '';
    }
  }
}
