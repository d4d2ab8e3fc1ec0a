// The shipped YAML is valid for a real API server: the CRDs are installed from crds/ by every
// suite, the RBAC of manifests/ is what every suite runs the operator under, and here the whole of
// manifests/ and its examples pass server-side validation, and the operator's identity is shown to
// be refused what it has no business doing.

import { CoreV1Api, KubeConfig, RbacAuthorizationV1Api } from '@kubernetes/client-node';
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { loadEnvState, type EnvState } from '../env/state.ts';
import {
  clientsFor,
  ensureNamespace,
  installCrds,
  OPERATOR_NAMESPACE,
  operatorKubeconfig,
} from '../env/cluster.ts';

const run = promisify(execFile);
const root = join(import.meta.dirname, '..', '..');
let state: EnvState;

beforeAll(async () => {
  state = loadEnvState();
  const admin = clientsFor(state.kubeconfig);
  await installCrds(state);
  // Dry runs create nothing, so the namespace the other manifests go into must exist already.
  await ensureNamespace(admin.core, OPERATOR_NAMESPACE);
  await ensureNamespace(admin.core, 'e2e-examples');
});

test('manifests/ and its examples pass server-side validation', async () => {
  const kubectl = (...args: string[]) =>
    run(state.binaries.kubectl, args, { env: { ...process.env, KUBECONFIG: state.kubeconfig } });
  const applied = /(created|configured|unchanged) \(server dry run\)/;
  await ensureNamespace(clientsFor(state.kubeconfig).core, 'workspaces');

  const { stdout: deployed } = await kubectl('apply', '--dry-run=server', '-f', join(root, 'manifests'));
  const { stdout: namespaced } = await kubectl('apply', '--dry-run=server', '-f', join(root, 'manifests', 'namespaced'));
  expect(namespaced).toMatch(new RegExp(`rolebinding\\.rbac\\.authorization\\.k8s\\.io/workspace-nats-operator ${applied.source}`));
  for (const object of [
    'namespace/wno-system',
    'serviceaccount/workspace-nats-operator',
    'clusterrole.rbac.authorization.k8s.io/workspace-nats-operator',
    'clusterrolebinding.rbac.authorization.k8s.io/workspace-nats-operator',
    'clusterrole.rbac.authorization.k8s.io/workspace-nats-operator-workspaces',
    'clusterrolebinding.rbac.authorization.k8s.io/workspace-nats-operator-workspaces',
    'role.rbac.authorization.k8s.io/workspace-nats-operator',
    'rolebinding.rbac.authorization.k8s.io/workspace-nats-operator',
    'deployment.apps/workspace-nats-operator',
    'service/workspace-nats-operator-webhook',
    'service/workspace-nats-operator-metrics',
    'mutatingwebhookconfiguration.admissionregistration.k8s.io/workspace-nats-operator',
  ]) {
    expect(deployed).toMatch(new RegExp(`${object.replaceAll('.', '\\.')} ${applied.source}`));
  }

  const { stdout: examples } = await kubectl('apply', '--dry-run=server', '-n', 'e2e-examples', '-f', join(root, 'manifests', 'examples'));
  expect(examples).toMatch(new RegExp(`workspacenatsaccess\\.natsaccess\\.io/demo-workspace ${applied.source}`));
  expect(examples).toMatch(new RegExp(`clusternatsissuer\\.natsaccess\\.io/platform ${applied.source}`));
  expect(examples).toMatch(new RegExp(`clusternatsauthcallout\\.natsaccess\\.io/workspaces ${applied.source}`));
  expect(examples).toMatch(new RegExp(`workspacenatsaccess\\.natsaccess\\.io/demo-callout-workspace ${applied.source}`));
  for (const binding of ['gitpod', 'coder']) {
    expect(examples).toMatch(new RegExp(`workspacenatsbinding\\.natsaccess\\.io/${binding} ${applied.source}`));
  }
});

test("the operator's identity reads Secrets only where it serves, and may not change RBAC or run pods", async () => {
  const served = 'e2e-served';
  const kubeConfig = new KubeConfig();
  kubeConfig.loadFromFile(await operatorKubeconfig(state, [served]));
  const rbac = kubeConfig.makeApiClient(RbacAuthorizationV1Api);
  const core = kubeConfig.makeApiClient(CoreV1Api);
  const refused = async (call: () => Promise<unknown>) => {
    try {
      await call();
    } catch (error) {
      return (error as { code?: number }).code;
    }
    return 'allowed';
  };
  expect(
    await refused(() =>
      rbac.createClusterRoleBinding({
        body: {
          metadata: { name: 'escalate' },
          roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: 'cluster-admin' },
          subjects: [{ kind: 'ServiceAccount', name: 'workspace-nats-operator', namespace: 'wno-system' }],
        },
      }),
    ),
  ).toBe(403);
  expect(
    await refused(() =>
      core.createNamespacedPod({
        namespace: 'e2e-examples',
        body: { metadata: { name: 'p' }, spec: { containers: [{ name: 'c', image: 'busybox' }] } },
      }),
    ),
  ).toBe(403);
  expect(await refused(() => core.deleteNamespace({ name: 'e2e-examples' }))).toBe(403);
  expect(await refused(() => core.listConfigMapForAllNamespaces())).toBe(403);

  // Secrets: in a namespace it serves, and its own (signing keys, listed); nowhere else.
  const admin = clientsFor(state.kubeconfig);
  for (const namespace of [served, 'e2e-examples']) {
    await admin.core
      .createNamespacedSecret({ namespace, body: { metadata: { name: 'someones' }, stringData: { k: 'v' } } })
      .catch((error: { code?: number }) => {
        if (error.code !== 409) throw error;
      });
  }
  expect(await refused(() => core.readNamespacedSecret({ name: 'someones', namespace: served }))).toBe('allowed');
  expect(await refused(() => core.readNamespacedSecret({ name: 'someones', namespace: 'e2e-examples' }))).toBe(403);
  expect(await refused(() => core.listNamespacedSecret({ namespace: 'e2e-examples' }))).toBe(403);
  expect(await refused(() => core.listSecretForAllNamespaces())).toBe(403);
  expect(await refused(() => core.listNamespacedSecret({ namespace: OPERATOR_NAMESPACE }))).toBe('allowed');
});
