// Revocation on a three-server NATS cluster: effective on every server, given back to a server that
// restarts with an empty resolver directory, and kept in the cluster while the operator is down.
// The suite runs its own cluster (and NATS trust), so that it can stop, wipe and start servers.

import { CREDS_KEY, GROUP, ACCESS_PLURAL, VERSION } from '../../src/api/constants.ts';
import type { NatsEnv } from '../env/nats.ts';
import { accessBody, createAccess, getAccess, waitFor, waitForReady, type Clients } from '../env/cluster.ts';
import { connectWithCreds } from '../env/nats-client.ts';
import type { OperatorProcess } from '../env/operator.ts';
import { startSuiteWithOwnNats } from './support/suite.ts';

const NS = 'e2e-revocation-cluster';
const ISSUER = 'e2e-revocation-cluster';
let admin: Clients;
let operator: OperatorProcess;
let nats: NatsEnv;

beforeAll(async () => {
  ({ admin, operator, nats } = await startSuiteWithOwnNats({ issuer: ISSUER, namespaces: [NS], nodes: 3 }));
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
  const clients = await Promise.all(nats.urls.map((url) => connectWithCreds([url], creds)));
  const closed = clients.map((nc) => nc.closed());
  await admin.custom.deleteNamespacedCustomObject({ group: GROUP, version: VERSION, plural: ACCESS_PLURAL, namespace: NS, name });
  // Every server cut its own client of the user.
  for (const error of await Promise.all(closed)) expect(String(error)).toMatch(/revoked/i);
  await waitFor(async () => ((await getAccess(admin.custom, NS, name)) ? undefined : true), { what: `${name} gone`, timeoutMs: 30_000 });
  return creds;
}

/** The refusal of `creds` by the server at `url`, or undefined if it let them in. */
async function refusal(url: string, creds: string): Promise<string | undefined> {
  try {
    await (await connectWithCreds([url], creds)).close();
    return undefined;
  } catch (error) {
    return (error as Error).message;
  }
}

test('a revoked user is refused by each of the three servers', async () => {
  const creds = await revokedCreds('everywhere');
  for (const url of nats.urls) expect(await refusal(url, creds)).toMatch(/Authorization Violation/);
});

test('a server restarted with an empty resolver directory refuses the revoked user again within seconds', async () => {
  const creds = await revokedCreds('wiped');
  await nats.stopNode(2);
  await nats.startNode(2, { wipeResolver: true });
  const restartedAt = Date.now();
  // Its preloaded account JWT predates the revocation; the operator notices the new server.
  await waitFor(async () => ((await refusal(nats.urls[2]!, creds)) ? true : undefined), {
    what: 'the wiped server to refuse the revoked user',
    timeoutMs: 10_000,
  });
  expect(Date.now() - restartedAt).toBeLessThan(10_000);
});

test('revocations outlive the operator: every server wiped while it was down gets them back', async () => {
  const creds = await revokedCreds('outlived');
  await operator.stop();
  for (let i = 0; i < 3; i++) await nats.stopNode(i);
  for (let i = 0; i < 3; i++) await nats.startNode(i, { wipeResolver: true });
  // Nothing on NATS remembers the revocation now...
  for (const url of nats.urls) expect(await refusal(url, creds)).toBeUndefined();
  // ...but the cluster does, and the operator pushes it again when it starts.
  await operator.start();
  for (const url of nats.urls) {
    await waitFor(async () => ((await refusal(url, creds)) ? true : undefined), {
      what: `${url} to refuse the revoked user`,
      timeoutMs: 15_000,
    });
  }
});
