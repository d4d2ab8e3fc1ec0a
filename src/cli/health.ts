// What /healthz and /readyz answer. Liveness: the event loop is not stalled (a heartbeat timer that
// runs far too late means the process is stuck, however it still answers now and then). Readiness:
// named checks that the components pass once they serve (the callouts' caches, the webhook, the
// leader's caches), reported as Kubernetes' own endpoints report theirs.

/** How often the heartbeat runs. */
const HEARTBEAT_MS = 1000;
/**
 * How late a heartbeat may run before the process counts as stalled: far beyond what a busy
 * machine (shared cores, garbage collection) does to an event loop, so only a stuck one fails.
 */
const STALL_MS = 10_000;
/**
 * How long a stall is reported after it ended: long enough for the next probe (every 10 s) to see
 * it, and shorter than the 20 s that three failures in a row take (the Deployment's
 * failureThreshold), so a process that recovered is not restarted for it.
 */
const STALL_REPORTED_MS = 15_000;

export class EventLoopHeartbeat {
  readonly #now: () => number;
  #last: number;
  #stall: { lateMs: number; at: number } | undefined;
  #timer: NodeJS.Timeout | undefined;

  constructor(now: () => number = () => performance.now()) {
    this.#now = now;
    this.#last = now();
  }

  start(): void {
    this.#timer = setInterval(() => this.beat(), HEARTBEAT_MS);
    this.#timer.unref();
  }

  stop(): void {
    clearInterval(this.#timer);
  }

  /** One heartbeat (the timer's; tests call it with a clock of their own). */
  beat(): void {
    const now = this.#now();
    const lateMs = now - this.#last - HEARTBEAT_MS;
    if (lateMs > STALL_MS) this.#stall = { lateMs, at: now };
    this.#last = now;
  }

  /** Why the event loop counts as stalled; undefined when it does not. */
  problem(): string | undefined {
    const now = this.#now();
    const overdueMs = now - this.#last - HEARTBEAT_MS;
    if (overdueMs > STALL_MS) return `the event loop has not run its ${HEARTBEAT_MS / 1000}s heartbeat for ${seconds(overdueMs + HEARTBEAT_MS)}`;
    const stall = this.#stall;
    if (stall && now - stall.at < STALL_REPORTED_MS) return `the event loop stalled for ${seconds(stall.lateMs)}, ${seconds(now - stall.at)} ago`;
    return undefined;
  }
}

const seconds = (ms: number) => `${(ms / 1000).toFixed(1)}s`;

/** Named checks, each failing with a reason until it passes; in the order they were first named. */
export class Readiness {
  readonly #checks = new Map<string, string | undefined>();

  fail(name: string, reason: string): void {
    this.#checks.set(name, reason);
  }

  pass(name: string): void {
    this.#checks.set(name, undefined);
  }

  /** As kube-apiserver's /readyz: "ok" when all pass, else (or when `verbose`) a line per check. */
  report(verbose: boolean): { ready: boolean; body: string } {
    const failures = [...this.#checks.values()].filter((reason) => reason !== undefined);
    const ready = failures.length === 0;
    if (ready && !verbose) return { ready, body: 'ok\n' };
    const lines = [...this.#checks].map(([name, reason]) => (reason === undefined ? `[+]${name} ok` : `[-]${name} failed: ${reason}`));
    return { ready, body: `${lines.join('\n')}\nreadyz check ${ready ? 'passed' : 'failed'}\n` };
  }
}
