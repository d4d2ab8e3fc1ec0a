// AuditService counting connections: each connection counted once however it was learnt (its
// advisory, a CONNZ listing, or both), closed ones not brought back by a listing asked for before,
// counts that dropped while no leader listened set to 0 only when every server answered, and a
// user the directory learns within the grace attributed, not reported. Fakes in fake-audit.ts;
// simulated time.

import { jest } from '@jest/globals';
import {
  accessNamed,
  audit,
  connectAdvisory,
  connectSubject,
  connz,
  disconnectAdvisory,
  disconnectSubject,
  elapse,
  issuerOf,
  mintUser,
  NATS_0,
  NATS_1,
  newAccountKey,
  TIMING,
  type Client,
} from './fake-audit.ts';

const account = newAccountKey();
const signingKey = newAccountKey();
const ACCOUNT = account.getPublicKey();
const platform = issuerOf('platform', ACCOUNT, signingKey.getPublicKey());

beforeEach(() => jest.useFakeTimers({ now: 0 }));
afterEach(() => jest.useRealTimers());

/** A started audit of the platform issuer with access team-a/ws1, and a client of that access. */
async function ws1Audit(connections?: { active: number }) {
  const minted = await mintUser(ACCOUNT, signingKey);
  const client: Client = { account: ACCOUNT, user: minted.user, jwt: minted.jwt, cid: 7 };
  const world = audit({ issuers: [platform], accesses: [accessNamed('team-a', 'ws1', 'platform', connections)], users: { 'team-a/ws1': [minted.user] } });
  return { ...world, client };
}

const connectLines = (lines: Record<string, unknown>[]) => lines.filter((line) => line.event === 'connect');

test('a connect then a disconnect: one line each, the gauge and status.connections 1 then 0', async () => {
  const { service, nats, client, lines, gauge, statusWrites, events } = await ws1Audit();
  service.start();
  await elapse();

  nats.publish(connectSubject(ACCOUNT), connectAdvisory(client));
  await elapse(1);
  expect(lines).toEqual([
    expect.objectContaining({ event: 'connect', attribution: 'access', namespace: 'team-a', access: 'ws1', workspaceId: 'ws1', user: client.user, issuer: 'platform', server: 'nats-0', cid: 7 }),
  ]);
  expect(gauge.platform).toBe(1);
  // (A 0 ms timer set inside another runs 1 ms later under jest's fake timers.)
  expect(statusWrites).toEqual([{ at: 1, access: 'team-a/ws1', connections: { active: 1, lastConnectTime: '1970-01-01T00:00:00Z' } }]);

  await elapse(1_000);
  nats.publish(disconnectSubject(ACCOUNT), disconnectAdvisory(client));
  await elapse();
  expect(lines).toHaveLength(2);
  expect(lines[1]).toMatchObject({ event: 'disconnect', attribution: 'access', access: 'ws1', reason: 'Client Closed', bytesIn: 20, bytesOut: 10 });
  expect(gauge.platform).toBe(0);
  // The second write waits for the interval since the first.
  await elapse(TIMING.statusIntervalMs - 1_000 - 1);
  expect(statusWrites).toHaveLength(1);
  await elapse(1);
  expect(statusWrites[1]).toEqual({ at: 1 + TIMING.statusIntervalMs, access: 'team-a/ws1', connections: { active: 0, lastConnectTime: '1970-01-01T00:00:00Z' } });
  expect(events.map((event) => `${event.object} ${event.reason}`)).toEqual(['WorkspaceNatsAccess team-a/ws1 Connected', 'WorkspaceNatsAccess team-a/ws1 Disconnected']);
  await service.stop();
});

test.each([
  ['the listing first, then the connect advisory', true],
  ['the connect advisory first, then the listing', false],
])('%s: the connection counts once, with one connect line', async (_, listingFirst) => {
  const { service, nats, client, lines, gauge, statusWrites } = await ws1Audit();
  const listed = () => nats.publish(connectSubject(ACCOUNT), connectAdvisory(client));
  if (listingFirst) nats.listing = () => [connz(NATS_0, [client])];
  service.start();
  await elapse();
  if (listingFirst) expect(gauge.platform).toBe(1);
  listed();
  await elapse(1_000);
  if (!listingFirst) {
    nats.listing = () => [connz(NATS_0, [client])];
    service.resync();
    await elapse();
  }
  expect(gauge.platform).toBe(1);
  expect(connectLines(lines)).toHaveLength(1);
  await elapse(TIMING.statusIntervalMs);
  expect(statusWrites.at(-1)?.connections.active).toBe(1);
  await service.stop();
});

test('a listing asked for before a disconnect and answered after it does not bring the connection back', async () => {
  const { service, nats, client, gauge } = await ws1Audit();
  service.start();
  await elapse();
  nats.publish(connectSubject(ACCOUNT), connectAdvisory(client));
  await elapse(1_000);
  expect(gauge.platform).toBe(1);

  let answer: (listing: ReturnType<typeof connz>[]) => void = () => undefined;
  nats.listing = () => new Promise((resolve) => (answer = resolve));
  service.resync();
  await elapse(1_000);
  nats.publish(disconnectSubject(ACCOUNT), disconnectAdvisory(client));
  await elapse();
  expect(gauge.platform).toBe(0);
  // The server listed it while it was still open.
  answer([connz(NATS_0, [client])]);
  await elapse();
  expect(gauge.platform).toBe(0);
  await service.stop();
});

describe('after a restart, a count stored by the last leader', () => {
  test('is set to 0 by a listing every server answered without its connections', async () => {
    const { service, nats, statusWrites, gauge } = await ws1Audit({ active: 2 });
    nats.serverList = [NATS_0, NATS_1];
    service.start();
    await elapse();
    expect(statusWrites).toEqual([{ at: 0, access: 'team-a/ws1', connections: { active: 0 } }]);
    expect(gauge.platform).toBe(0);
    await service.stop();
  });

  test('is left alone when a server did not answer (its connections are not known)', async () => {
    const { service, nats, statusWrites, gauge } = await ws1Audit({ active: 2 });
    nats.serverList = [NATS_0, NATS_1];
    nats.listing = () => [connz(NATS_0, [])];
    service.start();
    await elapse(TIMING.statusIntervalMs);
    expect(statusWrites).toEqual([]);
    expect(gauge.platform).toBeUndefined();
    await service.stop();
  });
});

test('a user that connects before the directory knows its access is attributed within the grace, not reported', async () => {
  const { service, nats, lines, gauge, statusWrites, events, called, putAccess } = audit({ issuers: [platform] });
  const minted = await mintUser(ACCOUNT, signingKey, 'team-a/ws2');
  const client: Client = { account: ACCOUNT, user: minted.user, jwt: minted.jwt, cid: 9 };
  service.start();
  await elapse();
  nats.publish(connectSubject(ACCOUNT), connectAdvisory(client));
  await elapse();
  // At connect time nobody accounts for it: the line says so, the issuer counts it.
  expect(lines).toEqual([expect.objectContaining({ event: 'connect', attribution: 'unknown', issuer: 'platform', user: minted.user })]);
  expect(gauge.platform).toBe(1);

  await elapse(TIMING.unknownGraceMs / 2);
  putAccess(accessNamed('team-a', 'ws2', 'platform'), [minted.user]);
  await elapse(TIMING.unknownGraceMs);
  expect(statusWrites).toEqual([expect.objectContaining({ access: 'team-a/ws2', connections: { active: 1 } })]);
  expect(gauge.platform).toBe(1);
  expect(called('unknownUser')).toEqual([]);
  expect(called('overPermission')).toEqual([]);
  expect(events).toEqual([]);
  await service.stop();
});
