// The operator reuses its API connections: a burst of accesses goes over a handful of TLS
// connections, not one per request. Its kubeconfig points at a relay that counts the connections
// made to the API server.

import { startConnectionCounter, type ConnectionCounter } from '../env/connection-counter.ts';
import { accessBody, clientsFor, createAccess, waitForReady, type Clients } from '../env/cluster.ts';
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

test(`${BURST} accesses issued over a few connections`, async () => {
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
});
