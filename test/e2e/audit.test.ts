// The audit against real nats-server advisories: every connect, disconnect and refused login of an
// issuer's account becomes one audit line naming its access, Events on the access (aggregated),
// status.connections; connections no access accounts for, revoked users retrying and user JWTs
// beyond a tightened policy are reported on the issuer, and revoked with policy.enforcement Revoke.
// The suite has its own NATS trust and server, so no other suite's clients are in its account.

import type { CoreV1Event } from '@kubernetes/client-node';
import type { ClusterNatsIssuer } from '../../src/api/cluster-nats-issuer.ts';
import { ACCESS_PLURAL, CREDS_KEY, GROUP, VERSION } from '../../src/api/constants.ts';
import { mintUserCredentials } from '../../src/nats/credentials.ts';
import { nativeFromSeed } from '../../src/nats/native-keys.ts';
import { scrapeMetrics } from '../env/metrics.ts';
import type { NatsEnv, NatsTrust } from '../env/nats.ts';
import { accessBody, createAccess, getAccess, operatorOutputIn, secretMaterialIn, setIssuerPolicy, waitFor, waitForReady, type Clients } from '../env/cluster.ts';
import { connect } from '@nats-io/transport-node';
import { ACCEPTED, connectWithCreds, loginOutcome, roundTrip } from '../env/nats-client.ts';
import type { OperatorProcess } from '../env/operator.ts';
import { startSuiteWithOwnNats } from './support/suite.ts';

const NS = 'e2e-audit';
const ISSUER = 'e2e-audit';
/** Aggregated Events come at most this often per object and reason (--audit-event-window). */
const EVENT_WINDOW_MS = 3_000;
let admin: Clients;
let operator: OperatorProcess;
let trust: NatsTrust;
let nats: NatsEnv;

const permissions = { publish: { allow: ['ws.{{workspace.id}}.>'] }, subscribe: { allow: ['ws.{{workspace.id}}.>'] } };

beforeAll(async () => {
  ({ admin, operator, trust, nats } = await startSuiteWithOwnNats({
    issuer: ISSUER,
    namespaces: [NS],
    nodes: 1,
    operatorArgs: ['--audit-event-window', `${EVENT_WINDOW_MS / 1000}s`],
  }));
});

afterAll(async () => {
  await operator?.stop();
  await nats?.stop();
});

interface AuditLine {
  logger: string;
  msg: string;
  event: string;
  namespace?: string;
  access?: string;
  workspaceId?: string;
  attribution: string;
  user?: string;
  server: string;
  cid: number;
  clientHost?: string;
  clientName?: string;
  clientLang?: string;
  clientVersion?: string;
  reason?: string;
  bytesIn?: number;
  bytesOut?: number;
}

/** The operator's audit lines so far. */
function auditLines(): AuditLine[] {
  return operator
    .log()
    .split('\n')
    .filter((line) => line.includes('"logger":"audit"'))
    .map((line) => JSON.parse(line) as AuditLine);
}

const waitForLines = (what: string, match: (line: AuditLine) => boolean, count = 1, timeoutMs = 15_000) =>
  waitFor(async () => {
    const lines = auditLines().filter(match);
    return lines.length >= count ? lines : undefined;
  }, { what, timeoutMs });

async function eventsAbout(namespace: string, name: string, reason: string): Promise<CoreV1Event[]> {
  const events = await admin.core.listNamespacedEvent({ namespace, fieldSelector: `involvedObject.name=${name},reason=${reason}` });
  return events.items;
}

const issuerEvents = (reason: string) => eventsAbout('default', ISSUER, reason);
const metric = async (name: string, labels: Record<string, string> = {}) => (await scrapeMetrics(operator.metricsUrl)).sum(`workspace_nats_operator_${name}`, labels);
const total = (events: CoreV1Event[]) => events.reduce((sum, event) => sum + (event.count ?? 1), 0);

const credsOf = async (name: string) => {
  const secret = await admin.core.readNamespacedSecret({ name: `${name}-nats`, namespace: NS });
  return Buffer.from(secret.data?.[CREDS_KEY] ?? '', 'base64').toString('utf8');
};

async function readyAccess(name: string) {
  await createAccess(admin.custom, NS, accessBody(name, { issuerRef: { name: ISSUER }, permissions, workspace: { id: `id-${name}` } }));
  const access = await waitForReady(admin.custom, NS, name);
  return { access, creds: await credsOf(name) };
}

const deleteAccess = (name: string) => admin.custom.deleteNamespacedCustomObject({ group: GROUP, version: VERSION, plural: ACCESS_PLURAL, namespace: NS, name });

/** Sets the issuer's spec.policy (the suite's issuer has none of its own). */
const setPolicy = (policy: ClusterNatsIssuer['spec']['policy']) => setIssuerPolicy(admin.custom, ISSUER, policy);

/** A user of the account minted here (with its signing key, or `seed`): no access accounts for it. */
async function outsideUser(name: string, seed = trust.workspaceAccount.signingKey.seed) {
  const minted = await mintUserCredentials({
    name,
    accountPublicKey: trust.workspaceAccount.publicKey,
    signingKey: nativeFromSeed(seed),
    grant: { pub: { allow: ['>'], deny: [] }, sub: { allow: ['>'], deny: [] }, subs: -1, payload: -1, data: -1, allowed_connection_types: [], src: [] },
    expiresAt: new Date(Date.now() + 3_600_000),
  });
  return minted;
}

test('a connect and a disconnect each make one audit line naming the access, an Event, and status.connections', async () => {
  const { access } = await readyAccess('alpha');
  const connectsBefore = await metric('nats_client_events_total', { issuer: ISSUER, event: 'connect' });
  const nc = await connectWithCreds(nats.urls, await credsOf('alpha'), { name: 'alpha-client' });
  await roundTrip(nc, nc, 'ws.id-alpha.ping');
  const user = access.status?.userPublicKey;
  const [connect] = await waitForLines('the connect line', (line) => line.event === 'connect' && line.user === user);
  expect(connect).toMatchObject({
    msg: 'nats connect',
    namespace: NS,
    access: 'alpha',
    workspaceId: 'id-alpha',
    attribution: 'access',
    server: expect.any(String),
    clientHost: '127.0.0.1',
    clientName: 'alpha-client',
    clientLang: 'nats.js',
  });
  await waitFor(async () => ((await getAccess(admin.custom, NS, 'alpha'))?.status?.connections?.active === 1 ? true : undefined), {
    what: 'status.connections.active 1',
    timeoutMs: 30_000,
  });
  expect(await eventsAbout(NS, 'alpha', 'Connected')).toHaveLength(1);
  expect(await metric('nats_client_events_total', { issuer: ISSUER, event: 'connect' })).toBe(connectsBefore + 1);
  expect(await metric('nats_connections', { issuer: ISSUER })).toBe(1);

  await nc.close();
  const [disconnect] = await waitForLines('the disconnect line', (line) => line.event === 'disconnect' && line.user === user);
  expect(disconnect).toMatchObject({ namespace: NS, access: 'alpha', workspaceId: 'id-alpha', reason: 'Client Closed' });
  expect(disconnect?.bytesOut).toBeGreaterThan(0);
  expect(disconnect?.bytesIn).toBeGreaterThan(0);
  const status = await waitFor(
    async () => {
      const connections = (await getAccess(admin.custom, NS, 'alpha'))?.status?.connections;
      return connections?.active === 0 ? connections : undefined;
    },
    { what: 'status.connections.active 0', timeoutMs: 30_000 },
  );
  expect(Date.parse(status.lastConnectTime ?? '')).toBeGreaterThan(Date.now() - 120_000);
  expect(auditLines().filter((line) => line.user === user).map((line) => line.event)).toEqual(['connect', 'disconnect']);
  expect(await metric('nats_connections', { issuer: ISSUER })).toBe(0);
});

test("a deleted access's copied creds tried 50 times: every refusal attributed and counted, in few Events", async () => {
  const { access, creds } = await readyAccess('beta');
  const user = access.status?.userPublicKey;
  const refusedBefore = await metric('nats_auth_failures_total', { issuer: ISSUER, reason: 'UserRevoked' });
  await deleteAccess('beta');
  await waitFor(async () => ((await getAccess(admin.custom, NS, 'beta')) ? undefined : true), { what: 'beta gone', timeoutMs: 30_000 });
  for (let i = 0; i < 50; i++) expect(await loginOutcome(nats.urls, creds)).not.toBe(ACCEPTED);

  const refused = await waitForLines('50 auth error lines', (line) => line.event === 'auth_error' && line.user === user, 50);
  expect(refused).toHaveLength(50);
  expect(refused[0]).toMatchObject({ attribution: 'revoked', reason: 'UserRevoked', namespace: NS, access: 'beta', workspaceId: 'id-beta' });
  // The first refusal is an Event at once, the other 49 one more Event when the window closes.
  const events = await waitFor(
    async () => {
      const found = (await issuerEvents('RevokedUserRetrying')).filter((event) => event.message?.includes(user ?? '-'));
      return total(found) >= 50 ? found : undefined;
    },
    { what: 'the issuer Events to count 50 retries', timeoutMs: 30_000 },
  );
  expect(events.length).toBeLessThanOrEqual(3);
  expect(total(events)).toBe(50);
  expect(events[0]?.type).toBe('Warning');
  expect(await metric('nats_auth_failures_total', { issuer: ISSUER, reason: 'UserRevoked' })).toBe(refusedBefore + 50);
});

test('a user minted outside the operator is reported on the issuer; with enforcement Revoke it is cut and refused', async () => {
  const reported = await outsideUser('outside-reported');
  const nc = await connectWithCreds(nats.urls, reported.creds);
  const [event] = await waitFor(
    async () => {
      const found = (await issuerEvents('UnknownUserConnected')).filter((e) => e.message?.includes(reported.userPublicKey));
      return found.length > 0 ? found : undefined;
    },
    { what: 'an UnknownUserConnected Event', timeoutMs: 15_000 },
  );
  expect(event?.type).toBe('Warning');
  expect(await metric('unknown_user_connections_total', { issuer: ISSUER })).toBeGreaterThanOrEqual(1);
  // Reported only: the connection stays.
  await roundTrip(nc, nc, 'anything.at.all');
  await nc.close();

  await setPolicy({ enforcement: 'Revoke' });
  try {
    const cut = await outsideUser('outside-cut');
    const connectedAt = Date.now();
    const live = await connectWithCreds(nats.urls, cut.creds);
    // A kick closes the connection without a word to the client; the refusal below is the server's.
    await live.closed();
    process.stdout.write(`unknown user cut ${Date.now() - connectedAt} ms after it connected\n`);
    await waitFor(async () => ((await loginOutcome(nats.urls, cut.creds)) === ACCEPTED ? undefined : true), {
      what: 'the outside user to be refused',
      timeoutMs: 15_000,
    });
    expect(await loginOutcome(nats.urls, cut.creds)).toBe('Authorization Violation');
    const revoked = await waitFor(
      async () => {
        const found = (await issuerEvents('UserRevokedByPolicy')).filter((e) => e.message?.includes(cut.userPublicKey));
        return found.length > 0 ? found : undefined;
      },
      { what: 'a UserRevokedByPolicy Event', timeoutMs: 15_000 },
    );
    expect(revoked[0]?.message).toContain('UnknownUser');
    const enforced = await metric('enforcement_revocations_total', { issuer: ISSUER, reason: 'UnknownUser' });
    expect(enforced).toBeGreaterThanOrEqual(1);

    // Signed with the account's own key, not the operator's signing key: the platform's, reported only.
    const platform = await outsideUser('platform-service', trust.workspaceAccount.seed);
    const service = await connectWithCreds(nats.urls, platform.creds);
    await waitFor(
      async () => ((await issuerEvents('UnknownUserConnected')).some((e) => e.message?.includes(platform.userPublicKey)) ? true : undefined),
      { what: "the platform user's UnknownUserConnected Event", timeoutMs: 15_000 },
    );
    await roundTrip(service, service, 'platform.ping');
    expect(await metric('enforcement_revocations_total', { issuer: ISSUER, reason: 'UnknownUser' })).toBe(enforced);
    await service.close();
  } finally {
    await setPolicy({});
  }
});

test('a connected user whose JWT exceeds a tightened policy is reported, and revoked under enforcement', async () => {
  const { creds } = await readyAccess('gamma');
  const nc = await connectWithCreds(nats.urls, creds);
  const closed = nc.closed();
  await setPolicy({ enforcement: 'Revoke', allowedSubjects: { publish: ['ws.{{workspace.id}}.cmd.>'] } });
  try {
    const [event] = await waitFor(
      async () => {
        const found = (await issuerEvents('OverPermission')).filter((e) => e.message?.includes(`${NS}/gamma`));
        return found.length > 0 ? found : undefined;
      },
      { what: 'an OverPermission Event', timeoutMs: 15_000 },
    );
    expect(event?.message).toContain('pub.allow[0]: "ws.id-gamma.>" is outside policy.allowedSubjects');
    expect(await metric('over_permission_connections_total', { issuer: ISSUER })).toBeGreaterThanOrEqual(1);
    await closed;
    await waitFor(async () => ((await loginOutcome(nats.urls, creds)) === ACCEPTED ? undefined : true), { what: 'gamma refused', timeoutMs: 15_000 });
    expect(await loginOutcome(nats.urls, creds)).toBe('Authorization Violation');
  } finally {
    await setPolicy({});
  }
});

test('no seed, JWT or token in an audit line, Event, status or metric', async () => {
  // A login refused with a token typed as the user name: the server's advisory carries the name.
  const token = 'eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJ3b3Jrc3BhY2UtdG9rZW4ifQ.c2lnbmF0dXJl';
  await expect(connect({ servers: nats.urls, user: token, pass: 'secret-password', reconnect: false })).rejects.toThrow();
  const [refused] = await waitForLines('the refused login', (line) => line.event === 'auth_error' && line.attribution === 'unknown' && line.user === '[REDACTED]');
  expect(refused?.reason).toBe('Other');
  expect(operator.log()).not.toContain('secret-password');
  expect(secretMaterialIn(auditLines().map((line) => JSON.stringify(line)).join('\n'))).toEqual([]);
  expect(secretMaterialIn((await scrapeMetrics(operator.metricsUrl)).text)).toEqual([]);
  expect(secretMaterialIn(await operatorOutputIn(admin, NS))).toEqual([]);
});
