// A work queue with client-go's semantics, and nothing of Kubernetes in it:
// - it holds keys, not events: a key added many times before a worker takes it is processed once;
// - a key being processed is never handed to a second worker; added meanwhile, it is processed
//   again once the first worker is done;
// - failures back off per key, exponentially, until forget() (called on success);
// - addAfter() schedules a key for later, keeping the earliest time when scheduled twice.
// It tells its metrics what client-go's queue metrics report, and runWorkers what
// controller-runtime's do (src/metrics.ts).

import { systemClock, type Clock } from '../api/clock.ts';
import type { ReconcileMetrics, ReconcileOutcome, WorkQueueMetrics, WorkQueueState } from '../metrics.ts';

export interface BackoffOptions {
  baseDelayMs: number;
  maxDelayMs: number;
}

const NO_QUEUE_METRICS: WorkQueueMetrics = { added() {}, taken() {}, finished() {}, retried() {}, observe() {} };

/** setTimeout's limit; longer delays are re-armed when they fire. */
const MAX_TIMER_MS = 2 ** 31 - 1;

export class WorkQueue {
  private readonly queue: string[] = [];
  private readonly dirty = new Set<string>();
  /** Keys in progress, and since when (ms). */
  private readonly processing = new Map<string, number>();
  /** When each waiting key was added (ms). */
  private readonly addedAt = new Map<string, number>();
  private readonly failures = new Map<string, number>();
  private readonly timers = new Map<string, { at: number; timer: NodeJS.Timeout }>();
  private readonly waiters: ((key: string | undefined) => void)[] = [];
  private shuttingDown = false;
  private readonly backoff: BackoffOptions;
  private readonly clock: Clock;
  private readonly metrics: WorkQueueMetrics;

  constructor(backoff: BackoffOptions = { baseDelayMs: 200, maxDelayMs: 300_000 }, clock: Clock = systemClock, metrics = NO_QUEUE_METRICS) {
    this.backoff = backoff;
    this.clock = clock;
    this.metrics = metrics;
    metrics.observe(() => this.state());
  }

  add(key: string): void {
    if (this.shuttingDown || this.dirty.has(key)) return;
    this.dirty.add(key);
    this.addedAt.set(key, this.clock().getTime());
    this.metrics.added();
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
    this.metrics.retried();
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
    const since = this.processing.get(key);
    this.processing.delete(key);
    if (since !== undefined) this.metrics.finished((this.clock().getTime() - since) / 1000);
    if (!this.dirty.has(key)) return;
    const waiter = this.waiters.shift();
    if (waiter) this.hand(key, waiter);
    else this.queue.push(key);
  }

  get length(): number {
    return this.queue.length;
  }

  state(): WorkQueueState {
    const now = this.clock().getTime();
    let unfinishedMs = 0;
    let longestMs = 0;
    for (const since of this.processing.values()) {
      unfinishedMs += now - since;
      longestMs = Math.max(longestMs, now - since);
    }
    return { depth: this.dirty.size, unfinishedSeconds: unfinishedMs / 1000, longestRunningSeconds: longestMs / 1000 };
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
    const now = this.clock().getTime();
    this.dirty.delete(key);
    this.metrics.taken((now - (this.addedAt.get(key) ?? now)) / 1000);
    this.addedAt.delete(key);
    this.processing.set(key, now);
  }
}

/** What a reconcile asks of the queue when it returns (a thrown error means: retry, backing off). */
export interface ReconcileResult {
  /** Reconcile again after this long (a renewal), without counting it as a failure. */
  requeueAfterMs?: number;
  /** Retry with backoff: the reconcile could not finish, and has said why in status. */
  retry?: boolean;
}

const NO_RECONCILE_METRICS: ReconcileMetrics = { workers() {}, started() {}, finished() {} };

/**
 * Runs `workers` loops that take keys from `queue` and reconcile them, until the queue shuts
 * down. Resolves when every loop has stopped.
 */
export async function runWorkers(
  queue: WorkQueue,
  workers: number,
  reconcile: (key: string) => Promise<ReconcileResult>,
  onError: (key: string, error: unknown) => void,
  metrics = NO_RECONCILE_METRICS,
): Promise<void> {
  metrics.workers(workers);
  const loop = async () => {
    for (let key = await queue.get(); key !== undefined; key = await queue.get()) {
      const started = performance.now();
      let outcome: ReconcileOutcome = 'error';
      metrics.started();
      try {
        const result = await reconcile(key);
        if (result.retry) {
          outcome = 'requeue';
          queue.addRateLimited(key);
        } else {
          outcome = result.requeueAfterMs === undefined ? 'success' : 'requeue_after';
          queue.forget(key);
          if (result.requeueAfterMs !== undefined) queue.addAfter(key, result.requeueAfterMs);
        }
      } catch (error) {
        onError(key, error);
        queue.addRateLimited(key);
      } finally {
        metrics.finished(outcome, (performance.now() - started) / 1000);
        queue.done(key);
      }
    }
  };
  await Promise.all(Array.from({ length: workers }, loop));
}
