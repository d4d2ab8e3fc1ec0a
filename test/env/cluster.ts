// Talking to the test cluster, for the e2e suites and the scripts that run the operator (dev,
// benchmarks): clients for a kubeconfig, installing the CRDs from crds/, namespaces, issuers and
// polling until an object reaches a state.

import {
  CoreV1Api,
  CustomObjectsApi,
  KubeConfig,
  KubernetesObjectApi,
  type KubernetesObject,
} from '@kubernetes/client-node';
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { parseAllDocuments } from 'yaml';
import type { ClusterNatsIssuer } from '../../src/api/cluster-nats-issuer.ts';
import { ACCESS_PLURAL, BINDING_PLURAL, CALLOUT_PLURAL, GROUP, ISSUER_PLURAL, VERSION } from '../../src/api/constants.ts';
import { PooledKubeConfig } from './pooled-kube-config.ts';
import type { WorkspaceNatsBinding } from '../../src/api/workspace-nats-binding.ts';
import type { WorkspaceNatsAccess } from '../../src/api/workspace-nats-access.ts';
import { waitFor } from './net.ts';
import type { EnvState } from './state.ts';

export { waitFor };

export interface Clients {
  /** The kubeconfig file they were made from. */
  kubeconfigPath: string;
  kubeConfig: KubeConfig;
  core: CoreV1Api;
  custom: CustomObjectsApi;
}

export function clientsFor(kubeconfigPath: string): Clients {
  const kubeConfig = new PooledKubeConfig();
  kubeConfig.loadFromFile(kubeconfigPath);
  return {
    kubeconfigPath,
    kubeConfig,
    core: kubeConfig.makeApiClient(CoreV1Api),
    custom: kubeConfig.makeApiClient(CustomObjectsApi),
  };
}

const run = promisify(execFile);
const CRD_DIR = join(import.meta.dirname, '..', '..', 'crds');
const MANIFEST_DIR = join(import.meta.dirname, '..', '..', 'manifests');

/**
 * Applies crds/ with kubectl and waits until the API server serves them. Not through the typed
 * client: its models name schema extensions in camelCase and silently drop the YAML's
 * `x-kubernetes-*` keys (CEL rules, list types) on the way out.
 */
export async function installCrds(setup: Pick<EnvState, 'kubeconfig' | 'binaries'>): Promise<void> {
  const kubectl = (...args: string[]) =>
    run(setup.binaries.kubectl, args, { env: { ...process.env, KUBECONFIG: setup.kubeconfig } });
  await kubectl('apply', '--server-side', '--force-conflicts', '--field-manager=e2e', '-f', CRD_DIR);
  await kubectl('wait', '--for=condition=Established', '--timeout=60s', '-f', CRD_DIR);
}

export async function ensureNamespace(core: CoreV1Api, name: string): Promise<void> {
  try {
    await core.createNamespace({ body: { metadata: { name } } });
  } catch (error) {
    if ((error as { code?: number }).code !== 409) throw error;
  }
}

/** Who the operator under test is: the ServiceAccount of manifests/rbac.yaml. */
export const OPERATOR_USER = 'system:serviceaccount:wno-system:workspace-nats-operator';

/**
 * A kubeconfig for the operator under test, with exactly the rights a least-privilege deployment
 * gives it: the namespace and RBAC of manifests/ are applied, the workspace rights are granted in
 * `namespaces` only (as manifests/namespaced/ shows), and a token of its ServiceAccount is
 * requested. Written into the run's temp root. Run the operator with `--namespaces` to match.
 * `server` replaces the API server's address (a connection counter in front of it, say).
 */
export async function operatorKubeconfig(setup: ClusterSetup & { root: string }, namespaces: string[], server?: string): Promise<string> {
  const admin = clientsFor(setup.kubeconfig);
  for (const file of ['namespace.yaml', 'rbac.yaml']) {
    for (const object of parseAllDocuments(readFileSync(join(MANIFEST_DIR, file), 'utf8'))) {
      await applyObject(admin.kubeConfig, object.toJS() as KubernetesObject);
    }
  }
  const binding = parseAllDocuments(readFileSync(join(MANIFEST_DIR, 'namespaced', 'workspaces-rolebinding.yaml'), 'utf8'))[0]?.toJS() as KubernetesObject;
  for (const namespace of namespaces) {
    await ensureNamespace(admin.core, namespace);
    await applyObject(admin.kubeConfig, { ...binding, metadata: { ...binding.metadata, namespace } });
  }
  const { status } = await admin.core.createNamespacedServiceAccountToken({
    name: 'workspace-nats-operator',
    namespace: OPERATOR_NAMESPACE,
    body: { spec: { audiences: [], expirationSeconds: 4 * 3600 } },
  });
  const cluster = admin.kubeConfig.getCurrentCluster();
  if (!cluster || !status?.token) throw new Error('no cluster or no token for the operator');
  const kubeConfig = new KubeConfig();
  kubeConfig.loadFromOptions({
    clusters: [server ? { ...cluster, server } : cluster],
    users: [{ name: 'operator', token: status.token }],
    contexts: [{ name: 'operator', cluster: cluster.name, user: 'operator' }],
    currentContext: 'operator',
  });
  const path = join(mkdtempSync(join(setup.root, 'operator-kubeconfig-')), 'kubeconfig');
  writeFileSync(path, kubeConfig.exportConfig(), { mode: 0o600 });
  return path;
}

/** Creates `object`, or replaces it if it exists (a small `kubectl apply`). */
async function applyObject(kubeConfig: KubeConfig, object: KubernetesObject): Promise<void> {
  const api = KubernetesObjectApi.makeApiClient(kubeConfig);
  try {
    const existing = await api.read(object as KubernetesObject & { metadata: { name: string } });
    await api.replace({ ...object, metadata: { ...object.metadata, resourceVersion: existing.metadata?.resourceVersion } });
  } catch (error) {
    if ((error as { code?: number }).code !== 404) throw error;
    await api.create(object);
  }
}

/** What preparing a cluster needs: where it is, and the NATS account to issue for. */
export type ClusterSetup = Pick<EnvState, 'kubeconfig' | 'trust' | 'nats' | 'binaries'>;

/** The operator's namespace, holding issuer key Secrets. */
export const OPERATOR_NAMESPACE = 'wno-system';
export const SIGNING_KEY_SECRET = 'ws-account-signing-key';
export const OPERATOR_KEY_SECRET = 'nats-operator-signing-key';
export const SYSTEM_CREDS_SECRET = 'nats-system-creds';

/** An issuer for the test NATS environment's WS account, with its signing key Secret. */
export async function createIssuer(
  clients: Clients,
  state: ClusterSetup,
  name: string,
  spec: Partial<ClusterNatsIssuer['spec']> = {},
  /** Appended to the key Secrets' names: issuers of another trust than the environment's need their own. */
  secretSuffix = '',
): Promise<ClusterNatsIssuer> {
  await ensureNamespace(clients.core, OPERATOR_NAMESPACE);
  const [accountKey, operatorKey, systemCreds] = [SIGNING_KEY_SECRET, OPERATOR_KEY_SECRET, SYSTEM_CREDS_SECRET].map(
    (secretName) => `${secretName}${secretSuffix}`,
  ) as [string, string, string];
  const secrets: [string, Record<string, string>][] = [
    [accountKey, { seed: state.trust.workspaceAccount.signingKey.seed }],
    [operatorKey, { seed: state.trust.operator.signingKey.seed }],
    [systemCreds, { 'nats.creds': state.trust.systemUser.creds }],
  ];
  for (const [secretName, stringData] of secrets) {
    try {
      await clients.core.createNamespacedSecret({
        namespace: OPERATOR_NAMESPACE,
        body: { metadata: { name: secretName }, stringData },
      });
    } catch (error) {
      if ((error as { code?: number }).code !== 409) throw error;
    }
  }
  const { nats, ...rest } = spec;
  return (await clients.custom.createClusterCustomObject({
    group: GROUP,
    version: VERSION,
    plural: ISSUER_PLURAL,
    body: {
      apiVersion: `${GROUP}/${VERSION}`,
      kind: 'ClusterNatsIssuer',
      metadata: { name },
      spec: {
        nats: { urls: state.nats.urls, systemCredentialsSecretRef: { name: systemCreds }, ...nats },
        operator: { signingKeySecretRef: { name: operatorKey } },
        account: {
          publicKey: state.trust.workspaceAccount.publicKey,
          signingKeySecretRef: { name: accountKey },
        },
        ...rest,
      },
    },
  })) as ClusterNatsIssuer;
}

/**
 * Readies a cluster for the operator: CRDs installed, `namespaces` created, and an issuer named
 * `issuer` for the environment's NATS account. Returns admin clients.
 */
export async function prepareCluster(
  state: ClusterSetup,
  setup: { issuer: string; namespaces: string[]; spec?: Partial<ClusterNatsIssuer['spec']> | undefined },
): Promise<Clients> {
  const admin = clientsFor(state.kubeconfig);
  await installCrds(state);
  for (const namespace of setup.namespaces) await ensureNamespace(admin.core, namespace);
  await createIssuer(admin, state, setup.issuer, setup.spec);
  return admin;
}

export function accessBody(
  name: string,
  spec: Partial<WorkspaceNatsAccess['spec']> & { issuerRef: { name: string } },
): WorkspaceNatsAccess {
  return {
    apiVersion: `${GROUP}/${VERSION}`,
    kind: 'WorkspaceNatsAccess',
    metadata: { name },
    spec: { workspace: { id: name }, ...spec },
  };
}

export async function createAccess(
  custom: CustomObjectsApi,
  namespace: string,
  body: WorkspaceNatsAccess,
): Promise<WorkspaceNatsAccess> {
  return (await custom.createNamespacedCustomObject({
    group: GROUP,
    version: VERSION,
    plural: ACCESS_PLURAL,
    namespace,
    body,
    fieldValidation: 'Strict',
  })) as WorkspaceNatsAccess;
}

/** Creates WorkspaceNatsBinding `name` in `namespace` with `spec`. */
export async function createBinding(
  custom: CustomObjectsApi,
  namespace: string,
  name: string,
  spec: WorkspaceNatsBinding['spec'],
): Promise<WorkspaceNatsBinding> {
  return (await custom.createNamespacedCustomObject({
    group: GROUP,
    version: VERSION,
    plural: BINDING_PLURAL,
    namespace,
    body: { apiVersion: `${GROUP}/${VERSION}`, kind: 'WorkspaceNatsBinding', metadata: { name }, spec },
  })) as WorkspaceNatsBinding;
}

export async function getAccess(
  custom: CustomObjectsApi,
  namespace: string,
  name: string,
): Promise<WorkspaceNatsAccess | undefined> {
  try {
    return (await custom.getNamespacedCustomObject({
      group: GROUP,
      version: VERSION,
      plural: ACCESS_PLURAL,
      namespace,
      name,
    })) as WorkspaceNatsAccess;
  } catch (error) {
    if ((error as { code?: number }).code === 404) return undefined;
    throw error;
  }
}

/** Waits until the access's Ready condition has `status` (and `reason`, if given). */
export function waitForReady(
  custom: CustomObjectsApi,
  namespace: string,
  name: string,
  status: 'True' | 'False' = 'True',
  reason?: string,
  timeoutMs = 30_000,
): Promise<WorkspaceNatsAccess> {
  return waitFor(
    async () => {
      const access = await getAccess(custom, namespace, name);
      const ready = access?.status?.conditions?.find((c) => c.type === 'Ready');
      return ready?.status === status && (!reason || ready.reason === reason) ? access : undefined;
    },
    { what: `${namespace}/${name} Ready=${status}${reason ? ` (${reason})` : ''}`, timeoutMs },
  );
}

/** Sets issuer `name`'s spec.policy to `policy`, whole (added if it has none). */
export function setIssuerPolicy(custom: CustomObjectsApi, name: string, policy: ClusterNatsIssuer['spec']['policy']): Promise<unknown> {
  return custom.patchClusterCustomObject({ group: GROUP, version: VERSION, plural: ISSUER_PLURAL, name, body: [{ op: 'add', path: '/spec/policy', value: policy }] });
}

/** Waits until the issuer is Ready: its keys loaded and its account JWT checked on the servers. */
export function waitForIssuerReady(custom: CustomObjectsApi, name: string, timeoutMs = 30_000): Promise<ClusterNatsIssuer> {
  return waitFor(
    async () => {
      const issuer = (await custom.getClusterCustomObject({ group: GROUP, version: VERSION, plural: ISSUER_PLURAL, name })) as ClusterNatsIssuer;
      const ready = issuer.status?.conditions?.find((c) => c.type === 'Ready');
      return ready?.status === 'True' && ready.observedGeneration === issuer.metadata.generation ? issuer : undefined;
    },
    { what: `issuer ${name} Ready`, timeoutMs },
  );
}

/** Whether the Secret exists (never returning it, so that a failed assertion cannot print it). */
export async function secretExists(core: CoreV1Api, namespace: string, name: string): Promise<boolean> {
  try {
    await core.readNamespacedSecret({ name, namespace });
    return true;
  } catch (error) {
    if ((error as { code?: number }).code === 404) return false;
    throw error;
  }
}

/** The Events about the object `name` in `namespace`, as "Type/Reason: message". */
export async function eventsOf(core: CoreV1Api, namespace: string, name: string): Promise<string[]> {
  const events = await core.listNamespacedEvent({ namespace, fieldSelector: `involvedObject.name=${name}` });
  return events.items.map((e) => `${e.type}/${e.reason}: ${e.message}`);
}

/** nkey seeds and JWTs in `text`: none may ever appear outside a Secret. */
export function secretMaterialIn(text: string): string[] {
  const seeds = text.match(/S[UAONCXP][A-Z2-7]{56}/g) ?? [];
  const jwts = text.match(/eyJ[\w-]{8,}\.eyJ[\w-]{8,}/g) ?? [];
  return [...seeds, ...jwts];
}

/**
 * Everything the operator says about objects in `namespace` outside Secrets, as text: the
 * accesses (with status), their Events, and every issuer and auth callout (with status).
 */
export async function operatorOutputIn(clients: Clients, namespace: string): Promise<string> {
  const accesses = await clients.custom.listNamespacedCustomObject({ group: GROUP, version: VERSION, plural: ACCESS_PLURAL, namespace });
  const issuers = await clients.custom.listClusterCustomObject({ group: GROUP, version: VERSION, plural: ISSUER_PLURAL });
  const callouts = await clients.custom.listClusterCustomObject({ group: GROUP, version: VERSION, plural: CALLOUT_PLURAL });
  const events = await clients.core.listNamespacedEvent({ namespace });
  return JSON.stringify([accesses, issuers, callouts, events.items]);
}
