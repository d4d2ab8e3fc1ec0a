// The issuer's policy bounds what workspaces get: an access asking for more gets PolicyViolation
// and no credentials; tightening the policy takes away credentials that now exceed it; only the
// namespaces the issuer selects may use it.

import { ISSUER_PLURAL, GROUP, VERSION } from '../../src/api/constants.ts';
import type { EnvState } from '../env/state.ts';
import {
  accessBody,
  createAccess,
  createIssuer,
  eventsOf,
  ensureNamespace,
  waitFor,
  waitForReady,
  type Clients,
} from '../env/cluster.ts';
import type { OperatorProcess } from '../env/operator.ts';
import { startSuite } from './support/suite.ts';

const NS = 'e2e-policy';
const ISSUER = 'e2e-policy';
let state: EnvState;
let admin: Clients;
let operator: OperatorProcess;

beforeAll(async () => {
  ({ state, admin, operator } = await startSuite({
    namespaces: [NS, 'e2e-policy-selected'],
    issuer: {
      name: ISSUER,
      spec: { policy: { allowedSubjects: { publish: ['ws.{{workspace.id}}.>'], subscribe: ['ws.{{workspace.id}}.>'] } } },
    },
  }));
});

afterAll(async () => {
  await operator?.stop();
});

const secretNames = async (namespace: string, access: string) =>
  (await admin.core.listNamespacedSecret({ namespace, labelSelector: `natsaccess.io/access=${access}` })).items.map(
    (s) => s.metadata?.name,
  );

test('an access asking for subjects outside the policy gets PolicyViolation and no credentials', async () => {
  await createAccess(admin.custom, NS, accessBody('greedy', { issuerRef: { name: ISSUER }, permissions: { subscribe: { allow: ['ws.>'] } } }));
  const access = await waitForReady(admin.custom, NS, 'greedy', 'False', 'PolicyViolation');
  expect(access.status?.conditions?.[0]?.message).toBe(
    'spec.permissions.subscribe.allow[0]: "ws.>" is outside what issuer e2e-policy allows (ws.greedy.>)',
  );
  await waitFor(async () => ((await eventsOf(admin.core, NS, 'greedy')).some((e) => e.startsWith('Warning/PolicyViolation: ')) ? true : undefined), {
    what: 'a PolicyViolation Event',
    timeoutMs: 10_000,
  });
  expect(await secretNames(NS, 'greedy')).toEqual([]);
});

test('tightening the policy takes away credentials that now exceed it', async () => {
  const permissions = { publish: { allow: ['ws.{{workspace.id}}.events.>'] }, subscribe: { allow: ['ws.{{workspace.id}}.>'] } };
  await createAccess(admin.custom, NS, accessBody('modest', { issuerRef: { name: ISSUER }, permissions }));
  await waitForReady(admin.custom, NS, 'modest');
  expect(await secretNames(NS, 'modest')).toEqual(['modest-nats']);

  const allowPublish = (subjects: string[]) =>
    admin.custom.patchClusterCustomObject({
      group: GROUP,
      version: VERSION,
      plural: ISSUER_PLURAL,
      name: ISSUER,
      body: [{ op: 'replace', path: '/spec/policy/allowedSubjects/publish', value: subjects }],
    });
  await allowPublish(['ws.{{workspace.id}}.cmd.>']);
  try {
    const access = await waitForReady(admin.custom, NS, 'modest', 'False', 'PolicyViolation');
    expect(access.status?.conditions?.[0]?.message).toContain('spec.permissions.publish.allow[0]: "ws.modest.events.>" is outside');
    await waitFor(async () => ((await secretNames(NS, 'modest')).length === 0 ? true : undefined), {
      what: 'the credentials to be taken away',
      timeoutMs: 30_000,
    });
  } finally {
    // The issuer's policy as the suite set it up (beforeAll), for the tests that follow.
    await allowPublish(['ws.{{workspace.id}}.>']);
  }
});

test('only namespaces the issuer selects may use it; labelling the namespace lets the access through', async () => {
  const ns = 'e2e-policy-selected';
  await ensureNamespace(admin.core, ns);
  await createIssuer(admin, state, 'e2e-policy-selective', { policy: { namespaceSelector: { matchLabels: { 'nats-access': 'on' } } } });
  await createAccess(admin.custom, ns, accessBody('outsider', { issuerRef: { name: 'e2e-policy-selective' } }));
  const refused = await waitForReady(admin.custom, ns, 'outsider', 'False', 'PolicyViolation');
  expect(refused.status?.conditions?.[0]?.message).toBe(
    `namespace ${ns} may not use issuer e2e-policy-selective: its policy.namespaceSelector does not select it`,
  );
  await admin.core.patchNamespace({ name: ns, body: [{ op: 'add', path: '/metadata/labels/nats-access', value: 'on' }] });
  await waitForReady(admin.custom, ns, 'outsider');
  expect(await secretNames(ns, 'outsider')).toEqual(['outsider-nats']);
});
