// Reading nats-server's client advisories and CONNZ listings: what each field becomes, what is not
// an advisory we read, and that nothing read keeps the JWT the client presented.

import { createAccount as createNkeysAccount } from '@nats-io/nkeys';
import { readClientEvent, readConnz, readPresentedUser } from '../../src/nats/advisories.ts';
import { mintUserCredentials, signUserJwt, type MintRequest, type UserGrant } from '../../src/nats/credentials.ts';
import { encodeJwt } from '../../src/nats/native-jwt.ts';
import { createNativeUser, nativeFromSeed } from '../../src/nats/native-keys.ts';

// Native keys: nkeys' own sign in pure JS, slow enough to matter over a file of tests.
const createAccount = () => nativeFromSeed(createNkeysAccount().getSeed());
const createUser = createNativeUser;

const account = createAccount();
const signingKey = createAccount();
const expiresAt = new Date('2027-01-01T00:00:00Z');
const grant: UserGrant = {
  pub: { allow: ['ws.ws1.>'], deny: [] },
  sub: { allow: ['ws.ws1.>', '_INBOX.>'], deny: [] },
  subs: 10,
  payload: 1024,
  data: -1,
  allowed_connection_types: ['STANDARD'],
  src: [],
};
const request = (overrides: Partial<MintRequest> = {}): MintRequest => ({
  name: 'team-a/ws1',
  accountPublicKey: account.getPublicKey(),
  signingKey,
  grant,
  tags: ['ws:ws1'],
  expiresAt,
  ...overrides,
});
const jwtOf = (creds: string) => /-----BEGIN NATS USER JWT-----\n(.+)\n/.exec(creds)?.[1] as string;

const user = createUser();
const userJwt = signUserJwt(request(), user);
const SERVER = { name: 'nats-0', host: '0.0.0.0', id: 'NSERVERID', ver: '2.15.3', jetstream: false, flags: 0, seq: 7, time: '2026-12-03T08:00:00.1Z' };

/** A client as ClientInfo (server/events.go) marshals it: empty fields left out. */
const client = (overrides: Record<string, unknown> = {}) => ({
  start: '2026-12-03T07:59:59.9Z',
  host: '10.1.2.3',
  id: 42,
  acc: account.getPublicKey(),
  user: user.getPublicKey(),
  name: 'ws1-client',
  lang: 'nats.js',
  ver: '3.4.0',
  rtt: 1_200_000,
  server: 'nats-0',
  jwt: userJwt,
  issuer_key: signingKey.getPublicKey(),
  tags: ['ws:ws1'],
  kind: 'Client',
  client_type: 'nats',
  ...overrides,
});
const connectAdvisory = (overrides: Record<string, unknown> = {}) => ({
  type: 'io.nats.server.advisory.v1.client_connect',
  id: 'Ac0nnectAdvisoryId0001',
  timestamp: '2026-12-03T08:00:00.1Z',
  server: SERVER,
  client: client(),
  ...overrides,
});
/** DisconnectEventMsg: `sent` is what the client published, `received` what it was delivered. */
const disconnectAdvisory = (overrides: Record<string, unknown> = {}) => ({
  type: 'io.nats.server.advisory.v1.client_disconnect',
  id: 'AdisconnectAdvisoryId2',
  timestamp: '2026-12-03T08:05:00Z',
  server: SERVER,
  client: client({ stop: '2026-12-03T08:05:00Z' }),
  sent: { msgs: 10, bytes: 110 },
  received: { msgs: 20, bytes: 220 },
  reason: 'Client Closed',
  ...overrides,
});
const CONNECT_SUBJECT = `$SYS.ACCOUNT.${account.getPublicKey()}.CONNECT`;
const DISCONNECT_SUBJECT = `$SYS.ACCOUNT.${account.getPublicKey()}.DISCONNECT`;
const AUTH_ERR_SUBJECT = '$SYS.SERVER.NSERVERID.CLIENT.AUTH.ERR';

const holdsNoJwt = (value: unknown, jwt = userJwt) => {
  const text = JSON.stringify(value);
  expect(text).not.toContain(jwt);
  for (const segment of jwt.split('.')) expect(text).not.toContain(segment);
};

describe('readClientEvent', () => {
  test('a connect advisory: who, from where, on which server, with the JWT read and not kept', () => {
    const event = readClientEvent(CONNECT_SUBJECT, JSON.stringify(connectAdvisory()));
    expect(event).toEqual({
      kind: 'connect',
      id: 'Ac0nnectAdvisoryId0001',
      time: '2026-12-03T08:00:00.1Z',
      server: { id: 'NSERVERID', name: 'nats-0' },
      cid: 42,
      account: account.getPublicKey(),
      user: user.getPublicKey(),
      host: '10.1.2.3',
      clientName: 'ws1-client',
      lang: 'nats.js',
      version: '3.4.0',
      tags: ['ws:ws1'],
      presented: expect.objectContaining({ userPublicKey: user.getPublicKey(), account: account.getPublicKey() }),
      reason: undefined,
      bytesIn: undefined,
      bytesOut: undefined,
    });
    holdsNoJwt(event);
  });

  test('a disconnect: the reason, and bytes in as what the client received, bytes out as what it sent', () => {
    const event = readClientEvent(DISCONNECT_SUBJECT, JSON.stringify(disconnectAdvisory()));
    expect(event).toMatchObject({ kind: 'disconnect', id: 'AdisconnectAdvisoryId2', reason: 'Client Closed', bytesIn: 220, bytesOut: 110 });
    holdsNoJwt(event);
  });

  test('an auth error is told by its subject (it has the disconnect type), and carries no bytes', () => {
    const refused = disconnectAdvisory({ reason: 'Authentication Revoked', client: client({ acc: '$G', user: undefined }) });
    const event = readClientEvent(AUTH_ERR_SUBJECT, JSON.stringify(refused));
    expect(event).toMatchObject({ kind: 'auth_error', account: '$G', user: undefined, reason: 'Authentication Revoked', bytesIn: undefined, bytesOut: undefined });
    // The user is still known from the JWT the client presented.
    expect(event?.presented?.userPublicKey).toBe(user.getPublicKey());
    holdsNoJwt(event);
  });

  test('a client without JWT, tags or id (a callout login) reads with none of them', () => {
    const callout = client({ user: 'team-a/ws1', jwt: undefined, tags: undefined, id: undefined });
    const event = readClientEvent(CONNECT_SUBJECT, JSON.stringify(connectAdvisory({ client: callout })));
    expect(event).toMatchObject({ user: 'team-a/ws1', presented: undefined, tags: [], cid: 0 });
  });

  test('the server name falls back to its id', () => {
    const event = readClientEvent(CONNECT_SUBJECT, JSON.stringify(connectAdvisory({ server: { id: 'NSERVERID' } })));
    expect(event?.server).toEqual({ id: 'NSERVERID', name: 'NSERVERID' });
  });

  test.each([
    ['another advisory type', CONNECT_SUBJECT, JSON.stringify(connectAdvisory({ type: 'io.nats.server.advisory.v1.client_leafnode_connect' }))],
    ['no type', CONNECT_SUBJECT, JSON.stringify(connectAdvisory({ type: undefined }))],
    ['not JSON', CONNECT_SUBJECT, '{"type": "io.nats.server.advisory.v1.client_connect", '],
    ['no advisory id', CONNECT_SUBJECT, JSON.stringify(connectAdvisory({ id: undefined }))],
    ['no server id', CONNECT_SUBJECT, JSON.stringify(connectAdvisory({ server: { name: 'nats-0' } }))],
    ['no server', DISCONNECT_SUBJECT, JSON.stringify(disconnectAdvisory({ server: undefined }))],
    ['no client', AUTH_ERR_SUBJECT, JSON.stringify(disconnectAdvisory({ client: undefined }))],
  ])('%s is not read', (_, subject, data) => {
    expect(readClientEvent(subject, data)).toBeUndefined();
  });
});

describe('readPresentedUser', () => {
  test('a user minted with a signing key: its account from issuer_account, its signer, times and claims', async () => {
    const minted = await mintUserCredentials(request({ tags: ['ws:ws1', 'team:a'] }));
    const jwt = jwtOf(minted.creds);
    const presented = readPresentedUser(jwt);
    expect(presented).toEqual({
      userPublicKey: minted.userPublicKey,
      account: account.getPublicKey(),
      signer: signingKey.getPublicKey(),
      name: 'team-a/ws1',
      issuedAt: minted.issuedAt,
      expiresAt: minted.expiresAt,
      nats: expect.objectContaining({ pub: grant.pub, sub: grant.sub, subs: 10, tags: ['ws:ws1', 'team:a'], issuer_account: account.getPublicKey() }),
    });
    expect(presented?.expiresAt).toEqual(expiresAt);
    holdsNoJwt(presented, jwt);
  });

  test('a user signed by the account key itself: its account is the issuer', () => {
    const presented = readPresentedUser(signUserJwt(request({ signingKey: account }), user));
    expect(presented).toMatchObject({ userPublicKey: user.getPublicKey(), account: account.getPublicKey(), signer: account.getPublicKey() });
    expect(presented?.nats).not.toHaveProperty('issuer_account');
  });

  test('a JWT without exp never expires', () => {
    const claims = { aud: 'NATS', name: 'x', sub: user.getPublicKey(), nats: { type: 'user' } };
    const presented = readPresentedUser(encodeJwt(claims, account, Date.parse('2026-12-03T08:00:00Z')));
    expect(presented?.expiresAt).toBeUndefined();
    expect(presented?.issuedAt).toEqual(new Date('2026-12-03T08:00:00Z'));
  });

  test('a JWT whose signature does not verify is not read', () => {
    const other = signUserJwt(request({ name: 'other' }), createUser());
    const [header, payload] = userJwt.split('.');
    expect(readPresentedUser(`${header}.${payload}.${other.split('.')[2]}`)).toBeUndefined();
    // A payload changed after signing.
    const forged = Buffer.from(JSON.stringify({ ...JSON.parse(Buffer.from(payload as string, 'base64url').toString()), name: 'forged' })).toString('base64url');
    expect(readPresentedUser(`${header}.${forged}.${userJwt.split('.')[2]}`)).toBeUndefined();
  });

  test('a JWT about something other than a user (an account) is not read', () => {
    const accountJwt = encodeJwt({ sub: createAccount().getPublicKey(), name: 'acc', nats: { type: 'account' } }, signingKey);
    expect(readPresentedUser(accountJwt)).toBeUndefined();
  });

  test('nothing, or text that is not a JWT, is not read', () => {
    expect(readPresentedUser(undefined)).toBeUndefined();
    expect(readPresentedUser('')).toBeUndefined();
    expect(readPresentedUser('not.a.jwt!')).toBeUndefined();
  });
});

describe('readConnz', () => {
  test('each listed connection as a record, with the JWT read and not kept', () => {
    const server = { id: 'NSERVERID', name: 'nats-0' };
    const records = readConnz(server, [
      {
        cid: 7,
        ip: '10.1.2.3',
        name: 'ws1-client',
        lang: 'go',
        version: '1.37.0',
        authorized_user: user.getPublicKey(),
        account: account.getPublicKey(),
        jwt: userJwt,
        tags: ['ws:ws1'],
      },
      { cid: 8, ip: '10.1.2.4', authorized_user: 'team-a/ws2', account: account.getPublicKey() },
    ]);
    expect(records).toEqual([
      {
        server,
        cid: 7,
        account: account.getPublicKey(),
        user: user.getPublicKey(),
        host: '10.1.2.3',
        clientName: 'ws1-client',
        lang: 'go',
        version: '1.37.0',
        tags: ['ws:ws1'],
        presented: expect.objectContaining({ userPublicKey: user.getPublicKey(), signer: signingKey.getPublicKey() }),
      },
      {
        server,
        cid: 8,
        account: account.getPublicKey(),
        user: 'team-a/ws2',
        host: '10.1.2.4',
        clientName: undefined,
        lang: undefined,
        version: undefined,
        tags: [],
        presented: undefined,
      },
    ]);
    holdsNoJwt(records);
  });
});
