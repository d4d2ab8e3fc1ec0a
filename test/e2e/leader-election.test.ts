// With --leader-elect, of several replicas exactly one reconciles; when the leader dies another
// takes over once the Lease expires, and when it stops cleanly, at once.

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
import { OperatorProcess } from '../env/operator.ts';

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

test('one replica leads; a killed leader is replaced after the lease expires, a stopped one at once', async () => {
  const kubeconfig = await operatorKubeconfig(state, [NS]);
  const [first, second, third] = [replica(kubeconfig), replica(kubeconfig), replica(kubeconfig)];

  await first.start();
  await second.start('waiting for the leader lease');
  await createAccess(admin.custom, NS, accessBody('led-1', { issuerRef: { name: ISSUER } }));
  await waitForReady(admin.custom, NS, 'led-1');
  expect(minted(first, 'led-1')).toBe(true);
  expect(second.log()).not.toContain('"msg":"started"');

  // SIGKILL: no release, so the follower waits for the lease (15 s) to run out.
  const killedAt = Date.now();
  await first.kill('SIGKILL');
  await second.waitForLog('started', 30_000);
  const takeover = Date.now() - killedAt;
  expect(takeover).toBeGreaterThanOrEqual(10_000);
  expect(takeover).toBeLessThan(30_000);
  await createAccess(admin.custom, NS, accessBody('led-2', { issuerRef: { name: ISSUER } }));
  await waitForReady(admin.custom, NS, 'led-2');
  expect(minted(second, 'led-2')).toBe(true);

  // SIGTERM: the leader releases the lease and a waiting replica takes over within a retry period.
  await third.start('waiting for the leader lease');
  const stoppedAt = Date.now();
  await second.kill('SIGTERM');
  expect(second.log()).toContain('"msg":"released the leader lease"');
  await third.waitForLog('started', 10_000);
  // Well under the 15 s a lease takes to expire: the lease was released, not waited out.
  expect(Date.now() - stoppedAt).toBeLessThan(10_000);
  await createAccess(admin.custom, NS, accessBody('led-3', { issuerRef: { name: ISSUER } }));
  await waitForReady(admin.custom, NS, 'led-3');
  expect(minted(third, 'led-3')).toBe(true);
});
