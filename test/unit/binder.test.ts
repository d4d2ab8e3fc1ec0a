// What the binder writes for each state of a binding's workspaces: the plans planBinding() makes
// from what the caches hold, and the calls apply() makes from them, against in-memory listers and a
// recording fake of the API server.

import type { V1Pod } from '@kubernetes/client-node';
import type { CustomObjectsApi } from '../../src/kube/api.ts';
import { pino } from 'pino';
import { BINDING_LABEL, BINDING_PLURAL, GROUP, VERSION } from '../../src/api/constants.ts';
import type { WorkspaceNatsAccess } from '../../src/api/workspace-nats-access.ts';
import type { WorkspaceNatsBinding } from '../../src/api/workspace-nats-binding.ts';
import { Binder, planBinding, type BinderPlan } from '../../src/binder/binder.ts';
import {
  accessNameFor,
  desiredAccess,
  gitpodWorkspaces,
  podWorkspaces,
  type GitpodWorkspace,
} from '../../src/policy/bound-workspaces.ts';
import { apiError, MemoryLister, RecordingApi } from './fake-kube.ts';

const NAMESPACE = 'dev';
const NOW = new Date('2026-03-01T12:00:00Z');

const binding = (name: string, source: WorkspaceNatsBinding['spec']['source'], issuer = 'platform'): WorkspaceNatsBinding => ({
  apiVersion: 'natsaccess.io/v1alpha1',
  kind: 'WorkspaceNatsBinding',
  metadata: { name, namespace: NAMESPACE, uid: `uid-${name}`, generation: 1 },
  spec: { source, template: { issuerRef: { name: issuer }, ttl: '1h' } },
});

const gitpod = binding('gitpod', { gitpod: { types: ['Regular'] } });
const coder = binding('coder', { pods: { preset: 'Coder' } });
const devpod = binding('devpod', { pods: { preset: 'DevPod' } });

const workspace = (name: string, phase: string, extra: { type?: string; deleting?: boolean } = {}): GitpodWorkspace => ({
  apiVersion: 'workspace.gitpod.io/v1',
  kind: 'Workspace',
  metadata: { name, namespace: NAMESPACE, uid: `uid-${name}`, ...(extra.deleting ? { deletionTimestamp: NOW } : {}) },
  spec: { type: extra.type ?? 'Regular', ownership: { workspaceID: `id-${name}`, owner: 'alice' } },
  status: { phase },
});

const pod = (name: string, labels: Record<string, string>, phase: string, deleting = false): V1Pod => ({
  metadata: { name, namespace: NAMESPACE, uid: `uid-${name}`, labels, creationTimestamp: NOW, ...(deleting ? { deletionTimestamp: NOW } : {}) },
  spec: { containers: [{ name: 'main', image: 'ide' }] },
  status: { phase },
});

const coderLabels = (id: string) => ({ 'com.coder.workspace.id': id, 'com.coder.user.id': 'alice' });

type SourceObject = GitpodWorkspace | V1Pod;

/** The accesses the binder stored while `objects` were the source (as the API server returns them). */
function accessesWhile(of: WorkspaceNatsBinding, objects: SourceObject[]): WorkspaceNatsAccess[] {
  const runs = of.spec.source.gitpod ? gitpodWorkspaces(of, objects as GitpodWorkspace[]) : podWorkspaces(of, objects as V1Pod[]);
  return runs
    .filter((run) => run.active)
    .map((run) => desiredAccess(of, run))
    .map((access) => ({ ...access, metadata: { ...access.metadata, uid: `uid-${access.metadata.name}`, resourceVersion: '7' } }));
}

interface World {
  bindings?: WorkspaceNatsBinding[];
  accesses?: WorkspaceNatsAccess[];
  source?: SourceObject[];
  /** Whether the source caches have synced. */
  synced?: boolean;
}

function setup(world: World) {
  const api = new RecordingApi();
  const bindings = new MemoryLister(world.bindings ?? []);
  const accesses = new MemoryLister(world.accesses ?? []);
  const source = new MemoryLister<SourceObject & { metadata?: { name?: string; namespace?: string } }>(world.source ?? []);
  const synced = world.synced ?? true;
  const binder = new Binder({
    customObjects: api.client<CustomObjectsApi>(),
    bindings,
    accesses,
    gitpodWorkspaces: { ready: () => (synced ? (source as MemoryLister<GitpodWorkspace>) : undefined) },
    pods: { ready: () => (synced ? (source as MemoryLister<V1Pod>) : undefined) },
    log: pino({ level: 'silent' }),
    fieldManager: 'test',
    clock: () => NOW,
  });
  /** Stores what the last reconcile wrote in the caches, as the informers would show it. */
  const settle = () => {
    for (const created of api.bodies<WorkspaceNatsAccess>('createNamespacedCustomObject')) accesses.put(created);
    for (const replaced of api.bodies<WorkspaceNatsAccess>('replaceNamespacedCustomObject')) accesses.put(replaced);
    for (const deleted of api.calls.filter((call) => call.method === 'deleteNamespacedCustomObject')) accesses.remove(String(deleted.args.name), NAMESPACE);
    for (const status of api.bodies<WorkspaceNatsBinding>('replaceNamespacedCustomObjectStatus')) bindings.put(status);
    api.calls.length = 0;
  };
  return { api, binder, bindings, accesses, source, settle };
}

/** The plan as access names, and the Ready reason and count it would write. */
function outline(plan: BinderPlan) {
  const names = (list: { metadata: { name: string } }[]) => list.map((access) => access.metadata.name);
  return {
    delete: names(plan.delete.map((deletion) => deletion.access)),
    replace: names(plan.replace),
    create: names(plan.create),
    ready: plan.status && { status: plan.status.ready.status, reason: plan.status.ready.reason, workspaces: plan.status.workspaces },
  };
}

const bound = (workspaces: number) => ({ status: 'True' as const, reason: 'Bound', workspaces });

describe('the binder plans, per workspace state', () => {
  const name = (of: WorkspaceNatsBinding, key: string) => accessNameFor(of, key);
  const cases: { state: string; of: WorkspaceNatsBinding; before: SourceObject[]; now: SourceObject[]; expected: ReturnType<typeof outline> }[] = [
    {
      state: 'GitPod Workspace running, no access yet: created',
      of: gitpod,
      before: [],
      now: [workspace('w1', 'Running')],
      expected: { delete: [], replace: [], create: [name(gitpod, 'w1')], ready: bound(1) },
    },
    {
      state: 'GitPod Workspace running, access in place: nothing',
      of: gitpod,
      before: [workspace('w1', 'Running')],
      now: [workspace('w1', 'Running')],
      expected: { delete: [], replace: [], create: [], ready: bound(1) },
    },
    {
      state: 'GitPod Workspace stopping: access deleted',
      of: gitpod,
      before: [workspace('w1', 'Running')],
      now: [workspace('w1', 'Stopping')],
      expected: { delete: [name(gitpod, 'w1')], replace: [], create: [], ready: bound(0) },
    },
    {
      state: 'GitPod Workspace stopped: access deleted',
      of: gitpod,
      before: [workspace('w1', 'Running')],
      now: [workspace('w1', 'stopped')],
      expected: { delete: [name(gitpod, 'w1')], replace: [], create: [], ready: bound(0) },
    },
    {
      state: 'GitPod Workspace being deleted: access deleted',
      of: gitpod,
      before: [workspace('w1', 'Running')],
      now: [workspace('w1', 'Running', { deleting: true })],
      expected: { delete: [name(gitpod, 'w1')], replace: [], create: [], ready: bound(0) },
    },
    {
      state: 'GitPod Workspace deleted: access deleted, the other kept',
      of: gitpod,
      before: [workspace('w1', 'Running'), workspace('w2', 'Running')],
      now: [workspace('w2', 'Running')],
      expected: { delete: [name(gitpod, 'w1')], replace: [], create: [], ready: bound(1) },
    },
    {
      state: 'GitPod Workspace of a type the binding does not bind: nothing',
      of: gitpod,
      before: [],
      now: [workspace('w1', 'Running', { type: 'Prebuild' })],
      expected: { delete: [], replace: [], create: [], ready: bound(0) },
    },
    {
      state: 'pod live: created',
      of: coder,
      before: [],
      now: [pod('p1', coderLabels('c1'), 'Running')],
      expected: { delete: [], replace: [], create: [name(coder, 'c1')], ready: bound(1) },
    },
    {
      state: 'pod Succeeded: access deleted',
      of: coder,
      before: [pod('p1', coderLabels('c1'), 'Running')],
      now: [pod('p1', coderLabels('c1'), 'Succeeded')],
      expected: { delete: [name(coder, 'c1')], replace: [], create: [], ready: bound(0) },
    },
    {
      state: 'pod Failed: access deleted',
      of: coder,
      before: [pod('p1', coderLabels('c1'), 'Running')],
      now: [pod('p1', coderLabels('c1'), 'Failed')],
      expected: { delete: [name(coder, 'c1')], replace: [], create: [], ready: bound(0) },
    },
    {
      state: 'pod terminating: access deleted',
      of: coder,
      before: [pod('p1', coderLabels('c1'), 'Running')],
      now: [pod('p1', coderLabels('c1'), 'Running', true)],
      expected: { delete: [name(coder, 'c1')], replace: [], create: [], ready: bound(0) },
    },
    {
      state: 'pod deleted: access deleted',
      of: coder,
      before: [pod('p1', coderLabels('c1'), 'Running')],
      now: [],
      expected: { delete: [name(coder, 'c1')], replace: [], create: [], ready: bound(0) },
    },
    {
      state: 'pod replaced by another of the same workspace: access kept, its owners replaced',
      of: coder,
      before: [pod('p1', coderLabels('c1'), 'Running')],
      now: [pod('p1', coderLabels('c1'), 'Succeeded'), pod('p2', coderLabels('c1'), 'Running')],
      expected: { delete: [], replace: [name(coder, 'c1')], create: [], ready: bound(1) },
    },
    {
      state: 'pod without the preset labels: nothing',
      of: coder,
      before: [],
      now: [pod('web', { app: 'web' }, 'Running')],
      expected: { delete: [], replace: [], create: [], ready: bound(0) },
    },
    {
      state: 'DevPod pod (devpod.sh/workspace-uid): created',
      of: devpod,
      before: [],
      now: [pod('dp1', { 'devpod.sh/workspace-uid': 'd-123' }, 'Running')],
      expected: { delete: [], replace: [], create: [name(devpod, 'd-123')], ready: bound(1) },
    },
  ];

  test.each(cases)('$state', ({ of, before, now, expected }) => {
    const { binder } = setup({ bindings: [of], accesses: accessesWhile(of, before), source: now });
    expect(outline(planBinding(binder.read(`${NAMESPACE}/${of.metadata.name}`)))).toEqual(expected);
  });
});

describe('what the binder writes', () => {
  const key = (of: WorkspaceNatsBinding) => `${NAMESPACE}/${of.metadata.name}`;

  test('a DevPod workspace pod gets an access named for its workspace uid, owned by the pod', async () => {
    const devpodPod = pod('dp1', { 'devpod.sh/workspace-uid': 'd-123' }, 'Running');
    const { api, binder } = setup({ bindings: [devpod], source: [devpodPod, pod('web', { app: 'web' }, 'Running')] });
    expect(await binder.reconcile(key(devpod))).toEqual({});
    expect(api.writes()).toEqual([`createNamespacedCustomObject ${accessNameFor(devpod, 'd-123')}`, `replaceNamespacedCustomObjectStatus devpod`]);
    const [created] = api.bodies<WorkspaceNatsAccess>('createNamespacedCustomObject');
    const podRef = { apiVersion: 'v1', kind: 'Pod', name: 'dp1', uid: 'uid-dp1' };
    expect(created?.metadata).toMatchObject({ namespace: NAMESPACE, labels: { [BINDING_LABEL]: 'devpod' }, ownerReferences: [{ ...podRef, controller: false }] });
    expect(created?.spec).toEqual({ issuerRef: { name: 'platform' }, workspace: { id: 'd-123', ref: podRef }, ttl: '1h' });
    expect(api.calls[0]?.args).toMatchObject({ group: GROUP, version: VERSION, namespace: NAMESPACE });
  });

  test('the status says how many workspaces are bound, as of the clock', async () => {
    const { api, binder } = setup({ bindings: [gitpod], source: [workspace('w1', 'Running'), workspace('w2', 'Running')] });
    await binder.reconcile(key(gitpod));
    const [written] = api.bodies<WorkspaceNatsBinding>('replaceNamespacedCustomObjectStatus');
    expect(api.calls.at(-1)?.args).toMatchObject({ plural: BINDING_PLURAL, name: 'gitpod', namespace: NAMESPACE });
    expect(written?.status).toEqual({
      observedGeneration: 1,
      workspaces: 2,
      conditions: [{ type: 'Ready', status: 'True', reason: 'Bound', message: '2 workspaces bound', observedGeneration: 1, lastTransitionTime: NOW.toISOString() }],
    });
  });

  test('a deleted binding: every access it made is deleted (by uid), no other, and no status is written', async () => {
    const running = [workspace('w1', 'Running'), workspace('w2', 'Running')];
    const other = binding('other', { gitpod: {} });
    const mine = accessesWhile(gitpod, running);
    const theirs = accessesWhile(other, running);
    const { api, binder } = setup({ bindings: [other], accesses: [...mine, ...theirs], source: running });
    const plan = planBinding(binder.read(key(gitpod)));
    expect(outline(plan)).toEqual({ delete: mine.map((a) => a.metadata.name), replace: [], create: [], ready: undefined });
    expect(plan.delete.map((deletion) => deletion.why)).toEqual(['its WorkspaceNatsBinding gitpod is gone', 'its WorkspaceNatsBinding gitpod is gone']);
    await binder.reconcile(key(gitpod));
    expect(api.writes()).toEqual(mine.map((access) => `deleteNamespacedCustomObject ${access.metadata.name}`));
    expect(api.calls[0]?.args.body).toEqual({ preconditions: { uid: mine[0]?.metadata.uid } });
  });

  test('a binding being deleted is treated as gone', () => {
    const deleting = { ...gitpod, metadata: { ...gitpod.metadata, deletionTimestamp: NOW } };
    const running = [workspace('w1', 'Running')];
    const { binder } = setup({ bindings: [deleting], accesses: accessesWhile(gitpod, running), source: running });
    expect(outline(planBinding(binder.read(key(gitpod))))).toEqual({ delete: [accessNameFor(gitpod, 'w1')], replace: [], create: [], ready: undefined });
  });

  test('an access already being deleted is not deleted again', async () => {
    const [access] = accessesWhile(gitpod, [workspace('w1', 'Running')]);
    const deleting = { ...access!, metadata: { ...access!.metadata, deletionTimestamp: NOW } };
    const { api, binder } = setup({ bindings: [gitpod], accesses: [deleting], source: [workspace('w1', 'Stopped')] });
    expect(outline(planBinding(binder.read(key(gitpod))))).toEqual({ delete: [], replace: [], create: [], ready: bound(0) });
    await binder.reconcile(key(gitpod));
    expect(api.writes()).toEqual(['replaceNamespacedCustomObjectStatus gitpod']);
  });

  test('a change the binding may make in place replaces the access, keeping its issuer and Secret', async () => {
    const running = [workspace('w1', 'Running')];
    const [access] = accessesWhile(gitpod, running);
    const stored = { ...access!, spec: { ...access!.spec, secret: { name: 'kept' } } };
    const longer = { ...gitpod, spec: { ...gitpod.spec, template: { ...gitpod.spec.template, ttl: '2h' } } };
    const { api, binder } = setup({ bindings: [longer], accesses: [stored], source: running });
    await binder.reconcile(key(gitpod));
    expect(api.writes()).toEqual([`replaceNamespacedCustomObject ${stored.metadata.name}`, 'replaceNamespacedCustomObjectStatus gitpod']);
    const [replaced] = api.bodies<WorkspaceNatsAccess>('replaceNamespacedCustomObject');
    expect(replaced?.metadata).toEqual(stored.metadata);
    expect(replaced?.spec).toEqual({ ...stored.spec, ttl: '2h' });
  });

  test('an immutable field changed: the access is deleted, then created again once it is gone', async () => {
    const running = [workspace('w1', 'Running')];
    const moved = binding('gitpod', gitpod.spec.source, 'other-issuer');
    const { api, binder, accesses, settle } = setup({ bindings: [moved], accesses: accessesWhile(gitpod, running), source: running });
    const accessName = accessNameFor(gitpod, 'w1');

    await binder.reconcile(key(gitpod));
    expect(api.writes()).toEqual([`deleteNamespacedCustomObject ${accessName}`, 'replaceNamespacedCustomObjectStatus gitpod']);

    // Its finalizer holds it while its users are revoked: the name is still taken.
    const [old] = accesses.objects;
    settle();
    accesses.put({ ...old!, metadata: { ...old!.metadata, deletionTimestamp: NOW } });
    await binder.reconcile(key(gitpod));
    expect(api.writes()).toEqual([]);

    accesses.remove(accessName, NAMESPACE);
    await binder.reconcile(key(gitpod));
    expect(api.writes()).toEqual([`createNamespacedCustomObject ${accessName}`]);
    expect(api.bodies<WorkspaceNatsAccess>('createNamespacedCustomObject')[0]?.spec.issuerRef).toEqual({ name: 'other-issuer' });
  });

  test('an access the API server refuses (422): Ready=False AccessRefused with its message, and a retry', async () => {
    const { api, binder } = setup({ bindings: [gitpod], source: [workspace('w1', 'Running'), workspace('w2', 'Running')] });
    const refusedName = accessNameFor(gitpod, 'w2');
    api.on('createNamespacedCustomObject', (args) => {
      const body = args.body as WorkspaceNatsAccess;
      if (body.metadata.name === refusedName) throw apiError(422, 'spec.ttl: Invalid value: "1h": too long');
      return body;
    });
    expect(await binder.reconcile(key(gitpod))).toEqual({ retry: true });
    const [written] = api.bodies<WorkspaceNatsBinding>('replaceNamespacedCustomObjectStatus');
    expect(written?.status?.workspaces).toBe(1);
    expect(written?.status?.conditions).toEqual([
      expect.objectContaining({
        status: 'False',
        reason: 'AccessRefused',
        message: `WorkspaceNatsAccess ${refusedName}: HTTP 422: spec.ttl: Invalid value: "1h": too long`,
      }),
    ]);
  });

  test('a write that raced another (409) is left to the next pass, not reported', async () => {
    const { api, binder } = setup({ bindings: [gitpod], source: [workspace('w1', 'Running')] });
    api.on('createNamespacedCustomObject', () => {
      throw apiError(409);
    });
    expect(await binder.reconcile(key(gitpod))).toEqual({});
    expect(api.bodies<WorkspaceNatsBinding>('replaceNamespacedCustomObjectStatus')[0]?.status?.conditions?.[0]?.reason).toBe('Bound');
  });

  test('while the source cache has not synced: Ready=False SourceNotReady, and no access is touched', async () => {
    const running = [workspace('w1', 'Running')];
    const { api, binder } = setup({ bindings: [gitpod], accesses: accessesWhile(gitpod, running), source: [], synced: false });
    expect(outline(planBinding(binder.read(key(gitpod))))).toEqual({
      delete: [],
      replace: [],
      create: [],
      ready: { status: 'False', reason: 'SourceNotReady', workspaces: undefined },
    });
    expect(await binder.reconcile(key(gitpod))).toEqual({});
    expect(api.writes()).toEqual(['replaceNamespacedCustomObjectStatus gitpod']);
    const [written] = api.bodies<WorkspaceNatsBinding>('replaceNamespacedCustomObjectStatus');
    expect(written?.status?.conditions?.[0]?.message).toMatch(/^Waiting for the first list of GitPod Workspaces/);
    expect(written?.status).not.toHaveProperty('workspaces');
  });

  test('deletions, replacements, creations, then the status: in that order', async () => {
    const before = [pod('p1', coderLabels('c1'), 'Running'), pod('p3', coderLabels('c3'), 'Running')];
    const now = [pod('p1', coderLabels('c1'), 'Succeeded'), pod('p2', coderLabels('c2'), 'Running'), pod('p3b', coderLabels('c3'), 'Running')];
    const { api, binder } = setup({ bindings: [coder], accesses: accessesWhile(coder, before), source: now });
    await binder.reconcile(key(coder));
    expect(api.writes()).toEqual([
      `deleteNamespacedCustomObject ${accessNameFor(coder, 'c1')}`,
      `replaceNamespacedCustomObject ${accessNameFor(coder, 'c3')}`,
      `createNamespacedCustomObject ${accessNameFor(coder, 'c2')}`,
      'replaceNamespacedCustomObjectStatus coder',
    ]);
  });

  test('a second reconcile with nothing changed writes nothing', async () => {
    const { api, binder, settle } = setup({
      bindings: [gitpod],
      source: [workspace('w1', 'Running'), workspace('w2', 'Stopping')],
    });
    await binder.reconcile(key(gitpod));
    expect(api.writes()).toHaveLength(2);
    settle();
    expect(await binder.reconcile(key(gitpod))).toEqual({});
    expect(api.writes()).toEqual([]);
  });
});
