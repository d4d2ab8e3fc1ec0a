// A closed-loop load: a fixed number of attempts, `concurrency` of them in flight at all times (each
// lane starts the next attempt as soon as its last one is done), timing only the part that counts
// (open: a NATS login) and not the cleanup after it (close). Open-loop load (a fixed arrival rate)
// would measure queueing past saturation instead of the throughput the servers sustain.

/** What a closed loop measured. */
export interface LoopRun {
  /** Milliseconds each successful open took, in the order they finished. */
  latencies: number[];
  /** Failed opens, by the description of their error. */
  failures: Map<string, number>;
  /** From the first open started to the last close done. */
  wallMs: number;
}

export interface LoopOptions<T> {
  /** Attempts in all. */
  total: number;
  /** Attempts in flight at a time (no more than `total` lanes are started). */
  concurrency: number;
  /** The timed part of attempt `i`. */
  open: (i: number) => Promise<T>;
  /** Untimed cleanup after a successful open. */
  close: (opened: T) => Promise<void>;
  /** What a failed open is counted under. */
  describe: (error: unknown) => string;
  /** Milliseconds from some fixed point (default performance.now). */
  now?: () => number;
}

export async function closedLoop<T>(options: LoopOptions<T>): Promise<LoopRun> {
  const { total, open, close, describe } = options;
  const now = options.now ?? (() => performance.now());
  const latencies: number[] = [];
  const failures = new Map<string, number>();
  let next = 0;
  const lane = async () => {
    while (next < total) {
      const i = next++;
      const startedAt = now();
      let opened: T;
      try {
        opened = await open(i);
      } catch (error) {
        const reason = describe(error);
        failures.set(reason, (failures.get(reason) ?? 0) + 1);
        continue;
      }
      latencies.push(now() - startedAt);
      await close(opened);
    }
  };
  const startedAt = now();
  await Promise.all(Array.from({ length: Math.max(1, Math.min(options.concurrency, total)) }, lane));
  return { latencies, failures, wallMs: now() - startedAt };
}
