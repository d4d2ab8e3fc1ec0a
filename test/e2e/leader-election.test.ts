// With --leader-elect, of several replicas exactly one reconciles; when the leader dies another
// takes over once the Lease expires, within the lease duration of the death, and when it stops
// cleanly, at once.

import { CoordinationV1Api } from '@kubernetes/client-node';
import { loadEnvState, type EnvState } from '../env/state.ts';
import {
  accessBody,
  type Clients,
  createAccess,
  OPERATOR_NAMESPACE,
  operatorKubeconfig,
  prepareCluster,
  waitForReady,
} from '../env/cluster.ts';
import { LEADER_LEASE, OperatorProcess, TAKEOVER_ALLOWANCE_MS } from '../env/operator.ts';

const NS = 'e2e-leader';
const ISSUER = 'e2e-leader';
let state: EnvState;
let admin: Clients;
const operators: OperatorProcess[] = [];

beforeAll(async () => {
  state = loadEnvState();
  admin = await prepareCluster(state, { issuer: ISSUER, namespaces: [NS] });
});

afterAll(async () => {
  await Promise.all(operators.map((o) => o.stop()));
});

function replica(kubeconfig: string): OperatorProcess {
  const operator = new OperatorProcess(
    { kubeconfig, namespace: OPERATOR_NAMESPACE, serves: [NS], args: ['--leader-elect'] },
    state.root,
  );
  operators.push(operator);
  return operator;
}

const minted = (operator: OperatorProcess, name: string) =>
  operator.log().includes(`"access":"${NS}/${name}","reason":"Issued"`);

/** When `operator` logged `message` (its first such line), by its clock: this machine's. */
function loggedAt(operator: OperatorProcess, message: string): number {
  const line = operator.log().split('\n').find((l) => l.includes(`"msg":"${message}"`));
  if (!line) throw new Error(`the operator did not log "${message}"`);
  return (JSON.parse(line) as { time: number }).time;
}

/**
 * Waits for the leader to renew the Lease. Returns the lease duration, and a time the renewal was
 * written after: when the last read that did not see it yet was sent.
 */
async function nextRenewal(coordination: CoordinationV1Api): Promise<{ writtenAfter: number; leaseDurationMs: number }> {
  const read = () => coordination.readNamespacedLease({ name: LEADER_LEASE, namespace: OPERATOR_NAMESPACE });
  let writtenAfter = Date.now();
  const before = (await read()).metadata?.resourceVersion;
  for (;;) {
    const sentAt = Date.now();
    const lease = await read();
    if (lease.metadata?.resourceVersion !== before) return { writtenAfter, leaseDurationMs: (lease.spec?.leaseDurationSeconds ?? 0) * 1000 };
    writtenAfter = sentAt;
  }
}

test('one replica leads; a killed leader is replaced within the lease duration, a stopped one at once', async () => {
  const kubeconfig = await operatorKubeconfig(state, [NS]);
  const [first, second, third] = [replica(kubeconfig), replica(kubeconfig), replica(kubeconfig)];

  await first.start();
  await second.start('waiting for the leader lease');
  await createAccess(admin.custom, NS, accessBody('led-1', { issuerRef: { name: ISSUER } }));
  await waitForReady(admin.custom, NS, 'led-1');
  expect(minted(first, 'led-1')).toBe(true);
  expect(second.log()).not.toContain('"msg":"started"');

  // SIGKILL, just after a renewal: no release, and the longest wait, a whole lease from the kill.
  // Timed by the log's clock, not by when this process reads the log, nor by the start of the
  // controllers after the take-over: both are slow on a busy machine, but say nothing of the Lease.
  const { writtenAfter, leaseDurationMs } = await nextRenewal(admin.kubeConfig.makeApiClient(CoordinationV1Api));
  const killedAt = Date.now();
  await first.kill('SIGKILL');
  await second.waitForLog('became leader', 30_000);
  const tookOverAt = loggedAt(second, 'became leader');
  // Not before the lease ran out from that renewal: the follower cannot have seen it sooner than
  // it was written. Load only makes this later.
  expect(tookOverAt - writtenAfter).toBeGreaterThanOrEqual(leaseDurationMs);
  // Within the lease of the kill, but for the take-over's round trips, which load can slow: seen
  // through the watch and tried at the expiry, not up to two retry periods late as when polling.
  expect(tookOverAt - killedAt).toBeLessThanOrEqual(leaseDurationMs + TAKEOVER_ALLOWANCE_MS);
  // Its watch ran (the manifests' RBAC allows it): no restarts of it were logged.
  expect(second.log()).not.toContain('"informer":"lease ');
  await second.waitForLog('started', 30_000);
  await createAccess(admin.custom, NS, accessBody('led-2', { issuerRef: { name: ISSUER } }));
  await waitForReady(admin.custom, NS, 'led-2');
  expect(minted(second, 'led-2')).toBe(true);

  // SIGTERM: the leader releases the lease, and the waiting replica, watching, takes it at once
  // (no retry period waited for): within the round trips of a take-over.
  await third.start('waiting for the leader lease');
  await second.kill('SIGTERM');
  expect(second.log()).toContain('"msg":"released the leader lease"');
  await third.waitForLog('became leader', 10_000);
  expect(loggedAt(third, 'became leader') - loggedAt(second, 'released the leader lease')).toBeLessThanOrEqual(TAKEOVER_ALLOWANCE_MS);
  await third.waitForLog('started', 30_000);
  await createAccess(admin.custom, NS, accessBody('led-3', { issuerRef: { name: ISSUER } }));
  await waitForReady(admin.custom, NS, 'led-3');
  expect(minted(third, 'led-3')).toBe(true);
});
