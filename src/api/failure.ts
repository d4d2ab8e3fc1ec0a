// The project's two ways of saying that something did not work. No I/O.
//
// - `Failure` is thrown when a reconcile cannot finish for a reason the user can act on: its
//   `reason` is one of the Ready reasons in reasons.ts, its message names the field, Secret or
//   server at fault (never secret material). Controllers report it in the Ready condition and as a
//   Warning Event. Anything else thrown is a bug or a transient fault: logged and retried, never
//   shown to the user as their mistake.
// - `Result` is returned where not working is an expected outcome that the caller decides on
//   (creds that do not read, a revocation not confirmed yet, servers that did not answer).

import type { Reason } from './reasons.ts';

export class Failure extends Error {
  readonly reason: Reason;
  /** Whether time alone may fix it (so the reconcile is retried with backoff). */
  readonly retry: boolean;

  constructor(reason: Reason, message: string, options: { retry: boolean } = { retry: false }) {
    super(message);
    this.name = 'Failure';
    this.reason = reason;
    this.retry = options.retry;
  }
}

export type Result<T> = { ok: true; value: T } | { ok: false; message: string };

export const ok = <T>(value: T): Result<T> => ({ ok: true, value });
export const notOk = <T = never>(message: string): Result<T> => ({ ok: false, message });
