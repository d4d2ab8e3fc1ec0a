// The operator's Prometheus metrics (prom-client), one registry per process, served by the
// `--metrics-port` endpoint. The interfaces below say what each component tells its metrics; the
// component keeps a no-op default, and OperatorMetrics implements them all.
// - controller-runtime's and client-go's names (no prefix), as operators already graph them;
// - the operator's own, prefixed: counters and histograms move as things happen, and the gauges of
//   accesses, issuers and revocation lists are read from the leader's caches at scrape time
//   (exact, and free between scrapes).
// Labels never carry a token, key or JWT; only the per-access gauges name a workspace (namespace,
// name, issuer), so their cardinality is the number of accesses.

import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import { AuditCounters } from './audit-metrics.ts';
import type { ClusterNatsIssuer } from './api/cluster-nats-issuer.ts';
import { READY } from './api/reasons.ts';
import type { WorkspaceNatsAccess } from './api/workspace-nats-access.ts';

const PREFIX = 'workspace_nats_operator_';

export interface CalloutMetrics {
  /** One authorization request answered (allowed or denied) or dropped, and how long it took. */
  request(labels: { callout: string; result: 'allowed' | 'denied' | 'dropped'; reason: string }, seconds: number): void;
}

/** What a work queue tells its metrics as it goes (src/kube/workqueue.ts). */
export interface WorkQueueMetrics {
  /** A key was added that was not waiting already. */
  added(): void;
  /** A worker took a key that had waited `seconds` since it was added. */
  taken(seconds: number): void;
  /** A worker was done with a key it had taken `seconds` before. */
  finished(seconds: number): void;
  /** A failed key was scheduled again after its backoff. */
  retried(): void;
  /** Hands the metrics a way to read the queue when they are scraped. */
  observe(read: () => WorkQueueState): void;
}

/** A queue's state at one moment. */
export interface WorkQueueState {
  /** Keys waiting to be processed (those re-added while in progress too), as client-go counts. */
  depth: number;
  /** How long the keys in progress have been in progress, summed. */
  unfinishedSeconds: number;
  /** How long the oldest key in progress has been. */
  longestRunningSeconds: number;
}

/** How a reconcile ended, in controller-runtime's words: thrown, retry, requeueAfterMs, or done. */
export type ReconcileOutcome = 'error' | 'requeue' | 'requeue_after' | 'success';

/** What runWorkers tells its metrics. */
export interface ReconcileMetrics {
  /** How many reconciles may run at once. */
  workers(count: number): void;
  started(): void;
  /** A reconcile ended with `outcome` after `seconds`. */
  finished(outcome: ReconcileOutcome, seconds: number): void;
}

/** What the API server transport tells its metrics about each request (a watch when it opens). */
export interface RequestMetrics {
  /** A request to `host` answered with `code` ("<error>": no answer) after `seconds`. */
  request(method: string, host: string, code: string, seconds: number): void;
}

/** What the revokers tell their metrics, per NATS account. */
export interface RevocationMetrics {
  /** Every server stored the pushed account JWT and put it in force, `seconds` after it was signed. */
  pushSucceeded(account: string, seconds: number): void;
  /** A cycle carrying revocations not yet confirmed failed. */
  pushFailed(account: string): void;
  /** `servers` servers held the account JWT without revocations they had confirmed. */
  drifted(account: string, servers: number): void;
}

/** The leader's caches, which the gauges are read from at scrape time. */
export interface MeasuredObjects {
  accesses(): readonly WorkspaceNatsAccess[];
  issuers(): readonly ClusterNatsIssuer[];
  /** The revocation list of `account` as the servers last confirmed it, and the last push's result. */
  revocations(account: string): { active: number; lastPushResult?: 'Succeeded' | 'Failed' };
}

/** client-go's workqueue buckets: from microseconds (an idle queue) to many minutes (a backlog). */
const QUEUE_BUCKETS = [1e-6, 1e-5, 1e-4, 1e-3, 0.01, 0.1, 1, 10, 100, 1000];

export class OperatorMetrics implements CalloutMetrics {
  readonly registry = new Registry();
  readonly #calloutRequests: Counter<'callout' | 'result' | 'reason'>;
  readonly #calloutDuration: Histogram<'callout' | 'result'>;
  readonly #queues = new Map<string, () => WorkQueueState>();
  #objects: MeasuredObjects | undefined;
  readonly #queueAdds: Counter<'name'>;
  readonly #queueDuration: Histogram<'name'>;
  readonly #workDuration: Histogram<'name'>;
  readonly #retries: Counter<'name'>;
  readonly #reconciles: Counter<'controller' | 'result'>;
  readonly #reconcileErrors: Counter<'controller'>;
  readonly #reconcileTime: Histogram<'controller'>;
  readonly #maxConcurrent: Gauge<'controller'>;
  readonly #activeWorkers: Gauge<'controller'>;
  /** The API server transport's. */
  readonly restClient: RequestMetrics;
  /** The revokers'. */
  readonly revocations: RevocationMetrics;
  /** The audit's. */
  readonly audit = new AuditCounters(this.registry);

  constructor() {
    const registers = [this.registry];
    collectDefaultMetrics({ register: this.registry, prefix: PREFIX });
    this.#calloutRequests = new Counter({
      name: `${PREFIX}callout_requests_total`,
      help: 'Auth callout requests, by callout, result (allowed, denied, dropped) and reason (a DenyReason, or Allowed).',
      labelNames: ['callout', 'result', 'reason'],
      registers,
    });
    this.#calloutDuration = new Histogram({
      name: `${PREFIX}callout_request_duration_seconds`,
      help: 'Time from receiving an auth callout request to sending the answer.',
      labelNames: ['callout', 'result'],
      // nats-server waits 2 s by default: the top buckets show answers getting close to that.
      buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2],
      registers,
    });

    const queues = this.#queues;
    const queueGauge = (name: string, help: string, value: (state: WorkQueueState) => number) =>
      new Gauge({
        name,
        help,
        labelNames: ['name'],
        registers,
        collect() {
          for (const [queue, read] of queues) this.set({ name: queue }, value(read()));
        },
      });
    queueGauge('workqueue_depth', 'Keys waiting in the work queue.', (state) => state.depth);
    queueGauge('workqueue_unfinished_work_seconds', 'Seconds the keys in progress have been in progress, summed; a rise with no progress means stuck workers.', (state) => state.unfinishedSeconds);
    queueGauge('workqueue_longest_running_processor_seconds', 'Seconds the oldest key in progress has been in progress.', (state) => state.longestRunningSeconds);
    this.#queueAdds = new Counter({ name: 'workqueue_adds_total', help: 'Keys added to the work queue.', labelNames: ['name'], registers });
    this.#queueDuration = new Histogram({ name: 'workqueue_queue_duration_seconds', help: 'Seconds a key waits in the work queue before a worker takes it.', labelNames: ['name'], buckets: QUEUE_BUCKETS, registers });
    this.#workDuration = new Histogram({ name: 'workqueue_work_duration_seconds', help: 'Seconds a worker holds a key.', labelNames: ['name'], buckets: QUEUE_BUCKETS, registers });
    this.#retries = new Counter({ name: 'workqueue_retries_total', help: 'Keys scheduled again after a failure, with backoff.', labelNames: ['name'], registers });

    const controller = ['controller'] as const;
    this.#reconciles = new Counter({ name: 'controller_runtime_reconcile_total', help: 'Reconciles, by controller and result (success, error, requeue, requeue_after).', labelNames: ['controller', 'result'], registers });
    this.#reconcileErrors = new Counter({ name: 'controller_runtime_reconcile_errors_total', help: 'Reconciles that failed with an error.', labelNames: controller, registers });
    this.#reconcileTime = new Histogram({
      name: 'controller_runtime_reconcile_time_seconds',
      help: 'Seconds a reconcile takes.',
      labelNames: controller,
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60],
      registers,
    });
    this.#maxConcurrent = new Gauge({ name: 'controller_runtime_max_concurrent_reconciles', help: 'Reconciles the controller runs at once at most (its workers).', labelNames: controller, registers });
    this.#activeWorkers = new Gauge({ name: 'controller_runtime_active_workers', help: 'Reconciles running now.', labelNames: controller, registers });

    const restRequests = new Counter({ name: 'rest_client_requests_total', help: 'Requests to the API server, by status code ("<error>": no answer), method and host; a watch counts when it opens.', labelNames: ['code', 'method', 'host'], registers });
    const restDuration = new Histogram({
      name: 'rest_client_request_duration_seconds',
      help: 'Seconds an API server request takes (a watch: until it opens).',
      labelNames: ['verb', 'host'],
      buckets: [0.005, 0.025, 0.1, 0.25, 0.5, 1, 2, 4, 8, 15, 30, 60],
      registers,
    });
    this.restClient = {
      request(method, host, code, seconds) {
        restRequests.inc({ code, method, host });
        restDuration.observe({ verb: method, host }, seconds);
      },
    };

    this.revocations = this.#revocationMetrics();
    this.#objectGauges();
  }

  request(labels: { callout: string; result: 'allowed' | 'denied' | 'dropped'; reason: string }, seconds: number): void {
    this.#calloutRequests.inc(labels);
    this.#calloutDuration.observe({ callout: labels.callout, result: labels.result }, seconds);
  }

  /** The metrics of the work queue `name` (the controller's name). */
  workQueue(name: string): WorkQueueMetrics {
    return {
      added: () => this.#queueAdds.inc({ name }),
      taken: (seconds) => this.#queueDuration.observe({ name }, seconds),
      finished: (seconds) => this.#workDuration.observe({ name }, seconds),
      retried: () => this.#retries.inc({ name }),
      observe: (read) => void this.#queues.set(name, read),
    };
  }

  /** The metrics of the reconciles of `controller`. */
  reconciles(controller: string): ReconcileMetrics {
    return {
      workers: (count) => this.#maxConcurrent.set({ controller }, count),
      started: () => this.#activeWorkers.inc({ controller }),
      finished: (outcome, seconds) => {
        this.#activeWorkers.dec({ controller });
        this.#reconciles.inc({ controller, result: outcome });
        if (outcome === 'error') this.#reconcileErrors.inc({ controller });
        this.#reconcileTime.observe({ controller }, seconds);
      },
    };
  }

  /** Reads the gauges of accesses, issuers and revocation lists from `objects` from now on. */
  measure(objects: MeasuredObjects): void {
    this.#objects = objects;
  }

  #revocationMetrics(): RevocationMetrics {
    const registers = [this.registry];
    const account = ['account'] as const;
    const pushes = new Counter({ name: `${PREFIX}revocation_pushes_total`, help: 'Pushes of an account JWT with its revocations, by result: success (every server put it in force) or failure.', labelNames: ['account', 'result'], registers });
    const duration = new Histogram({
      name: `${PREFIX}revocation_push_duration_seconds`,
      help: 'Seconds from signing an account JWT to every server having it in force.',
      labelNames: account,
      buckets: [0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
      registers,
    });
    const drift = new Counter({ name: `${PREFIX}account_jwt_drift_total`, help: 'NATS servers found holding the account JWT without revocations they had confirmed (pushed to them again).', labelNames: account, registers });
    return {
      pushSucceeded(account, seconds) {
        pushes.inc({ account, result: 'success' });
        duration.observe({ account }, seconds);
      },
      pushFailed: (account) => pushes.inc({ account, result: 'failure' }),
      drifted: (account, servers) => drift.inc({ account }, servers),
    };
  }

  /** The gauges read from the leader's caches at scrape time; none on a standby replica. */
  #objectGauges(): void {
    const registers = [this.registry];
    const objects = () => this.#objects;
    const gauge = <L extends string>(name: string, help: string, labelNames: readonly L[], fill: (gauge: Gauge<L>, objects: MeasuredObjects) => void) =>
      new Gauge<L>({
        name: `${PREFIX}${name}`,
        help,
        labelNames,
        registers,
        collect() {
          this.reset();
          const current = objects();
          if (current) fill(this, current);
        },
      });
    const perAccess = ['namespace', 'name', 'issuer'] as const;
    const timestamp = (field: 'expiresAt' | 'renewAt' | 'issuedAt') => (gauge: Gauge<(typeof perAccess)[number]>, current: MeasuredObjects) => {
      for (const access of current.accesses()) {
        const at = Date.parse(access.status?.[field] ?? '');
        if (Number.isFinite(at)) gauge.set({ namespace: access.metadata.namespace ?? '', name: access.metadata.name, issuer: access.spec.issuerRef.name }, at / 1000);
      }
    };
    gauge('credential_expiration_timestamp_seconds', "When the access's current credentials expire (status.expiresAt), in Unix seconds; minted creds only.", perAccess, timestamp('expiresAt'));
    gauge('credential_renewal_timestamp_seconds', "When the access's credentials are due for renewal (status.renewAt), in Unix seconds.", perAccess, timestamp('renewAt'));
    gauge('credential_issued_timestamp_seconds', "When the access's current credentials were issued (status.issuedAt), in Unix seconds.", perAccess, timestamp('issuedAt'));
    gauge('accesses', 'WorkspaceNatsAccess objects, by the status (True, False, Unknown) and reason of their Ready condition.', ['ready', 'reason'], (gauge, current) => {
      for (const access of current.accesses()) {
        const ready = access.status?.conditions?.find((condition) => condition.type === READY);
        gauge.inc({ ready: ready?.status ?? 'Unknown', reason: ready?.reason ?? '' });
      }
    });
    gauge('issuer_ready', 'Whether the ClusterNatsIssuer is Ready (1) or not (0), with the reason of its Ready condition.', ['issuer', 'reason'], (gauge, current) => {
      for (const issuer of current.issuers()) {
        const ready = issuer.status?.conditions?.find((condition) => condition.type === READY);
        gauge.set({ issuer: issuer.metadata.name, reason: ready?.reason ?? '' }, ready?.status === 'True' ? 1 : 0);
      }
    });
    const accounts = (current: MeasuredObjects) => new Set(current.issuers().map((issuer) => issuer.spec.account.publicKey));
    gauge('revocations_active', "Revocations in the account's JWT, as the servers last confirmed it.", ['account'], (gauge, current) => {
      for (const account of accounts(current)) gauge.set({ account }, current.revocations(account).active);
    });
    gauge('revocation_last_push_success', "Whether the account's last push succeeded (1) or failed (0); absent before its first push.", ['account'], (gauge, current) => {
      for (const account of accounts(current)) {
        const result = current.revocations(account).lastPushResult;
        if (result) gauge.set({ account }, result === 'Succeeded' ? 1 : 0);
      }
    });
  }
}
