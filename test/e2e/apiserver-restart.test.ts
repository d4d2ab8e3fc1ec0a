// Nothing is lost across an API server restart: the operator's watches fail, restart with
// backoff, and it goes on reconciling. Runs its own control plane, so the restart disturbs no
// other suite.

import { ensureComponents } from '../env/components.ts';
import { startKube, type KubeEnv } from '../env/kube.ts';
import { makeTempDir, removeTempDir } from '../env/processes.ts';
import { loadEnvState } from '../env/state.ts';
import {
  accessBody,
  createAccess,
  OPERATOR_NAMESPACE,
  operatorKubeconfig,
  prepareCluster,
  waitFor,
  waitForReady,
  type Clients,
} from '../env/cluster.ts';
import { OperatorProcess } from '../env/operator.ts';

const NS = 'e2e-restart';
let dir: string;
let kube: KubeEnv;
let admin: Clients;
let operator: OperatorProcess;

beforeAll(async () => {
  dir = await makeTempDir('wno-env-');
  kube = await startKube({ components: await ensureComponents(), dir });
  const setup = { ...loadEnvState(), kubeconfig: kube.kubeconfigPath, root: dir };
  admin = await prepareCluster(setup, { issuer: 'restart', namespaces: [NS] });
  operator = new OperatorProcess(
    { kubeconfig: await operatorKubeconfig(setup, [NS]), namespace: OPERATOR_NAMESPACE, serves: [NS] },
    dir,
  );
  await operator.start();
});

afterAll(async () => {
  await operator?.stop();
  await kube?.stop();
  if (dir) await removeTempDir(dir);
});

test('after an API server restart the operator watches and reconciles again', async () => {
  await createAccess(admin.custom, NS, accessBody('before', { issuerRef: { name: 'restart' } }));
  await waitForReady(admin.custom, NS, 'before');

  await kube.restartApiserver(3000);
  await operator.waitForLog('watch failed, restarting', 10_000);

  // New objects are seen (the access watch is back)...
  await createAccess(admin.custom, NS, accessBody('after', { issuerRef: { name: 'restart' } }));
  await waitForReady(admin.custom, NS, 'after', 'True', undefined, 60_000);
  // ...and so are deletions of the Secrets it manages (the Secret watch is back).
  const old = await admin.core.readNamespacedSecret({ name: 'before-nats', namespace: NS });
  await admin.core.deleteNamespacedSecret({ name: 'before-nats', namespace: NS });
  await waitFor(
    async () => {
      const secret = await admin.core.readNamespacedSecret({ name: 'before-nats', namespace: NS });
      return secret.metadata?.uid !== old.metadata?.uid ? secret : undefined;
    },
    { what: 'Secret before-nats to be re-created', timeoutMs: 60_000 },
  );
});
