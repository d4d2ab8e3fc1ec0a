// A work queue with client-go's semantics, and nothing of Kubernetes in it:
// - it holds keys, not events: a key added many times before a worker takes it is processed once;
// - a key being processed is never handed to a second worker; added meanwhile, it is processed
//   again once the first worker is done;
// - failures back off per key, exponentially, until forget() (called on success);
// - addAfter() schedules a key for later, keeping the earliest time when scheduled twice.

import { systemClock, type Clock } from '../api/clock.ts';

export interface BackoffOptions {
  baseDelayMs: number;
  maxDelayMs: number;
}

/** setTimeout's limit; longer delays are re-armed when they fire. */
const MAX_TIMER_MS = 2 ** 31 - 1;

export class WorkQueue {
  private readonly queue: string[] = [];
  private readonly dirty = new Set<string>();
  private readonly processing = new Set<string>();
  private readonly failures = new Map<string, number>();
  private readonly timers = new Map<string, { at: number; timer: NodeJS.Timeout }>();
  private readonly waiters: ((key: string | undefined) => void)[] = [];
  private shuttingDown = false;
  private readonly backoff: BackoffOptions;
  private readonly clock: Clock;

  constructor(backoff: BackoffOptions = { baseDelayMs: 200, maxDelayMs: 300_000 }, clock: Clock = systemClock) {
    this.backoff = backoff;
    this.clock = clock;
  }

  add(key: string): void {
    if (this.shuttingDown || this.dirty.has(key)) return;
    this.dirty.add(key);
    if (this.processing.has(key)) return;
    const waiter = this.waiters.shift();
    if (waiter) this.hand(key, waiter);
    else this.queue.push(key);
  }

  /** Adds `key` after `delayMs`; of two pending schedules for one key, the earlier wins. */
  addAfter(key: string, delayMs: number): void {
    if (this.shuttingDown) return;
    if (delayMs <= 0) return this.add(key);
    const at = this.clock().getTime() + delayMs;
    const pending = this.timers.get(key);
    if (pending && pending.at <= at) return;
    if (pending) clearTimeout(pending.timer);
    const timer = setTimeout(() => {
      this.timers.delete(key);
      const leftMs = at - this.clock().getTime();
      if (leftMs > 0) this.addAfter(key, leftMs);
      else this.add(key);
    }, Math.min(delayMs, MAX_TIMER_MS));
    timer.unref();
    this.timers.set(key, { at, timer });
  }

  /** Adds `key` after its next backoff delay: base * 2^(failures so far), capped. */
  addRateLimited(key: string): void {
    const failures = this.failures.get(key) ?? 0;
    this.failures.set(key, failures + 1);
    this.addAfter(key, this.backoffDelay(failures));
  }

  backoffDelay(failures: number): number {
    return Math.min(this.backoff.baseDelayMs * 2 ** failures, this.backoff.maxDelayMs);
  }

  /** Clears the failure count of `key`, so its next failure starts at the base delay again. */
  forget(key: string): void {
    this.failures.delete(key);
  }

  numRequeues(key: string): number {
    return this.failures.get(key) ?? 0;
  }

  /** The next key to process, or undefined once the queue is shut down. */
  get(): Promise<string | undefined> {
    const key = this.queue.shift();
    if (key !== undefined) {
      this.startProcessing(key);
      return Promise.resolve(key);
    }
    if (this.shuttingDown) return Promise.resolve(undefined);
    return new Promise((resolve) => this.waiters.push(resolve));
  }

  /** Marks `key` as processed; if it was added meanwhile, it goes back in the queue. */
  done(key: string): void {
    this.processing.delete(key);
    if (!this.dirty.has(key)) return;
    const waiter = this.waiters.shift();
    if (waiter) this.hand(key, waiter);
    else this.queue.push(key);
  }

  get length(): number {
    return this.queue.length;
  }

  shutDown(): void {
    this.shuttingDown = true;
    for (const { timer } of this.timers.values()) clearTimeout(timer);
    this.timers.clear();
    for (const waiter of this.waiters.splice(0)) waiter(undefined);
  }

  private hand(key: string, waiter: (key: string) => void): void {
    this.startProcessing(key);
    waiter(key);
  }

  private startProcessing(key: string): void {
    this.dirty.delete(key);
    this.processing.add(key);
  }
}

/** What a reconcile asks of the queue when it returns (a thrown error means: retry, backing off). */
export interface ReconcileResult {
  /** Reconcile again after this long (a renewal), without counting it as a failure. */
  requeueAfterMs?: number;
  /** Retry with backoff: the reconcile could not finish, and has said why in status. */
  retry?: boolean;
}

/**
 * Runs `workers` loops that take keys from `queue` and reconcile them, until the queue shuts
 * down. Resolves when every loop has stopped.
 */
export async function runWorkers(
  queue: WorkQueue,
  workers: number,
  reconcile: (key: string) => Promise<ReconcileResult>,
  onError: (key: string, error: unknown) => void,
): Promise<void> {
  const loop = async () => {
    for (let key = await queue.get(); key !== undefined; key = await queue.get()) {
      try {
        const result = await reconcile(key);
        if (result.retry) {
          queue.addRateLimited(key);
        } else {
          queue.forget(key);
          if (result.requeueAfterMs !== undefined) queue.addAfter(key, result.requeueAfterMs);
        }
      } catch (error) {
        onError(key, error);
        queue.addRateLimited(key);
      } finally {
        queue.done(key);
      }
    }
  };
  await Promise.all(Array.from({ length: workers }, loop));
}
