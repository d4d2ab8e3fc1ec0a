// Revocation on a three-server NATS cluster: effective on every server, given back to a server that
// restarts with an empty resolver directory, and kept in the cluster while the operator is down.
// The suite runs its own cluster (and NATS trust), so that it can stop, wipe and start servers.

import { CREDS_KEY, GROUP, ACCESS_PLURAL, VERSION } from '../../src/api/constants.ts';
import type { NatsEnv } from '../env/nats.ts';
import { accessBody, createAccess, getAccess, waitFor, waitForReady, type Clients } from '../env/cluster.ts';
import { ACCEPTED, closeReason, connectWithCreds, loginOutcome, waitForRefusal } from '../env/nats-client.ts';
import type { OperatorProcess } from '../env/operator.ts';
import { startSuiteWithOwnNats } from './support/suite.ts';

const NS = 'e2e-revocation-cluster';
const NODES = 3;
const ISSUER = 'e2e-revocation-cluster';
let admin: Clients;
let operator: OperatorProcess;
let nats: NatsEnv;

beforeAll(async () => {
  ({ admin, operator, nats } = await startSuiteWithOwnNats({ issuer: ISSUER, namespaces: [NS], nodes: NODES }));
}, 180_000);

afterAll(async () => {
  await operator?.stop();
  await nats?.stop();
});

const permissions = { publish: { allow: ['ws.{{workspace.id}}.>'] }, subscribe: { allow: ['ws.{{workspace.id}}.>'] } };

/** Creates an access, waits for its creds, deletes it and waits until it is gone; returns a copy of the creds. */
async function revokedCreds(name: string): Promise<string> {
  await createAccess(admin.custom, NS, accessBody(name, { issuerRef: { name: ISSUER }, permissions }));
  await waitForReady(admin.custom, NS, name);
  const secret = await admin.core.readNamespacedSecret({ name: `${name}-nats`, namespace: NS });
  const creds = Buffer.from(secret.data?.[CREDS_KEY] ?? '', 'base64').toString('utf8');
  // The tests below go over every server: there must be all of them.
  expect(nats.urls).toHaveLength(NODES);
  const clients = await Promise.all(nats.urls.map((url) => connectWithCreds([url], creds)));
  const closed = Promise.all(clients.map(closeReason));
  await admin.custom.deleteNamespacedCustomObject({ group: GROUP, version: VERSION, plural: ACCESS_PLURAL, namespace: NS, name });
  // Every server cut its own client of the user.
  expect(await closed).toEqual(Array(NODES).fill('User Authentication Revoked'));
  await waitFor(async () => ((await getAccess(admin.custom, NS, name)) ? undefined : true), { what: `${name} gone`, timeoutMs: 30_000 });
  return creds;
}

/** How each server, on its own, answers a login with `creds`. */
const loginsAt = (creds: string) => Promise.all(nats.urls.map((url) => loginOutcome([url], creds)));

test('a revoked user is refused by each of the three servers', async () => {
  const creds = await revokedCreds('everywhere');
  expect(await loginsAt(creds)).toEqual(Array(NODES).fill('Authorization Violation'));
});

test('a server restarted with an empty resolver directory refuses the revoked user again within seconds', async () => {
  const creds = await revokedCreds('wiped');
  await nats.stopNode(2);
  await nats.startNode(2, { wipeResolver: true });
  // Its preloaded account JWT predates the revocation; the operator notices the new server.
  expect(await waitForRefusal([nats.urls[2]!], creds, 10_000)).toBe('Authorization Violation');
});

test('revocations outlive the operator: every server wiped while it was down gets them back', async () => {
  const creds = await revokedCreds('outlived');
  await operator.stop();
  try {
    for (let i = 0; i < NODES; i++) await nats.stopNode(i);
    for (let i = 0; i < NODES; i++) await nats.startNode(i, { wipeResolver: true });
    // Nothing on NATS remembers the revocation now...
    expect(await loginsAt(creds)).toEqual(Array(NODES).fill(ACCEPTED));
  } finally {
    await operator.start();
  }
  // ...but the cluster does, and the operator pushes it again when it starts.
  for (const url of nats.urls) expect(await waitForRefusal([url], creds, 15_000)).toBe('Authorization Violation');
});
