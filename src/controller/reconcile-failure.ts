// A reconcile that cannot finish for a reason the user can act on. It is reported in the Ready
// condition and as a Warning Event, and, when `retry` is set, tried again with backoff.

export class ReconcileFailure extends Error {
  readonly reason: string;
  readonly retry: boolean;

  constructor(reason: string, message: string, options: { retry: boolean }) {
    super(message);
    this.reason = reason;
    this.retry = options.retry;
  }
}
