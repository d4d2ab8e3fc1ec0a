// The operator's Prometheus metrics (prom-client), one registry per process, served by the
// `--metrics-port` endpoint. Labels name kinds of things (callout, provider, result, reason), never
// a workspace, token or key: cardinality stays bounded and nothing secret reaches a scrape.

import { Counter, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

const PREFIX = 'workspace_nats_operator_';

export interface CalloutMetrics {
  /** One authorization request answered (allowed or denied) or dropped, and how long it took. */
  request(labels: { callout: string; result: 'allowed' | 'denied' | 'dropped'; reason: string }, seconds: number): void;
}

export class OperatorMetrics implements CalloutMetrics {
  readonly registry = new Registry();
  readonly #requests: Counter<'callout' | 'result' | 'reason'>;
  readonly #duration: Histogram<'callout' | 'result'>;

  constructor() {
    collectDefaultMetrics({ register: this.registry, prefix: PREFIX });
    this.#requests = new Counter({
      name: `${PREFIX}callout_requests_total`,
      help: 'Auth callout requests, by callout, result (allowed, denied, dropped) and reason (a DenyReason, or Allowed).',
      labelNames: ['callout', 'result', 'reason'],
      registers: [this.registry],
    });
    this.#duration = new Histogram({
      name: `${PREFIX}callout_request_duration_seconds`,
      help: 'Time from receiving an auth callout request to sending the answer.',
      labelNames: ['callout', 'result'],
      // nats-server waits 2 s by default: the top buckets show answers getting close to that.
      buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2],
      registers: [this.registry],
    });
  }

  request(labels: { callout: string; result: 'allowed' | 'denied' | 'dropped'; reason: string }, seconds: number): void {
    this.#requests.inc(labels);
    this.#duration.observe({ callout: labels.callout, result: labels.result }, seconds);
  }
}
