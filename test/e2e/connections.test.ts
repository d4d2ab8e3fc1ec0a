// A burst of accesses, handled the cheap way: over the connection the operator already has, not
// one per request (its kubeconfig points at a relay that counts the connections made to the API
// server), and each access reconciled once, not again for every watch event echoing its own writes.

import { startConnectionCounter, type ConnectionCounter } from '../env/connection-counter.ts';
import { accessBody, clientsFor, createAccess, waitForIssuerReady, waitForReady, type Clients } from '../env/cluster.ts';
import { loadEnvState } from '../env/state.ts';
import type { OperatorProcess } from '../env/operator.ts';
import { startSuite } from './support/suite.ts';

const NS = 'e2e-connections';
const ISSUER = 'e2e-connections';
const BURST = 30;
let counter: ConnectionCounter;
let operator: OperatorProcess;
let admin: Clients;

beforeAll(async () => {
  const server = clientsFor(loadEnvState().kubeconfig).kubeConfig.getCurrentCluster()?.server;
  if (!server) throw new Error('the admin kubeconfig names no API server');
  counter = await startConnectionCounter(server);
  ({ operator, admin } = await startSuite({ namespaces: [NS], issuer: { name: ISSUER }, apiServer: counter.url }));
}, 120_000);

afterAll(async () => {
  await operator?.stop();
  await counter?.stop();
});

test(`${BURST} accesses issued over the open connection, each reconciled once`, async () => {
  // Once the issuer's account check is done: its verdict re-checks every access of the issuer.
  await waitForIssuerReady(admin.custom, ISSUER);
  const before = counter.opened();
  const permissions = { publish: { allow: ['ws.{{workspace.id}}.>'] } };
  const names = Array.from({ length: BURST }, (_, i) => `conn-${i}`);
  await Promise.all(names.map((name) => createAccess(admin.custom, NS, accessBody(name, { issuerRef: { name: ISSUER }, permissions }))));
  for (const name of names) await waitForReady(admin.custom, NS, name);
  // Each access takes at least 4 requests (finalizer, Secret, Event, status): a new connection
  // per request was 152 here. Pooled, undici speaks HTTP/2 to the API server (as client-go does),
  // so requests and watches share the connection the operator opened at start.
  expect(counter.opened() - before).toBeLessThanOrEqual(2);
  expect(counter.open()).toBeLessThanOrEqual(3);

  // Its writes per access (finalizer, Secret, status) come back as three watch events, which used
  // to reconcile it again each time (39 reconciles for 30 accesses once only the events after the
  // write's answer were recognised; about 5 per access before that).
  const reconciles = operator
    .log()
    .split('\n')
    .filter((line) => line.includes('"msg":"reconciled"') && line.includes(`"key":"${NS}/conn-`));
  expect(reconciles.length).toBeGreaterThanOrEqual(BURST);
  // Slack for a watch that restarts mid-burst on a busy machine: its relist wakes what it lists.
  expect(reconciles.length).toBeLessThanOrEqual(BURST + 2);
});
