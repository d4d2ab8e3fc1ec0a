// A GitPod workspace logged in through the auth callout on every server of a 3-node NATS cluster:
// when the workspace stops (phase Stopping), the binder deletes its access and the operator cuts
// its callout logins on each server; logging in again with the same, still unexpired token is
// refused everywhere.

import type { NatsConnection } from '@nats-io/transport-node';
import type { IdentityProvider } from '../../src/api/cluster-nats-auth-callout.ts';
import { Reason } from '../../src/api/reasons.ts';
import type { WorkspaceNatsBinding } from '../../src/api/workspace-nats-binding.ts';
import { accessNameFor } from '../../src/policy/bound-workspaces.ts';
import { createBinding, getAccess, waitFor, waitForReady, type Clients } from '../env/cluster.ts';
import { createWorkspace, installWorkspaceCrd, setWorkspacePhase } from '../env/gitpod.ts';
import { gitpodClaims, startTestIdp, type TestIdp } from '../env/idp.ts';
import type { NatsEnv, NatsTrust } from '../env/nats.ts';
import { closeReason, connectWithToken, roundTrip, tokenLoginOutcome } from '../env/nats-client.ts';
import type { OperatorProcess } from '../env/operator.ts';
import { calloutBody, createCallout, createCalloutSecrets, waitForCalloutReady } from './support/callout.ts';
import { startSuiteWithOwnNats } from './support/suite.ts';

const NS = 'e2e-callout-cluster';
const ISSUER = 'e2e-callout-cluster';
const CALLOUT = 'e2e-callout-cluster';
const BINDING = 'gitpod';
const NODES = 3;

let admin: Clients;
let operator: OperatorProcess;
let nats: NatsEnv;
let trust: NatsTrust;
let idp: TestIdp;

beforeAll(async () => {
  idp = await startTestIdp();
  ({ admin, operator, nats, trust } = await startSuiteWithOwnNats({ issuer: ISSUER, namespaces: [NS], nodes: NODES }));
  const suffix = `-${ISSUER}`;
  await createCalloutSecrets(admin, trust, suffix);
  const providers: IdentityProvider[] = [{ name: 'gitpod', kind: 'OIDC', issuerURL: idp.issuer, audiences: ['nats'], issuers: [ISSUER] }];
  await createCallout(admin, calloutBody(CALLOUT, trust, nats.urls, providers, suffix));
  const ready = await waitForCalloutReady(admin, CALLOUT);
  // One replica connected to one server; its routes carry the subscription to the other two.
  expect(ready.status?.servers).toBe(NODES);
  await installWorkspaceCrd(admin.kubeConfig);
  await createBinding(admin.custom, NS, BINDING, {
    source: { gitpod: {} },
    template: {
      issuerRef: { name: ISSUER },
      authCalloutRef: { name: CALLOUT },
      permissions: { publish: { allow: ['ws.{{workspace.id}}.>'] }, subscribe: { allow: ['ws.{{workspace.id}}.>'] } },
    },
  });
}, 120_000);

afterAll(async () => {
  await operator?.stop();
  await nats?.stop();
  await idp?.stop();
});

test('a stopping workspace loses its callout logins on every server at once, and its token is refused after', async () => {
  await createWorkspace(admin.custom, NS, 'inst-c1', 'ws-c1', { owner: 'user-1' });
  const access = accessNameFor({ metadata: { name: BINDING } } as WorkspaceNatsBinding, 'inst-c1');
  await waitForReady(admin.custom, NS, access, 'True', Reason.CalloutReady);
  const token = await idp.sign(gitpodClaims({ workspaceId: 'ws-c1', orgId: 'org-a', userId: 'user-1', audience: 'nats' }));
  // One login on each server.
  const logins: NatsConnection[] = [];
  for (const url of nats.urls) logins.push(await connectWithToken([url], trust.calloutAccount.sentinel.creds, token));
  try {
    for (const [i, nc] of logins.entries()) expect(await roundTrip(nc, nc, `ws.ws-c1.node-${i}`)).toBe('hello');
    const closedAt = logins.map((nc) => closeReason(nc).catch(() => undefined).then(() => Date.now()));
    const stopped = Date.now();
    await setWorkspacePhase(admin.custom, NS, 'inst-c1', 'Stopping');
    const times = (await Promise.all(closedAt)).map((at) => at - stopped);
    process.stderr.write(`[callout-cluster] logins cut on the ${NODES} servers ${times.join(', ')} ms after the workspace turned Stopping\n`);
    expect(logins.every((nc) => nc.isClosed())).toBe(true);
    for (const url of nats.urls) expect(await tokenLoginOutcome([url], trust.calloutAccount.sentinel.creds, token)).toBe('Authorization Violation');
    await waitFor(async () => ((await getAccess(admin.custom, NS, access)) ? undefined : true), { what: `${access} gone`, timeoutMs: 30_000 });
  } finally {
    await Promise.all(logins.map((nc) => nc.close()));
  }
});
