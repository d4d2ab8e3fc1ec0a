// The metrics as a scrape shows them: a work queue's and its workers' (client-go's and
// controller-runtime's names) as keys move through them in fake time, and the gauges read from the
// caches at scrape time.

import { jest } from '@jest/globals';
import type { WorkspaceNatsAccess } from '../../src/api/workspace-nats-access.ts';
import { runWorkers, WorkQueue } from '../../src/kube/workqueue.ts';
import { OperatorMetrics } from '../../src/metrics.ts';
import { FakeTime } from './fake-time.ts';
import { access, accountKey, issuer } from './fixtures.ts';

/** The value of sample `name` whose labels include `labels`; undefined when there is none. */
async function sample(metrics: OperatorMetrics, name: string, labels: Record<string, string> = {}): Promise<number | undefined> {
  for (const metric of await metrics.registry.getMetricsAsJSON()) {
    for (const value of metric.values as { metricName?: string; labels: Record<string, string | number>; value: number }[]) {
      if ((value.metricName ?? metric.name) !== name) continue;
      if (Object.entries(labels).every(([label, wanted]) => String(value.labels[label]) === wanted)) return value.value;
    }
  }
  return undefined;
}

describe('work queue metrics', () => {
  test('count adds and retries, time the wait and the work, and read depth and work in progress at scrape', async () => {
    const time = new FakeTime(new Date('2030-01-01T00:00:00Z'));
    const metrics = new OperatorMetrics();
    const queue = new WorkQueue(undefined, time.clock, metrics.workQueue('things'));
    const things = { name: 'things' };
    queue.add('a');
    queue.add('a');
    queue.add('b');
    expect(await sample(metrics, 'workqueue_adds_total', things)).toBe(2);
    expect(await sample(metrics, 'workqueue_depth', things)).toBe(2);

    await time.advance(2000);
    expect(await queue.get()).toBe('a');
    await time.advance(3000);
    expect(await queue.get()).toBe('b');
    // a re-added while in progress waits again, and counts in the depth, as in client-go.
    queue.add('a');
    expect(await sample(metrics, 'workqueue_depth', things)).toBe(1);
    expect(await sample(metrics, 'workqueue_queue_duration_seconds_count', things)).toBe(2);
    expect(await sample(metrics, 'workqueue_queue_duration_seconds_sum', things)).toBe(7);
    await time.advance(1000);
    expect(await sample(metrics, 'workqueue_unfinished_work_seconds', things)).toBe(4 + 1);
    expect(await sample(metrics, 'workqueue_longest_running_processor_seconds', things)).toBe(4);

    queue.done('a');
    queue.done('b');
    expect(await sample(metrics, 'workqueue_work_duration_seconds_sum', things)).toBe(5);
    expect(await sample(metrics, 'workqueue_unfinished_work_seconds', things)).toBe(0);
    queue.addRateLimited('b');
    expect(await sample(metrics, 'workqueue_retries_total', things)).toBe(1);
    queue.shutDown();
  });
});

describe('reconcile metrics', () => {
  beforeEach(() => jest.useFakeTimers());
  afterEach(() => jest.useRealTimers());

  test('count reconciles by result, errors apart, time them, and show the workers busy', async () => {
    const metrics = new OperatorMetrics();
    const queue = new WorkQueue({ baseDelayMs: 60_000, maxDelayMs: 60_000 }, undefined, metrics.workQueue('things'));
    let release: () => void = () => undefined;
    const results: Record<string, () => Promise<object>> = {
      done: async () => ({}),
      retry: async () => ({ retry: true }),
      renew: async () => ({ requeueAfterMs: 60_000 }),
      broken: async () => {
        throw new Error('boom');
      },
      slow: () => new Promise((resolve) => (release = () => resolve({}))),
    };
    const workers = runWorkers(queue, 2, (key) => results[key]!(), () => undefined, metrics.reconciles('things'));
    const things = { controller: 'things' };
    for (const key of ['done', 'retry', 'renew', 'broken']) queue.add(key);
    await jest.advanceTimersByTimeAsync(0);
    for (const result of ['success', 'requeue', 'requeue_after', 'error']) {
      expect(await sample(metrics, 'controller_runtime_reconcile_total', { ...things, result })).toBe(1);
    }
    expect(await sample(metrics, 'controller_runtime_reconcile_errors_total', things)).toBe(1);
    expect(await sample(metrics, 'controller_runtime_max_concurrent_reconciles', things)).toBe(2);

    queue.add('slow');
    await jest.advanceTimersByTimeAsync(1500);
    expect(await sample(metrics, 'controller_runtime_active_workers', things)).toBe(1);
    release();
    await jest.advanceTimersByTimeAsync(0);
    expect(await sample(metrics, 'controller_runtime_active_workers', things)).toBe(0);
    expect(await sample(metrics, 'controller_runtime_reconcile_time_seconds_count', things)).toBe(5);
    expect(await sample(metrics, 'controller_runtime_reconcile_time_seconds_sum', things)).toBeCloseTo(1.5);
    // The two that failed were retried.
    expect(await sample(metrics, 'workqueue_retries_total', { name: 'things' })).toBe(2);
    queue.shutDown();
    await workers;
  });
});

describe('gauges read from the caches at scrape time', () => {
  const minted = (name: string, ready: { status: 'True' | 'False'; reason: string }, times = true): WorkspaceNatsAccess => ({
    ...access(),
    metadata: { name, namespace: 'team-a' },
    status: {
      conditions: [{ type: 'Ready', ...ready, message: '', lastTransitionTime: '2030-01-01T00:00:00Z' }],
      ...(times ? { issuedAt: '2030-01-01T00:00:00Z', renewAt: '2030-01-01T00:40:00Z', expiresAt: '2030-01-01T01:00:00Z' } : {}),
    },
  });

  test('show nothing until the caches are measured (a standby replica)', async () => {
    const metrics = new OperatorMetrics();
    expect(await sample(metrics, 'workspace_nats_operator_accesses')).toBeUndefined();
    expect(await sample(metrics, 'workspace_nats_operator_issuer_ready')).toBeUndefined();
  });

  test('per access its timestamps, accesses by Ready reason, issuers Ready, and revocation lists', async () => {
    const metrics = new OperatorMetrics();
    let accesses = [
      minted('minted', { status: 'True', reason: 'Issued' }),
      minted('callout', { status: 'True', reason: 'CalloutReady' }, false),
      minted('refused', { status: 'False', reason: 'PolicyViolation' }, false),
      access(),
    ];
    const ready = { ...issuer(), status: { conditions: [{ type: 'Ready', status: 'True' as const, reason: 'AccountVerified', message: '', lastTransitionTime: '2030-01-01T00:00:00Z' }] } };
    const down = { ...issuer(), metadata: { name: 'down' }, status: { conditions: [{ type: 'Ready', status: 'False' as const, reason: 'NatsUnreachable', message: '', lastTransitionTime: '2030-01-01T00:00:00Z' }] } };
    const otherAccount = { ...issuer(), metadata: { name: 'other' }, spec: { ...issuer().spec, account: { ...issuer().spec.account, publicKey: 'AOTHER' } } };
    metrics.measure({
      accesses: () => accesses,
      issuers: () => [ready, down, otherAccount],
      revocations: (account) => (account === accountKey ? { active: 3, lastPushResult: 'Failed' } : { active: 0 }),
    });

    const mintedLabels = { namespace: 'team-a', name: 'minted', issuer: 'platform' };
    const at = (iso: string) => Date.parse(iso) / 1000;
    expect(await sample(metrics, 'workspace_nats_operator_credential_expiration_timestamp_seconds', mintedLabels)).toBe(at('2030-01-01T01:00:00Z'));
    expect(await sample(metrics, 'workspace_nats_operator_credential_renewal_timestamp_seconds', mintedLabels)).toBe(at('2030-01-01T00:40:00Z'));
    expect(await sample(metrics, 'workspace_nats_operator_credential_issued_timestamp_seconds', mintedLabels)).toBe(at('2030-01-01T00:00:00Z'));
    // Callout accesses hold no minted creds, so no expiry.
    expect(await sample(metrics, 'workspace_nats_operator_credential_expiration_timestamp_seconds', { name: 'callout' })).toBeUndefined();
    expect(await sample(metrics, 'workspace_nats_operator_accesses', { ready: 'True', reason: 'Issued' })).toBe(1);
    expect(await sample(metrics, 'workspace_nats_operator_accesses', { ready: 'False', reason: 'PolicyViolation' })).toBe(1);
    expect(await sample(metrics, 'workspace_nats_operator_accesses', { ready: 'Unknown', reason: '' })).toBe(1);
    expect(await sample(metrics, 'workspace_nats_operator_issuer_ready', { issuer: 'platform', reason: 'AccountVerified' })).toBe(1);
    expect(await sample(metrics, 'workspace_nats_operator_issuer_ready', { issuer: 'down', reason: 'NatsUnreachable' })).toBe(0);
    expect(await sample(metrics, 'workspace_nats_operator_revocations_active', { account: accountKey })).toBe(3);
    expect(await sample(metrics, 'workspace_nats_operator_revocation_last_push_success', { account: accountKey })).toBe(0);
    // No push yet for the other account: no series.
    expect(await sample(metrics, 'workspace_nats_operator_revocation_last_push_success', { account: 'AOTHER' })).toBeUndefined();

    // The next scrape sees the caches as they are then: a deleted access's series are gone.
    accesses = accesses.filter((a) => a.metadata.name !== 'minted');
    expect(await sample(metrics, 'workspace_nats_operator_credential_expiration_timestamp_seconds', mintedLabels)).toBeUndefined();
    expect(await sample(metrics, 'workspace_nats_operator_accesses', { ready: 'True', reason: 'Issued' })).toBeUndefined();
  });
});

test('revocation pushes, their latency and drift, and API server requests, by their labels', async () => {
  const metrics = new OperatorMetrics();
  metrics.revocations.pushSucceeded('ACC', 0.25);
  metrics.revocations.pushFailed('ACC');
  metrics.revocations.drifted('ACC', 2);
  metrics.restClient.request('GET', 'api:6443', '200', 0.01);
  metrics.restClient.request('PUT', 'api:6443', '<error>', 0.5);
  expect(await sample(metrics, 'workspace_nats_operator_revocation_pushes_total', { account: 'ACC', result: 'success' })).toBe(1);
  expect(await sample(metrics, 'workspace_nats_operator_revocation_pushes_total', { account: 'ACC', result: 'failure' })).toBe(1);
  expect(await sample(metrics, 'workspace_nats_operator_revocation_push_duration_seconds_sum', { account: 'ACC' })).toBe(0.25);
  expect(await sample(metrics, 'workspace_nats_operator_account_jwt_drift_total', { account: 'ACC' })).toBe(2);
  expect(await sample(metrics, 'rest_client_requests_total', { code: '<error>', method: 'PUT', host: 'api:6443' })).toBe(1);
  expect(await sample(metrics, 'rest_client_request_duration_seconds_count', { verb: 'GET', host: 'api:6443' })).toBe(1);
});
