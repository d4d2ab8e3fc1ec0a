// The audit with two replicas and under a burst: only the leader listens, so each connect is one
// audit line even across a change of leader (the new leader finds the live connection by listing,
// without a second connect line), and 1,000 connects and disconnects in a burst are each one line,
// none lost, with the counts back to 0 after. Figures of the burst are `npm run benchmark:audit`'s.

import { CREDS_KEY } from '../../src/api/constants.ts';
import { accessBody, createAccess, OPERATOR_NAMESPACE, operatorKubeconfig, waitFor, waitForReady, getAccess, type Clients } from '../env/cluster.ts';
import { scrapeMetrics } from '../env/metrics.ts';
import type { NatsEnv } from '../env/nats.ts';
import { connectWithCreds, roundTrip } from '../env/nats-client.ts';
import { OperatorProcess } from '../env/operator.ts';
import { loadEnvState } from '../env/state.ts';
import { startSuiteWithOwnNats } from './support/suite.ts';

const NS = 'e2e-audit-replicas';
const ISSUER = 'e2e-audit-replicas';
const BURST = 1_000;
let admin: Clients;
let first: OperatorProcess;
let second: OperatorProcess | undefined;
let nats: NatsEnv;

beforeAll(async () => {
  ({ admin, operator: first, nats } = await startSuiteWithOwnNats({ issuer: ISSUER, namespaces: [NS], nodes: 1, operatorArgs: ['--leader-elect'] }));
});

afterAll(async () => {
  await second?.stop();
  await first?.stop();
  await nats?.stop();
});

interface AuditLine {
  event: string;
  attribution: string;
  user?: string;
  access?: string;
}

const linesOf = (operator: OperatorProcess | undefined): AuditLine[] =>
  (operator?.log() ?? '')
    .split('\n')
    .filter((line) => line.includes('"logger":"audit"'))
    .map((line) => JSON.parse(line) as AuditLine);

const allLines = () => [...linesOf(first), ...linesOf(second)];

async function readyCreds(name: string) {
  await createAccess(admin.custom, NS, accessBody(name, { issuerRef: { name: ISSUER }, permissions: { publish: { allow: ['ws.{{workspace.id}}.>'] }, subscribe: { allow: ['ws.{{workspace.id}}.>'] } } }));
  const access = await waitForReady(admin.custom, NS, name);
  const secret = await admin.core.readNamespacedSecret({ name: `${name}-nats`, namespace: NS });
  return { user: access.status?.userPublicKey, creds: Buffer.from(secret.data?.[CREDS_KEY] ?? '', 'base64').toString('utf8') };
}

const activeOf = async (name: string) => (await getAccess(admin.custom, NS, name))?.status?.connections?.active;

test('two replicas count each event once, also across a change of leader', async () => {
  const state = loadEnvState();
  second = new OperatorProcess({ kubeconfig: await operatorKubeconfig(state, [NS]), namespace: OPERATOR_NAMESPACE, serves: [NS], args: ['--leader-elect'] }, state.root);
  await second.start('waiting for the leader lease');
  const { user, creds } = await readyCreds('shared');
  const nc = await connectWithCreds(nats.urls, creds);
  await roundTrip(nc, nc, 'ws.shared.ping');
  await waitFor(async () => (allLines().some((line) => line.user === user && line.event === 'connect') ? true : undefined), { what: 'the connect line', timeoutMs: 15_000 });

  // The leader goes; the other takes over, finds the connection by listing, and logs no connect.
  await first.stop();
  await second.waitForLog('started', 60_000);
  await waitFor(async () => ((await scrapeMetrics(second?.metricsUrl ?? '')).sum('workspace_nats_operator_nats_connections', { issuer: ISSUER }) === 1 ? true : undefined), {
    what: 'the new leader to count the live connection',
    timeoutMs: 60_000,
  });
  await nc.close();
  await waitFor(async () => (allLines().some((line) => line.user === user && line.event === 'disconnect') ? true : undefined), { what: 'the disconnect line', timeoutMs: 15_000 });
  expect(allLines().filter((line) => line.user === user).map((line) => line.event)).toEqual(['connect', 'disconnect']);
  expect(linesOf(second).filter((line) => line.user === user).map((line) => line.event)).toEqual(['disconnect']);
  await waitFor(async () => ((await activeOf('shared')) === 0 ? true : undefined), { what: 'shared: 0 connections', timeoutMs: 30_000 });
});

test(`${BURST} connects in a burst: one connect and one disconnect line each, none lost`, async () => {
  const leader = second ?? first;
  const workspaces = await Promise.all(Array.from({ length: 10 }, (_, i) => readyCreds(`burst-${i}`)));
  const users = new Set(workspaces.map((workspace) => workspace.user));
  const before = linesOf(leader).filter((line) => users.has(line.user)).length;
  // 50 at a time: each connects, makes a round trip and closes.
  for (let start = 0; start < BURST; start += 50) {
    await Promise.all(
      Array.from({ length: 50 }, async (_, i) => {
        const nc = await connectWithCreds(nats.urls, (workspaces[(start + i) % workspaces.length] as { creds: string }).creds);
        await nc.flush();
        await nc.close();
      }),
    );
  }
  const lines = await waitFor(
    async () => {
      const found = linesOf(leader).filter((line) => users.has(line.user)).slice(before);
      return found.length >= 2 * BURST ? found : undefined;
    },
    { what: `${2 * BURST} audit lines`, timeoutMs: 60_000 },
  );
  expect(lines.filter((line) => line.event === 'connect' && line.attribution === 'access')).toHaveLength(BURST);
  expect(lines.filter((line) => line.event === 'disconnect' && line.attribution === 'access')).toHaveLength(BURST);
  const metrics = await scrapeMetrics(leader.metricsUrl);
  expect(metrics.sum('workspace_nats_operator_audit_events_dropped_total')).toBe(0);
  expect(metrics.sum('workspace_nats_operator_nats_connections', { issuer: ISSUER })).toBe(0);
  for (let i = 0; i < 10; i++) {
    await waitFor(async () => ((await activeOf(`burst-${i}`)) === 0 ? true : undefined), { what: `burst-${i}: 0 connections`, timeoutMs: 30_000 });
  }
});
