// `npm run dev`: the operator against a local environment, for trying it out by hand. Starts the
// test environment (kube-apiserver, etcd, kube-controller-manager and nats-server on loopback),
// installs the CRDs, an issuer named "local" for the environment's NATS account and a namespace
// "demo", then runs the operator in this process until Ctrl-C.

import { hostname } from 'node:os';
import { loadRunConfig } from '../src/cli/config.ts';
import { CalloutService } from '../src/callout/service.ts';
import { startOperator } from '../src/cli/operator.ts';
import { KubeClient } from '../src/kube/api.ts';
import { kubeconfigFromFiles } from '../src/kube/kubeconfig.ts';
import { createLogger } from '../src/log.ts';
import { OperatorMetrics } from '../src/metrics.ts';
import { startEnvironment } from '../test/env/index.ts';
import { loadEnvState, writeEnvState } from '../test/env/state.ts';
import {
  OPERATOR_NAMESPACE,
  prepareCluster,
} from '../test/env/cluster.ts';

const env = await startEnvironment();
let stopOperator = async () => {};
let stopping = false;
const shutdown = (why: string) => {
  if (stopping) return;
  stopping = true;
  process.stderr.write(`[dev] ${why}: stopping\n`);
  stopOperator()
    .then(() => env.stop())
    .then(
      () => process.exit(0),
      () => process.exit(1),
    );
};
process.on('SIGINT', () => shutdown('SIGINT'));
process.on('SIGTERM', () => shutdown('SIGTERM'));

try {
  const state = loadEnvState(await writeEnvState(env));
  await prepareCluster(state, { issuer: 'local', namespaces: ['demo'] });

  const client = new KubeClient(kubeconfigFromFiles([env.kubeconfigPath]));
  const log = createLogger('info');
  const config = loadRunConfig({}, { POD_NAMESPACE: OPERATOR_NAMESPACE });
  const callouts = new CalloutService({ client, namespace: OPERATOR_NAMESPACE, workspaceNamespaces: [], log });
  await callouts.start();
  const operator = await startOperator({
    client,
    namespace: OPERATOR_NAMESPACE,
    workers: 4,
    resyncPeriodMs: 600_000,
    workspaceNamespaces: [],
    log,
    instance: hostname(),
    revocation: config.revocation,
    callouts,
    audit: { ...config.audit, log: log.child({ logger: 'audit' }), metrics: new OperatorMetrics().audit },
  });
  stopOperator = () => operator.stop().then(() => callouts.stop());
  process.stdout.write(
    [
      '',
      'The operator is running against a local cluster and NATS. In another shell:',
      `  export KUBECONFIG=${env.kubeconfigPath}`,
      `  alias kubectl=${env.components.kubectl}`,
      '  kubectl apply -n demo -f manifests/examples/workspace-nats-access.yaml',
      '  kubectl get wna -n demo',
      '  kubectl get secret demo-workspace-nats -n demo -o jsonpath="{.data.nats\\.creds}" | base64 -d',
      `NATS is at ${env.nats.urls.join(',')}. Ctrl-C stops everything.`,
      '',
    ].join('\n'),
  );
} catch (error) {
  process.stderr.write(`[dev] ${(error as Error).message}\n`);
  shutdown('start-up failed');
}
