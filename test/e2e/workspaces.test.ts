// Workspace lifecycle: a WorkspaceNatsBinding gives each GitPod Workspace (a CRD of the test's own,
// workspace.gitpod.io/v1) or Coder-style pod its own WorkspaceNatsAccess; the API server calls the
// operator's pod webhook over HTTPS, which mounts the Secret into the workspace pod; a stopped or
// deleted workspace loses its access, Secret and NATS user. The operator runs its webhook with a
// certificate it makes itself, and writes the CA into the webhook configuration.

import { AdmissionregistrationV1Api, type V1Pod } from '@kubernetes/client-node';
import {
  ACCESS_PLURAL,
  BINDING_PLURAL,
  CREDS_KEY,
  GITPOD_GROUP,
  GITPOD_VERSION,
  GITPOD_WORKSPACE_PLURAL,
  GROUP,
  VERSION,
} from '../../src/api/constants.ts';
import type { WorkspaceNatsBinding } from '../../src/api/workspace-nats-binding.ts';
import { accessNameFor } from '../../src/policy/bound-workspaces.ts';
import { createWorkspace as createWorkspaceIn, installWorkspaceCrd, setWorkspacePhase } from '../env/gitpod.ts';
import { freePort } from '../env/net.ts';
import type { EnvState } from '../env/state.ts';
import { createBinding, getAccess, secretExists, waitFor, waitForReady, type Clients } from '../env/cluster.ts';
import { closeReason, connectWithCreds, loginOutcome, publishRefusal, roundTrip } from '../env/nats-client.ts';
import type { OperatorProcess } from '../env/operator.ts';
import { startSuite } from './support/suite.ts';

const NS = 'e2e-workspaces';
const ISSUER = 'e2e-workspaces';
const WEBHOOK_CONFIG = 'workspace-nats-operator';
let state: EnvState;
let admin: Clients;
let operator: OperatorProcess;

const permissions = { publish: { allow: ['ws.{{workspace.id}}.>'] }, subscribe: { allow: ['ws.{{workspace.id}}.>'] } };

async function createWebhookConfig(kubeConfig: Clients['kubeConfig'], port: number) {
  const api = kubeConfig.makeApiClient(AdmissionregistrationV1Api);
  try {
    await api.deleteMutatingWebhookConfiguration({ name: WEBHOOK_CONFIG });
  } catch (error) {
    if ((error as { code?: number }).code !== 404) throw error;
  }
  // As manifests/webhook.yaml, but reaching the operator on loopback by URL instead of a Service.
  await api.createMutatingWebhookConfiguration({
    body: {
      metadata: { name: WEBHOOK_CONFIG },
      webhooks: [
        {
          name: 'pods.natsaccess.io',
          admissionReviewVersions: ['v1'],
          sideEffects: 'None',
          failurePolicy: 'Ignore',
          timeoutSeconds: 5,
          reinvocationPolicy: 'Never',
          clientConfig: { url: `https://127.0.0.1:${port}/mutate-pods` },
          namespaceSelector: { matchLabels: { 'natsaccess.io/webhook': 'enabled' } },
          rules: [{ apiGroups: [''], apiVersions: ['v1'], operations: ['CREATE'], resources: ['pods'], scope: 'Namespaced' }],
        },
      ],
    },
  });
}

/** Creates binding `name` of `source`, with the suite's issuer and permissions. */
const createSuiteBinding = (custom: Clients['custom'], name: string, source: WorkspaceNatsBinding['spec']['source']) =>
  createBinding(custom, NS, name, { source, template: { issuerRef: { name: ISSUER }, permissions } });

let port: number;
beforeAll(async () => {
  port = await freePort();
  ({ state, admin, operator } = await startSuite({
    issuer: { name: ISSUER },
    namespaces: [NS],
    operatorArgs: ['--webhook-port', String(port), '--webhook-hosts', '127.0.0.1'],
    prepare: async (clients) => {
      await installWorkspaceCrd(clients.kubeConfig);
      await clients.core.patchNamespace({
        name: NS,
        body: [{ op: 'add', path: '/metadata/labels', value: { 'natsaccess.io/webhook': 'enabled' } }],
      });
      await createWebhookConfig(clients.kubeConfig, port);
      await createSuiteBinding(clients.custom, 'gitpod', { gitpod: { types: ['Regular'] } });
      await createSuiteBinding(clients.custom, 'coder', { pods: { preset: 'Coder' } });
    },
  }));
  // The operator wrote its CA into the configuration: from now on the API server trusts it.
  await waitFor(
    async () => {
      const config = await admin.kubeConfig.makeApiClient(AdmissionregistrationV1Api).readMutatingWebhookConfiguration({ name: WEBHOOK_CONFIG });
      return config.webhooks?.[0]?.clientConfig.caBundle ? true : undefined;
    },
    { what: 'the caBundle', timeoutMs: 30_000 },
  );
});

afterAll(async () => {
  await operator?.stop();
  await admin?.kubeConfig.makeApiClient(AdmissionregistrationV1Api).deleteMutatingWebhookConfiguration({ name: WEBHOOK_CONFIG });
});

const custom = () => admin.custom;

/** The access the binder names for `key` under binding `binding`. */
const accessOf = (binding: string, key: string) => accessNameFor({ metadata: { name: binding } } as WorkspaceNatsBinding, key);

const createWorkspace = (instance: string, workspaceId: string, type = 'Regular') => createWorkspaceIn(custom(), NS, instance, workspaceId, { type });

const setPhase = (instance: string, phase: string) => setWorkspacePhase(custom(), NS, instance, phase);

const createPod = (name: string, labels: Record<string, string>, extra: Partial<V1Pod['spec']> = {}) =>
  admin.core.createNamespacedPod({
    namespace: NS,
    body: { metadata: { name, labels }, spec: { containers: [{ name: 'main', image: 'busybox' }, { name: 'ide', image: 'busybox' }], ...extra } },
  });

const gone = (name: string) =>
  waitFor(async () => ((await getAccess(custom(), NS, name)) ? undefined : true), { what: `${NS}/${name} gone`, timeoutMs: 30_000 });

async function credsOf(secret: string) {
  const read = await admin.core.readNamespacedSecret({ name: secret, namespace: NS });
  return Buffer.from(read.data?.[CREDS_KEY] ?? '', 'base64').toString('utf8');
}

test('a GitPod workspace gets an access, its pod the Secret mounted, and the creds the rule’s permissions', async () => {
  await createWorkspace('i-1', 'amber-lamprey');
  const access = await waitForReady(custom(), NS, accessOf('gitpod', 'i-1'));
  expect(access.spec.workspace).toMatchObject({ id: 'amber-lamprey', owner: 'u1', ref: { kind: 'Workspace', name: 'i-1' } });
  expect(access.metadata.ownerReferences?.[0]).toMatchObject({ kind: 'Workspace', name: 'i-1' });

  const pod = await createPod('ws-i-1', { component: 'workspace', workspaceID: 'i-1', metaID: 'amber-lamprey', owner: 'u1' });
  expect(pod.spec?.volumes).toContainEqual({ name: 'nats-credentials', secret: { secretName: `${accessOf('gitpod', 'i-1')}-nats`, defaultMode: 420, optional: true } });
  expect(pod.spec?.containers.map((c) => c.name)).toEqual(['main', 'ide']);
  for (const container of pod.spec?.containers ?? []) {
    expect(container.volumeMounts).toContainEqual({ name: 'nats-credentials', mountPath: '/var/run/secrets/nats', readOnly: true });
    expect(container.env).toEqual([
      { name: 'NATS_URL', valueFrom: { secretKeyRef: { name: `${accessOf('gitpod', 'i-1')}-nats`, key: 'NATS_URL', optional: true } } },
      { name: 'NATS_CREDS', value: '/var/run/secrets/nats/nats.creds' },
    ]);
  }

  const nc = await connectWithCreds(state.nats.urls, await credsOf(`${accessOf('gitpod', 'i-1')}-nats`));
  try {
    expect(await roundTrip(nc, nc, 'ws.amber-lamprey.build')).toBe('hello');
    expect(await publishRefusal(nc, 'ws.someone-else.build')).toBe('Permissions Violation for Publish to "ws.someone-else.build"');
  } finally {
    await nc.close();
  }
});

test('a workspace that stops loses its access, its Secret and its NATS user', async () => {
  await createWorkspace('i-2', 'blue-heron');
  await waitForReady(custom(), NS, accessOf('gitpod', 'i-2'));
  const creds = await credsOf(`${accessOf('gitpod', 'i-2')}-nats`);
  const nc = await connectWithCreds(state.nats.urls, creds);
  const closed = closeReason(nc);
  await setPhase('i-2', 'Stopping');
  expect(await closed).toBe('User Authentication Revoked');
  await gone(accessOf('gitpod', 'i-2'));
  expect(await secretExists(admin.core, NS, `${accessOf('gitpod', 'i-2')}-nats`)).toBe(false);
  expect(await loginOutcome(state.nats.urls, creds)).toBe('Authorization Violation');
});

test('a deleted workspace loses its access; a restart (new instance) gets new credentials', async () => {
  await createWorkspace('i-3', 'red-fox');
  const first = await waitForReady(custom(), NS, accessOf('gitpod', 'i-3'));
  await custom().deleteNamespacedCustomObject({ group: GITPOD_GROUP, version: GITPOD_VERSION, plural: GITPOD_WORKSPACE_PLURAL, namespace: NS, name: 'i-3' });
  await gone(accessOf('gitpod', 'i-3'));
  await createWorkspace('i-4', 'red-fox');
  const second = await waitForReady(custom(), NS, accessOf('gitpod', 'i-4'));
  expect(second.spec.workspace.id).toBe('red-fox');
  expect(second.status?.userPublicKey).not.toBe(first.status?.userPublicKey);
});

test('only the bound workspace types get an access', async () => {
  await createWorkspace('i-5', 'prebuild-1', 'Prebuild');
  await createWorkspace('i-6', 'regular-1');
  // The binder decides from the whole list on every pass: the pass that made i-6's access (created
  // after i-5) saw i-5 too, and made none for it.
  await waitForReady(custom(), NS, accessOf('gitpod', 'i-6'));
  expect(await getAccess(custom(), NS, accessOf('gitpod', 'i-5'))).toBeUndefined();
});

test('a workspace deleted while the operator was down is cleaned up after it starts', async () => {
  await createWorkspace('i-7', 'green-owl');
  await waitForReady(custom(), NS, accessOf('gitpod', 'i-7'));
  const creds = await credsOf(`${accessOf('gitpod', 'i-7')}-nats`);
  await operator.stop();
  try {
    await custom().deleteNamespacedCustomObject({ group: GITPOD_GROUP, version: GITPOD_VERSION, plural: GITPOD_WORKSPACE_PLURAL, namespace: NS, name: 'i-7' });
  } finally {
    await operator.start();
  }
  await gone(accessOf('gitpod', 'i-7'));
  expect(await loginOutcome(state.nats.urls, creds)).toBe('Authorization Violation');
});

test('pods that match no rule are stored as submitted; a pod mutated already is not mutated again', async () => {
  const plain = await createPod('plain', { app: 'web' });
  expect(plain.spec?.volumes?.some((v) => v.name === 'nats-credentials')).toBeFalsy();
  expect(plain.metadata?.annotations?.['natsaccess.io/mounted-secret']).toBeUndefined();
  expect(plain.spec?.containers.map((c) => c.name)).toEqual(['main', 'ide']);
  for (const container of plain.spec?.containers ?? []) expect(container.env).toBeUndefined();

  // Submitted with the webhook's changes already in it: nothing is added twice.
  const again = await createPod(
    'coder-twice',
    { 'com.coder.workspace.id': 'cw-twice' },
    {
      volumes: [{ name: 'nats-credentials', secret: { secretName: `${accessOf('coder', 'cw-twice')}-nats` } }],
      containers: [{ name: 'main', image: 'busybox', volumeMounts: [{ name: 'nats-credentials', mountPath: '/var/run/secrets/nats', readOnly: true }] }],
    },
  );
  expect(again.spec?.volumes?.filter((v) => v.name === 'nats-credentials')).toHaveLength(1);
  expect(again.spec?.containers[0]?.volumeMounts?.filter((m) => m.name === 'nats-credentials')).toHaveLength(1);
});

test('a Coder-style pod rule works the same way, and the pod going removes the access', async () => {
  const pod = await createPod('coder-ws', { 'com.coder.workspace.id': 'cw-1', 'com.coder.user.id': 'bob' });
  expect(pod.spec?.volumes).toContainEqual({ name: 'nats-credentials', secret: { secretName: `${accessOf('coder', 'cw-1')}-nats`, defaultMode: 420, optional: true } });
  const access = await waitForReady(custom(), NS, accessOf('coder', 'cw-1'));
  expect(access.spec.workspace).toMatchObject({ id: 'cw-1', owner: 'bob', ref: { kind: 'Pod', name: 'coder-ws' } });
  const nc = await connectWithCreds(state.nats.urls, await credsOf(`${accessOf('coder', 'cw-1')}-nats`));
  try {
    expect(await roundTrip(nc, nc, 'ws.cw-1.x')).toBe('hello');
  } finally {
    await nc.close();
  }
  await admin.core.deleteNamespacedPod({ name: 'coder-ws', namespace: NS, gracePeriodSeconds: 0 });
  await gone(accessOf('coder', 'cw-1'));
});

test('with the operator down, a workspace pod is still created, without the credentials volume', async () => {
  await operator.stop();
  try {
    const started = Date.now();
    const pod = await createPod('coder-down', { 'com.coder.workspace.id': 'cw-down' });
    expect(pod.spec?.volumes?.some((v) => v.name === 'nats-credentials')).toBeFalsy();
    // Refused connections fail fast; the 5s timeout bounds a hung operator.
    expect(Date.now() - started).toBeLessThan(6000);
  } finally {
    await operator.start();
  }
  // Its access and Secret still come, for the pod's next start.
  await waitForReady(custom(), NS, accessOf('coder', 'cw-down'));
});

test('a binding may have the webhook project a ServiceAccount token beside the Secret (for an auth callout)', async () => {
  await createBinding(custom(), NS, 'sa-token', {
    source: { pods: { selector: { matchLabels: { app: 'sa-token-ws' } }, workspaceIdLabel: 'ws-id' } },
    template: { issuerRef: { name: ISSUER }, permissions },
    mount: { path: '/nats', serviceAccountToken: { audience: 'nats', expirationSeconds: 1800 } },
  });
  try {
    // The webhook's watch of bindings may be a moment behind: a pod created before it saw the
    // binding is stored unchanged, so try again with a new pod until one is mutated.
    let attempt = 0;
    const pod = await waitFor(
      async () => {
        const created = await createPod(`sa-token-${++attempt}`, { app: 'sa-token-ws', 'ws-id': `sat-${attempt}` });
        return created.spec?.volumes?.some((v) => v.name === 'nats-credentials') ? created : undefined;
      },
      { what: 'a pod mutated with the projected token', timeoutMs: 30_000, intervalMs: 500 },
    );
    // Stored by the API server as the webhook wrote it: the Secret and the token, one directory.
    expect(pod.spec?.volumes?.find((v) => v.name === 'nats-credentials')?.projected?.sources).toEqual([
      { secret: { name: `${accessOf('sa-token', `sat-${attempt}`)}-nats`, optional: true } },
      { serviceAccountToken: { audience: 'nats', expirationSeconds: 1800, path: 'token' } },
    ]);
    expect(pod.spec?.containers[0]?.env).toContainEqual({ name: 'NATS_TOKEN_FILE', value: '/nats/token' });
  } finally {
    await custom().deleteNamespacedCustomObject({ group: GROUP, version: VERSION, plural: BINDING_PLURAL, namespace: NS, name: 'sa-token' });
  }
});

test('a binding reports how many workspaces it binds', async () => {
  // A binding of its own, so that the count is of this test's workspaces alone.
  await createSuiteBinding(custom(), 'counted', { pods: { selector: { matchLabels: { app: 'counted-ws' } }, workspaceIdLabel: 'ws-id' } });
  const bound = (count: number) =>
    waitFor(
      async () => {
        const current = (await custom().getNamespacedCustomObject({ group: GROUP, version: VERSION, plural: BINDING_PLURAL, namespace: NS, name: 'counted' })) as WorkspaceNatsBinding;
        return current.status?.workspaces === count ? current : undefined;
      },
      { what: `binding counted to report ${count} workspace(s)`, timeoutMs: 30_000 },
    );
  try {
    for (const id of ['cnt-1', 'cnt-2']) await createPod(`counted-${id}`, { app: 'counted-ws', 'ws-id': id });
    expect((await bound(2)).status?.conditions?.[0]).toMatchObject({ type: 'Ready', status: 'True', reason: 'Bound', message: '2 workspaces bound' });
    const accesses = (await custom().listNamespacedCustomObject({ group: GROUP, version: VERSION, plural: ACCESS_PLURAL, namespace: NS, labelSelector: 'natsaccess.io/binding=counted' })) as { items: unknown[] };
    expect(accesses.items).toHaveLength(2);
    await admin.core.deleteNamespacedPod({ name: 'counted-cnt-1', namespace: NS, gracePeriodSeconds: 0 });
    expect((await bound(1)).status?.conditions?.[0]).toMatchObject({ type: 'Ready', status: 'True', reason: 'Bound', message: '1 workspace bound' });
  } finally {
    await custom().deleteNamespacedCustomObject({ group: GROUP, version: VERSION, plural: BINDING_PLURAL, namespace: NS, name: 'counted' });
  }
});

test('a binding deleted while the operator was down has its accesses removed after it starts', async () => {
  // No owner reference ties an access to its binding, so only the binder can find these.
  await createSuiteBinding(custom(), 'plain', { pods: { selector: { matchLabels: { app: 'plain-ws' } }, workspaceIdLabel: 'ws-id' } });
  await createPod('plain-ws', { app: 'plain-ws', 'ws-id': 'pw-1' });
  await waitForReady(custom(), NS, accessOf('plain', 'pw-1'));
  await operator.stop();
  try {
    await custom().deleteNamespacedCustomObject({ group: GROUP, version: VERSION, plural: BINDING_PLURAL, namespace: NS, name: 'plain' });
  } finally {
    await operator.start();
  }
  await gone(accessOf('plain', 'pw-1'));
});

test.each([
  ['both sources', { gitpod: {}, pods: { preset: 'Coder' } }, 'set exactly one of source.gitpod and source.pods'],
  ['no source', {}, 'set exactly one of source.gitpod and source.pods'],
  ['pods without a preset or labels', { pods: { selector: { matchLabels: { a: 'b' } } } }, 'without a preset, set selector and workspaceIdLabel'],
  ['an unknown preset', { pods: { preset: 'Codespaces' } }, 'spec.source.pods.preset: Unsupported value: "Codespaces"'],
])('a binding with %s is refused, naming the field', async (_what, source, expected) => {
  let message = '';
  try {
    await custom().createNamespacedCustomObject({
      group: GROUP,
      version: VERSION,
      plural: BINDING_PLURAL,
      namespace: NS,
      body: { apiVersion: `${GROUP}/${VERSION}`, kind: 'WorkspaceNatsBinding', metadata: { name: 'refused' }, spec: { source, template: { issuerRef: { name: ISSUER } } } },
    });
  } catch (error) {
    message = (JSON.parse(String((error as { body?: unknown }).body)) as { message: string }).message;
  }
  expect(message).toContain(expected);
});
