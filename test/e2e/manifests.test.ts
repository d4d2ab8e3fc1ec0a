// The shipped YAML is valid for a real API server: the CRDs are installed from crds/ by every
// suite, and here the deployment manifests and the examples pass server-side validation.

import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { loadEnvState } from '../env/state.ts';
import { clientsFor, ensureNamespace, installCrds } from './support/cluster.ts';

const run = promisify(execFile);
const root = join(import.meta.dirname, '..', '..');

test('manifests/ and its examples pass server-side validation', async () => {
  const state = loadEnvState();
  const admin = clientsFor(state.kubeconfig);
  await installCrds(admin.kubeConfig);
  await ensureNamespace(admin.core, 'wno-system');
  await ensureNamespace(admin.core, 'e2e-examples');
  const kubectl = (...args: string[]) =>
    run(state.binaries.kubectl, args, { env: { ...process.env, KUBECONFIG: state.kubeconfig } });

  const deployed = await kubectl('apply', '--dry-run=server', '-f', join(root, 'manifests'));
  expect(deployed.stdout).toContain('deployment.apps/workspace-nats-operator created (server dry run)');
  expect(deployed.stdout).toContain('clusterrole.rbac.authorization.k8s.io/workspace-nats-operator created (server dry run)');

  const examples = await kubectl('apply', '--dry-run=server', '-n', 'e2e-examples', '-f', join(root, 'manifests', 'examples'));
  expect(examples.stdout).toContain('workspacenatsaccess.natsaccess.io/demo-workspace created (server dry run)');
  expect(examples.stdout).toContain('clusternatsissuer.natsaccess.io/platform created (server dry run)');
});
