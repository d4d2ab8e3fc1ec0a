import type { V1Pod } from '@kubernetes/client-node';
import type { WorkspaceNatsBinding } from '../../src/api/workspace-nats-binding.ts';
import {
  accessNameFor,
  desiredAccess,
  gitpodWorkspaces,
  podRules,
  podWorkspaces,
  type GitpodWorkspace,
} from '../../src/policy/bound-workspaces.ts';
import { mountFor, mountPatch, type PatchOperation } from '../../src/webhook/pod-mutation.ts';

const binding = (source: WorkspaceNatsBinding['spec']['source'], name = 'ws'): WorkspaceNatsBinding => ({
  apiVersion: 'natsaccess.io/v1alpha1',
  kind: 'WorkspaceNatsBinding',
  metadata: { name, namespace: 'gitpod' },
  spec: { source, template: { issuerRef: { name: 'platform' }, ttl: '1h' } },
});

const workspace = (name: string, phase: string, type = 'Regular', id = `id-${name}`): GitpodWorkspace => ({
  apiVersion: 'workspace.gitpod.io/v1',
  kind: 'Workspace',
  metadata: { name, namespace: 'gitpod', uid: `uid-${name}` },
  spec: { type, ownership: { workspaceID: id, owner: 'user.1' } },
  status: { phase },
});

const pod = (name: string, labels: Record<string, string>, extra: Partial<V1Pod> = {}): V1Pod => ({
  metadata: { name, namespace: 'gitpod', uid: `uid-${name}`, labels },
  spec: { containers: [{ name: 'main', image: 'x' }, { name: 'side', image: 'y', env: [{ name: 'NATS_URL', value: 'mine' }] }] },
  ...extra,
});

/** Applies the webhook's "add" operations, as the API server would. */
function applyPatch(target: V1Pod, ops: PatchOperation[]): V1Pod {
  const copy = structuredClone(target) as unknown as Record<string, unknown>;
  for (const { path, value } of ops) {
    const tokens = path.split('/').slice(1).map((t) => t.replace(/~1/g, '/').replace(/~0/g, '~'));
    const last = tokens.pop() ?? '';
    let node = copy as Record<string, unknown>;
    for (const t of tokens) node = node[t] as Record<string, unknown>;
    if (last === '-') (node as unknown as unknown[]).push(value);
    else node[last] = value;
  }
  return copy as V1Pod;
}

describe('workspace sources', () => {
  test('GitPod workspaces: one run per instance, filtered by type, inactive once stopping', () => {
    const bound = gitpodWorkspaces(binding({ gitpod: { types: ['Regular'] } }), [
      workspace('i-1', 'Running'),
      workspace('i-2', 'STOPPING'),
      workspace('i-3', 'stopped'),
      workspace('i-4', 'Running', 'Prebuild'),
      { ...workspace('i-5', 'Running'), metadata: { name: 'i-5', uid: 'u5', deletionTimestamp: new Date() } },
    ]);
    expect(bound.map((w) => [w.key, w.active])).toEqual([
      ['i-1', true],
      ['i-2', false],
      ['i-3', false],
      ['i-5', false],
    ]);
    expect(bound[0]).toMatchObject({ id: 'id-i-1', owner: 'user-1', ref: { kind: 'Workspace', name: 'i-1', uid: 'uid-i-1' } });
  });

  test('presets, and fields that override them', () => {
    expect(podRules(binding({ pods: { preset: 'GitPod' } }))).toMatchObject({ keyLabel: 'workspaceID', workspaceIdLabel: 'metaID', ownerLabel: 'owner' });
    expect(podRules(binding({ pods: { preset: 'Coder', ownerLabel: 'team' } }))).toMatchObject({
      keyLabel: 'com.coder.workspace.id',
      workspaceIdLabel: 'com.coder.workspace.id',
      ownerLabel: 'team',
    });
    expect(podRules(binding({ pods: { selector: { matchLabels: { app: 'ws' } }, workspaceIdLabel: 'ws-id' } }))).toEqual({
      selector: { matchLabels: { app: 'ws' } },
      keyLabel: 'ws-id',
      workspaceIdLabel: 'ws-id',
    });
  });

  test('pods: one run per key, active while a live pod has it', () => {
    const coder = binding({ pods: { preset: 'Coder' } });
    const labels = { 'com.coder.workspace.id': 'abc', 'com.coder.user.id': 'alice' };
    const bound = podWorkspaces(coder, [
      pod('old', labels, { status: { phase: 'Succeeded' } }),
      pod('new', labels, { status: { phase: 'Running' } }),
      pod('other', { app: 'x' }),
    ]);
    const newRef = { apiVersion: 'v1', kind: 'Pod', name: 'new', uid: 'uid-new' };
    expect(bound).toEqual([{ key: 'abc', id: 'abc', owner: 'alice', ref: newRef, owners: [newRef], active: true }]);
  });

  test('pods: the oldest live pod represents the run, and every live pod owns its access', () => {
    const coder = binding({ pods: { preset: 'Coder' } });
    const labels = { 'com.coder.workspace.id': 'abc' };
    const at = (iso: string) => ({ creationTimestamp: new Date(iso) });
    const young = pod('b-young', labels, { status: { phase: 'Running' } });
    young.metadata = { ...young.metadata, ...at('2026-01-02T00:00:00Z') };
    const old = pod('z-old', labels, { status: { phase: 'Running' } });
    old.metadata = { ...old.metadata, ...at('2026-01-01T00:00:00Z') };
    const [run] = podWorkspaces(coder, [young, old]);
    expect(run?.ref.name).toBe('z-old');
    expect(run?.owners.map((owner) => owner.name)).toEqual(['z-old', 'b-young']);
    expect(desiredAccess(coder, run!).metadata.ownerReferences?.map((ref) => ref.name)).toEqual(['z-old', 'b-young']);
  });

  test('access names are DNS labels, readable, and apart wherever binding and key differ', () => {
    const b = binding({ gitpod: {} }, 'gitpod');
    expect(accessNameFor(b, 'a1b2c3d4-0000-4000-8000-123456789abc')).toMatch(/^gitpod-a1b2c3d4-0000-4000-8000-123456789abc-[0-9a-f]{8}$/);
    expect(accessNameFor(b, 'Ws_1')).toMatch(/^gitpod-ws-1-[0-9a-f]{8}$/);
    expect(accessNameFor(b, 'ws-1')).not.toBe(accessNameFor(b, 'Ws_1'));
    // Binding a, key b-c and binding a-b, key c read alike; the hash tells them apart.
    expect(accessNameFor(binding({ gitpod: {} }, 'a'), 'b-c')).not.toBe(accessNameFor(binding({ gitpod: {} }, 'a-b'), 'c'));
    for (const key of ['x'.repeat(80), '-', 'UPPER.case']) {
      const name = accessNameFor(binding({ gitpod: {} }, 'b'.repeat(40)), key);
      expect(name.length).toBeLessThanOrEqual(63);
      expect(name).toMatch(/^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/);
    }
  });

  test('the access: named, labelled, owned by the workspace object, with the template', () => {
    const b = binding({ gitpod: {} }, 'gitpod');
    const [run] = gitpodWorkspaces(b, [workspace('i-1', 'Running')]);
    const access = desiredAccess(b, run!);
    expect(access.metadata).toMatchObject({
      name: accessNameFor(b, 'i-1'),
      namespace: 'gitpod',
      labels: { 'natsaccess.io/binding': 'gitpod' },
      ownerReferences: [{ kind: 'Workspace', name: 'i-1', uid: 'uid-i-1', controller: false }],
    });
    expect(access.spec).toEqual({
      issuerRef: { name: 'platform' },
      workspace: { id: 'id-i-1', owner: 'user-1', ref: { apiVersion: 'workspace.gitpod.io/v1', kind: 'Workspace', name: 'i-1', uid: 'uid-i-1' } },
      ttl: '1h',
    });
  });
});

describe('the pod webhook', () => {
  const gitpod = binding({ gitpod: {} }, 'gitpod');
  const gitpodPod = pod('ws-i-1', { component: 'workspace', workspaceID: 'i-1', metaID: 'id-i-1' });

  test('a GitPod pod gets its Secret only while its Workspace is bound and running', () => {
    expect(mountFor(gitpodPod, [gitpod], () => workspace('i-1', 'Running'))).toEqual({
      secretName: `${accessNameFor(gitpod, 'i-1')}-nats`,
      mountPath: '/var/run/secrets/nats',
    });
    expect(mountFor(gitpodPod, [gitpod], () => workspace('i-1', 'Stopping'))).toBeUndefined();
    expect(mountFor(gitpodPod, [gitpod], () => undefined)).toBeUndefined();
    expect(mountFor(pod('web', { app: 'web' }), [gitpod], () => workspace('i-1', 'Running'))).toBeUndefined();
  });

  test('the whole Secret is mounted read-only into every container, with NATS_URL and NATS_CREDS', () => {
    const coder = { ...binding({ pods: { preset: 'Coder' } }, 'coder'), spec: { ...binding({ pods: { preset: 'Coder' } }).spec, mount: { path: '/nats' } } };
    const target = pod('coder-1', { 'com.coder.workspace.id': 'abc' });
    const mount = mountFor(target, [coder], () => undefined);
    const secretName = `${accessNameFor(coder, 'abc')}-nats`;
    expect(mount).toEqual({ secretName, mountPath: '/nats' });
    const mutated = applyPatch(target, mountPatch(target, mount!));
    // Optional: the pod starts even if the Secret never comes.
    expect(mutated.spec?.volumes).toEqual([{ name: 'nats-credentials', secret: { secretName, optional: true } }]);
    for (const container of mutated.spec?.containers ?? []) {
      expect(container.volumeMounts).toEqual([{ name: 'nats-credentials', mountPath: '/nats', readOnly: true }]);
      expect(container.env).toContainEqual({ name: 'NATS_CREDS', value: '/nats/nats.creds' });
    }
    expect(mutated.spec?.containers[0]?.env).toContainEqual({ name: 'NATS_URL', valueFrom: { secretKeyRef: { name: secretName, key: 'NATS_URL', optional: true } } });
    // The pod's own NATS_URL wins.
    expect(mutated.spec?.containers[1]?.env?.filter((e) => e.name === 'NATS_URL')).toEqual([{ name: 'NATS_URL', value: 'mine' }]);
    expect(mutated.metadata?.annotations).toEqual({ 'natsaccess.io/mounted-secret': secretName });
    // Idempotent: a pod mutated once gets nothing more.
    expect(mountPatch(mutated, mount!)).toEqual([]);
  });
  test('with serviceAccountToken, the Secret and a kubelet-rotated token share one projected directory', () => {
    const base = binding({ pods: { preset: 'Coder' } }, 'coder');
    const coder = { ...base, spec: { ...base.spec, mount: { path: '/nats/', serviceAccountToken: { audience: 'nats' } } } };
    const target = pod('coder-1', { 'com.coder.workspace.id': 'abc' });
    const mount = mountFor(target, [coder], () => undefined);
    const secretName = `${accessNameFor(coder, 'abc')}-nats`;
    expect(mount).toEqual({ secretName, mountPath: '/nats/', serviceAccountToken: { audience: 'nats' } });
    const mutated = applyPatch(target, mountPatch(target, mount!));
    expect(mutated.spec?.volumes).toEqual([
      {
        name: 'nats-credentials',
        projected: {
          sources: [{ secret: { name: secretName, optional: true } }, { serviceAccountToken: { audience: 'nats', expirationSeconds: 3600, path: 'token' } }],
        },
      },
    ]);
    for (const container of mutated.spec?.containers ?? []) expect(container.env).toContainEqual({ name: 'NATS_TOKEN_FILE', value: '/nats/token' });
    expect(mountPatch(mutated, mount!)).toEqual([]);
  });
});
