// Events about things that can happen many times a second (a client reconnecting in a loop with
// revoked credentials), held to at most one Event per object and reason per window: the first is
// recorded at once, the rest of the window are summed into one Event at its end, whose count
// says how many it stands for (`kubectl describe` shows "x49 over ..."). Memory is one entry per
// object and reason seen in the last window.

import type { KubernetesObject } from '@kubernetes/client-node';
import type { EventRecorder, EventSeries, EventType } from './events.ts';

interface Window {
  reason: string;
  /** When the first occurrence not yet sent happened. */
  since?: Date;
  /** Occurrences since the last Event, and the latest of them. */
  pending: number;
  latest?: { object: KubernetesObject; type: EventType; message: string };
  timer?: ReturnType<typeof setTimeout>;
}

export class AggregatingEventRecorder {
  readonly #recorder: EventRecorder;
  readonly #windowMs: number;
  readonly #windows = new Map<string, Window>();
  readonly #inFlight = new Set<Promise<void>>();

  constructor(recorder: EventRecorder, windowMs: number) {
    this.#recorder = recorder;
    this.#windowMs = windowMs;
  }

  /** Records one occurrence; returns at once (Events are best effort). */
  record(object: KubernetesObject, type: EventType, reason: string, message: string): void {
    const key = `${object.kind}/${object.metadata?.namespace ?? ''}/${object.metadata?.name ?? ''}/${reason}`;
    const window = this.#windows.get(key);
    if (!window) {
      this.#windows.set(key, this.#open(key, reason));
      this.#send(object, type, reason, message);
      return;
    }
    window.pending++;
    window.since ??= new Date();
    window.latest = { object, type, message };
  }

  /** Sends what is pending at once (on shutdown) and forgets every window. */
  async flush(): Promise<void> {
    for (const [key, window] of this.#windows) {
      clearTimeout(window.timer);
      this.#windows.delete(key);
      this.#sendPending(window);
    }
    await Promise.all([...this.#inFlight]);
  }

  /** A window from now, closed by a timer that sends what gathered and then opens the next. */
  #open(key: string, reason: string): Window {
    const window: Window = { reason, pending: 0 };
    window.timer = setTimeout(() => {
      if (window.pending === 0) {
        this.#windows.delete(key);
        return;
      }
      this.#sendPending(window);
      this.#windows.set(key, this.#open(key, reason));
    }, this.#windowMs);
    window.timer.unref();
    return window;
  }

  #sendPending(window: Window): void {
    if (window.pending > 0 && window.latest) {
      const { object, type, message } = window.latest;
      this.#send(object, type, window.reason, message, { count: window.pending, since: window.since ?? new Date() });
    }
  }

  #send(object: KubernetesObject, type: EventType, reason: string, message: string, series?: EventSeries): void {
    const sent = this.#recorder.record(object, type, reason, message, series).finally(() => this.#inFlight.delete(sent));
    this.#inFlight.add(sent);
  }
}
