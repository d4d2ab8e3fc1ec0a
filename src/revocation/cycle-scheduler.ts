// When an account's revocation cycles run. One at a time: a kick while a cycle runs makes it run
// again after (so what arrived meanwhile is not lost, and no push overwrites another), a kick
// lingers to gather the requests that follow, a failed cycle is retried with exponential backoff
// and nothing runs sooner than that retry, and no cycle starts within the whole second of the last
// push (servers comparing copies keep the one with the later iat, in whole seconds). Time comes
// from the injected clock and timers, so that a test can step through all of it without waiting.

import type { Clock } from '../api/clock.ts';
import type { Result } from '../api/failure.ts';

/** The timer functions to wait with; tests pass fake ones that a fake clock drives. */
export interface Timers {
  setTimeout: (callback: () => void, ms: number) => unknown;
  clearTimeout: (handle: unknown) => void;
}

export const systemTimers: Timers = {
  setTimeout: (callback, ms) => setTimeout(callback, ms),
  clearTimeout: (handle) => clearTimeout(handle as NodeJS.Timeout),
};

export const sleepWith =
  (timers: Timers) =>
  (ms: number): Promise<void> =>
    new Promise((resolve) => timers.setTimeout(resolve, ms));

export interface CycleSchedulerDeps {
  clock: Clock;
  timers: Timers;
  /** One cycle: ok with when the next is due (in ms), or why it failed. */
  run: () => Promise<Result<number>>;
  /** How long a kicked cycle waits, to gather what follows. */
  lingerMs: number;
  /** Longest wait between retries after a failed cycle. */
  maxBackoffMs: number;
}

export class CycleScheduler {
  private readonly deps: CycleSchedulerDeps;
  private readonly sleep: (ms: number) => Promise<void>;
  private timer: unknown;
  private timerDue = Infinity;
  private running: Promise<void> | undefined;
  private again = false;
  private backoffMs = 0;
  /** When the retry after a failed cycle is due, in ms (0: not backing off). */
  private retryDue = 0;
  /** The whole second (unix) of the last push. */
  private lastPushSecond = 0;
  private stopped = false;

  constructor(deps: CycleSchedulerDeps) {
    this.deps = deps;
    this.sleep = sleepWith(deps.timers);
  }

  /** Runs a cycle after `delayMs`, unless one is due sooner; one running now runs again after. */
  kick(delayMs: number): void {
    if (this.stopped) return;
    if (this.running) {
      this.again = true;
      return;
    }
    const now = this.deps.clock().getTime();
    // While backing off after a failure, nothing runs sooner than the retry.
    const due = Math.max(now + delayMs, this.retryDue);
    if (this.timer !== undefined && this.timerDue <= due) return;
    this.deps.timers.clearTimeout(this.timer);
    this.timerDue = due;
    this.timer = this.deps.timers.setTimeout(() => {
      this.timer = undefined;
      this.timerDue = Infinity;
      this.retryDue = 0;
      this.running = (async () => {
        const nextInMs = await this.runOnce();
        this.running = undefined;
        this.kick(nextInMs);
      })();
    }, due - now);
  }

  /** A JWT issued at `issuedAt` was pushed: the next cycle waits for the second after. */
  pushed(issuedAt: Date): void {
    this.lastPushSecond = Math.floor(issuedAt.getTime() / 1000);
  }

  /** No cycle starts after this; resolves when the one running (if any) is over. */
  async stop(): Promise<void> {
    this.stopped = true;
    this.deps.timers.clearTimeout(this.timer);
    this.timer = undefined;
    await this.running;
  }

  /** One cycle; returns when the next one is due. */
  private async runOnce(): Promise<number> {
    this.again = false;
    // What arrives during this wait joins the cycle.
    const waitMs = (this.lastPushSecond + 1) * 1000 - this.deps.clock().getTime();
    if (waitMs > 0) await this.sleep(waitMs);
    const result = await this.deps.run();
    if (!result.ok) {
      this.backoffMs = Math.min(Math.max(1000, this.backoffMs * 2), this.deps.maxBackoffMs);
      this.retryDue = this.deps.clock().getTime() + this.backoffMs;
      return this.backoffMs;
    }
    this.backoffMs = 0;
    return this.again ? this.deps.lingerMs : result.value;
  }
}
