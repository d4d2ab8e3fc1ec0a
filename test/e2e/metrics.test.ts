// The operator's /metrics, /healthz and /readyz against the real API server and a nats-server of
// its own: every metric is there and moves as the test acts (an access issued, then deleted and
// revoked, then a server that lost the revocation), and readiness waits for the caches, which are
// held back for real: the operator serves a namespace where RBAC grants it nothing yet.

import { ACCESS_PLURAL, GROUP, VERSION } from '../../src/api/constants.ts';
import { EventReason } from '../../src/api/reasons.ts';
import { CLUSTER_EVENTS_NAMESPACE } from '../../src/kube/events.ts';
import type { NatsEnv, NatsTrust } from '../env/nats.ts';
import { httpGet } from '../env/net.ts';
import { scrapeMetrics } from '../env/metrics.ts';
import { OperatorProcess } from '../env/operator.ts';
import type { EnvState } from '../env/state.ts';
import {
  accessBody,
  createAccess,
  ensureNamespace,
  eventsOf,
  getAccess,
  OPERATOR_NAMESPACE,
  operatorKubeconfig,
  secretMaterialIn,
  waitFor,
  waitForIssuerReady,
  waitForReady,
  type Clients,
} from '../env/cluster.ts';
import { startSuiteWithOwnNats } from './support/suite.ts';

const NS = 'e2e-metrics';
const ISSUER = 'e2e-metrics';
let state: EnvState;
let admin: Clients;
let operator: OperatorProcess;
let nats: NatsEnv;
let account: string;

beforeAll(async () => {
  let trust: NatsTrust;
  ({ state, admin, operator, nats, trust } = await startSuiteWithOwnNats({ issuer: ISSUER, namespaces: [NS], nodes: 1 }));
  account = trust.workspaceAccount.publicKey;
  await waitForIssuerReady(admin.custom, ISSUER);
}, 180_000);

afterAll(async () => {
  await operator?.stop();
  await nats?.stop();
});

const scrape = (url = operator.metricsUrl) => scrapeMetrics(url);

const accessController = { controller: 'workspacenatsaccess' };

test('every metric is exposed, with its type', async () => {
  const { text } = await scrape();
  const types = new Map([...text.matchAll(/^# TYPE (\S+) (\S+)$/gm)].map((m) => [m[1], m[2]]));
  const expected: Record<string, string> = {
    controller_runtime_reconcile_total: 'counter',
    controller_runtime_reconcile_errors_total: 'counter',
    controller_runtime_reconcile_time_seconds: 'histogram',
    controller_runtime_max_concurrent_reconciles: 'gauge',
    controller_runtime_active_workers: 'gauge',
    workqueue_depth: 'gauge',
    workqueue_adds_total: 'counter',
    workqueue_queue_duration_seconds: 'histogram',
    workqueue_work_duration_seconds: 'histogram',
    workqueue_retries_total: 'counter',
    workqueue_unfinished_work_seconds: 'gauge',
    workqueue_longest_running_processor_seconds: 'gauge',
    rest_client_requests_total: 'counter',
    rest_client_request_duration_seconds: 'histogram',
    workspace_nats_operator_credential_expiration_timestamp_seconds: 'gauge',
    workspace_nats_operator_credential_renewal_timestamp_seconds: 'gauge',
    workspace_nats_operator_credential_issued_timestamp_seconds: 'gauge',
    workspace_nats_operator_accesses: 'gauge',
    workspace_nats_operator_issuer_ready: 'gauge',
    workspace_nats_operator_revocation_pushes_total: 'counter',
    workspace_nats_operator_revocation_push_duration_seconds: 'histogram',
    workspace_nats_operator_revocation_last_push_success: 'gauge',
    workspace_nats_operator_revocations_active: 'gauge',
    workspace_nats_operator_account_jwt_drift_total: 'counter',
    workspace_nats_operator_callout_requests_total: 'counter',
    workspace_nats_operator_audit_events_total: 'counter',
    workspace_nats_operator_audit_events_dropped_total: 'counter',
    workspace_nats_operator_nats_client_events_total: 'counter',
    workspace_nats_operator_nats_connections: 'gauge',
    workspace_nats_operator_nats_auth_failures_total: 'counter',
    workspace_nats_operator_unknown_user_connections_total: 'counter',
    workspace_nats_operator_over_permission_connections_total: 'counter',
    workspace_nats_operator_enforcement_revocations_total: 'counter',
    workspace_nats_operator_process_resident_memory_bytes: 'gauge',
  };
  expect(Object.fromEntries(Object.keys(expected).map((name) => [name, types.get(name)]))).toEqual(expected);
  const metrics = await scrape();
  expect(metrics.value('controller_runtime_max_concurrent_reconciles', accessController)).toBe(16);
  expect(metrics.value('workqueue_depth', { name: 'clusternatsissuer' })).toBeDefined();
  // The issuer is Ready; the gauge reads the operator's cache, a watch event behind.
  await waitFor(async () => ((await scrape()).value('workspace_nats_operator_issuer_ready', { issuer: ISSUER, reason: 'AccountVerified' }) === 1 ? true : undefined), {
    what: 'issuer_ready to be 1',
    timeoutMs: 15_000,
  });
  expect(await httpGet(`${operator.metricsUrl}/healthz`)).toEqual({ status: 200, body: 'ok\n' });
  expect(await httpGet(`${operator.metricsUrl}/readyz`)).toEqual({ status: 200, body: 'ok\n' });
});

test('an access issued, deleted and revoked moves the reconcile, queue, request, credential and revocation metrics', async () => {
  const before = await scrape();
  const name = 'measured';
  await createAccess(admin.custom, NS, accessBody(name, { issuerRef: { name: ISSUER } }));
  const access = await waitForReady(admin.custom, NS, name);
  const perAccess = { namespace: NS, name, issuer: ISSUER };
  const seconds = (iso: string | undefined) => Date.parse(iso ?? '') / 1000;
  // The gauges read the operator's cache, which has the status a watch event after the test does.
  const issued = await waitFor(
    async () => {
      const metrics = await scrape();
      return metrics.value('workspace_nats_operator_credential_expiration_timestamp_seconds', perAccess) === seconds(access.status?.expiresAt) ? metrics : undefined;
    },
    { what: "the expiry metric to equal the access's status.expiresAt", timeoutMs: 15_000 },
  );
  expect(issued.value('workspace_nats_operator_credential_renewal_timestamp_seconds', perAccess)).toBe(seconds(access.status?.renewAt));
  expect(issued.value('workspace_nats_operator_credential_issued_timestamp_seconds', perAccess)).toBe(seconds(access.status?.issuedAt));
  expect(issued.value('workspace_nats_operator_accesses', { ready: 'True', reason: 'Issued' })).toBeGreaterThanOrEqual(1);
  expect(issued.sum('controller_runtime_reconcile_total', accessController)).toBeGreaterThan(before.sum('controller_runtime_reconcile_total', accessController));
  expect(issued.sum('controller_runtime_reconcile_time_seconds_count', accessController)).toBeGreaterThan(before.sum('controller_runtime_reconcile_time_seconds_count', accessController));
  expect(issued.sum('workqueue_adds_total', { name: 'workspacenatsaccess' })).toBeGreaterThan(before.sum('workqueue_adds_total', { name: 'workspacenatsaccess' }));
  expect(issued.sum('workqueue_queue_duration_seconds_count', { name: 'workspacenatsaccess' })).toBeGreaterThan(before.sum('workqueue_queue_duration_seconds_count', { name: 'workspacenatsaccess' }));
  expect(issued.sum('rest_client_requests_total', { method: 'POST' })).toBeGreaterThan(before.sum('rest_client_requests_total', { method: 'POST' }));
  expect(issued.sum('rest_client_request_duration_seconds_count')).toBeGreaterThan(before.sum('rest_client_request_duration_seconds_count'));

  const pushes = { account, result: 'success' };
  await admin.custom.deleteNamespacedCustomObject({ group: GROUP, version: VERSION, plural: ACCESS_PLURAL, namespace: NS, name });
  await waitFor(async () => ((await getAccess(admin.custom, NS, name)) ? undefined : true), { what: `${name} gone`, timeoutMs: 30_000 });
  const revoked = await waitFor(
    async () => {
      const metrics = await scrape();
      return metrics.value('workspace_nats_operator_credential_expiration_timestamp_seconds', perAccess) === undefined ? metrics : undefined;
    },
    { what: "the deleted access's series to go", timeoutMs: 15_000 },
  );
  expect(revoked.sum('workspace_nats_operator_revocation_pushes_total', pushes)).toBeGreaterThan(before.sum('workspace_nats_operator_revocation_pushes_total', pushes));
  expect(revoked.sum('workspace_nats_operator_revocation_push_duration_seconds_count', { account })).toBeGreaterThan(before.sum('workspace_nats_operator_revocation_push_duration_seconds_count', { account }));
  expect(revoked.value('workspace_nats_operator_revocation_last_push_success', { account })).toBe(1);
  expect(revoked.value('workspace_nats_operator_revocations_active', { account })).toBeGreaterThanOrEqual(1);
  expect(secretMaterialIn(revoked.text)).toEqual([]);
});

test('a server that comes back without the revocations it had confirmed is counted as drift, with a Warning Event on the issuer', async () => {
  // The revocation of the previous test is on the server; a restart with an empty resolver
  // directory brings back the preloaded account JWT, without it.
  const driftOf = async () => (await scrape()).sum('workspace_nats_operator_account_jwt_drift_total', { account });
  const before = await driftOf();
  await nats.stopNode(0);
  await nats.startNode(0, { wipeResolver: true });
  await waitFor(async () => ((await driftOf()) > before ? true : undefined), { what: 'account_jwt_drift_total to rise', timeoutMs: 30_000 });
  const events = await waitFor(
    async () => {
      const found = (await eventsOf(admin.core, CLUSTER_EVENTS_NAMESPACE, ISSUER)).filter((event) => event.startsWith(`Warning/${EventReason.AccountJwtDrift}:`));
      return found.length > 0 ? found : undefined;
    },
    { what: 'an AccountJwtDrift Event on the issuer', timeoutMs: 15_000 },
  );
  expect(events[0]).toContain(`held the JWT of account ${account} without revocations they had confirmed`);
  expect(operator.log()).toMatch(/"msg":"NATS servers lost revocations of the account they had confirmed: pushing them again"/);
});

test('/readyz is not ready, naming the caches, until they sync; /healthz is fine meanwhile', async () => {
  // A namespace where the operator's ServiceAccount may not list anything yet: its caches cannot
  // fill until the RoleBinding comes, whatever the machine's speed.
  const held = 'e2e-metrics-held';
  await ensureNamespace(admin.core, held);
  const waiting = new OperatorProcess({ kubeconfig: await operatorKubeconfig(state, []), namespace: OPERATOR_NAMESPACE, serves: [held] }, state.root);
  await waiting.start('serving /metrics, /healthz and /readyz');
  try {
    const notReady = await waitFor(
      async () => {
        const answer = await httpGet(`${waiting.metricsUrl}/readyz`);
        return answer.body.includes('[+]callouts ok') ? answer : undefined;
      },
      { what: "the second operator's callouts to start", timeoutMs: 30_000 },
    );
    expect(notReady).toEqual({ status: 500, body: "[+]callouts ok\n[-]caches failed: the operator's caches are not synced yet\nreadyz check failed\n" });
    expect(await httpGet(`${waiting.metricsUrl}/healthz`)).toEqual({ status: 200, body: 'ok\n' });

    await operatorKubeconfig(state, [held]);
    await waiting.waitForLog('started', 60_000);
    expect(await httpGet(`${waiting.metricsUrl}/readyz`)).toEqual({ status: 200, body: 'ok\n' });
    expect(await httpGet(`${waiting.metricsUrl}/readyz?verbose`)).toEqual({ status: 200, body: '[+]callouts ok\n[+]caches ok\nreadyz check passed\n' });
  } finally {
    await waiting.stop();
  }
});
