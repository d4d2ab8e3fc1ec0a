// A clock and timers that move only when a test says so, for code that takes an injected Clock and
// Timers: advance() fires what falls due in order and lets the promises it starts settle, so that
// seconds of backoff or linger take no real time.

import type { Clock } from '../../src/api/clock.ts';
import type { Timers } from '../../src/revocation/cycle-scheduler.ts';

interface FakeTimer {
  id: number;
  due: number;
  callback: () => void;
}

/** Lets every promise chain that needs no real I/O run to its end. */
export const settle = async () => {
  for (let i = 0; i < 5; i++) await new Promise((resolve) => setImmediate(resolve));
};

/** More than any test needs in one advance(); see there. */
const MAX_TIMERS_PER_ADVANCE = 1000;

export class FakeTime {
  /** Milliseconds since the epoch. */
  ms: number;
  private pending: FakeTimer[] = [];
  private nextId = 1;

  constructor(start: Date) {
    this.ms = start.getTime();
  }

  readonly clock: Clock = () => new Date(this.ms);

  readonly timers: Timers = {
    setTimeout: (callback, ms) => {
      const timer = { id: this.nextId++, due: this.ms + Math.max(ms, 0), callback };
      this.pending.push(timer);
      return timer.id;
    },
    clearTimeout: (handle) => {
      this.pending = this.pending.filter((timer) => timer.id !== handle);
    },
  };

  /** When the timers set now are due, soonest first (ms since the epoch). */
  dues(): number[] {
    return this.pending.map((timer) => timer.due).sort((a, b) => a - b);
  }

  /**
   * Moves the clock `ms` forward, firing each timer due on the way at its own time. Throws when
   * timers keep falling due without end (code that sets one again without delay, each time it
   * fires), which would otherwise hang the test instead of failing it.
   */
  async advance(ms: number): Promise<void> {
    const end = this.ms + ms;
    for (let fired = 0; ; fired++) {
      await settle();
      const next = this.pending.filter((timer) => timer.due <= end).sort((a, b) => a.due - b.due || a.id - b.id)[0];
      if (!next) break;
      if (fired === MAX_TIMERS_PER_ADVANCE) {
        throw new Error(`more than ${MAX_TIMERS_PER_ADVANCE} timers fell due by ${new Date(end).toISOString()}: one that sets itself again at once?`);
      }
      this.pending = this.pending.filter((timer) => timer !== next);
      this.ms = Math.max(this.ms, next.due);
      next.callback();
    }
    this.ms = end;
    await settle();
  }
}
