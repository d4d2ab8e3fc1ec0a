// An AuditService wired to fakes: issuers and accesses in maps, a NATS system client whose
// subscriptions the test delivers advisories to (as nats-server 2.15.3 writes them) and whose
// listings it answers, and every output recorded: audit lines, metrics, status writes, Events,
// revocations and kicks. Time is jest's fake clock (jest.useFakeTimers({ now: 0 })).

import { jest } from '@jest/globals';
import { createAccount } from '@nats-io/nkeys';
import { pino } from 'pino';
import type { ClusterNatsIssuer } from '../../src/api/cluster-nats-issuer.ts';
import type { WorkspaceNatsAccess } from '../../src/api/workspace-nats-access.ts';
import type { AuditMetrics } from '../../src/audit/audit-deps.ts';
import { AuditService } from '../../src/audit/audit-service.ts';
import type { ConnectionsStatus } from '../../src/audit/connection-status.ts';
import { AggregatingEventRecorder } from '../../src/kube/aggregated-events.ts';
import type { EventRecorder } from '../../src/kube/events.ts';
import type { Lister } from '../../src/kube/lister.ts';
import { readConnz } from '../../src/nats/advisories.ts';
import { mintUserCredentials, signUserJwt, type MintRequest } from '../../src/nats/credentials.ts';
import { nativeFromSeed } from '../../src/nats/native-keys.ts';
import type { NatsServerRef, NatsSystemClient } from '../../src/nats/system-client.ts';
import type { RevokeUser } from '../../src/revocation/account-revoker.ts';
import { access as accessFixture, issuer as issuerFixture } from './fixtures.ts';

export const TIMING = { resyncMs: 60_000, statusIntervalMs: 10_000, unknownGraceMs: 5_000 };
const EVENT_WINDOW_MS = 60_000;

export const newAccountKey = () => nativeFromSeed(createAccount().getSeed());
export const NATS_0: NatsServerRef = { id: 'NSERVER0', name: 'nats-0' };
export const NATS_1: NatsServerRef = { id: 'NSERVER1', name: 'nats-1' };

/** An issuer of `account`, whose status names `signingKey` as the operator's signing key. */
export function issuerOf(name: string, account: string, signingKey: string, enforcement?: 'Report' | 'Revoke'): ClusterNatsIssuer {
  const base = issuerFixture({ account: { publicKey: account, signingKeySecretRef: { name: `${name}-signing-key` } }, ...(enforcement ? { policy: { enforcement } } : {}) });
  return { ...base, metadata: { name }, status: { signingKeyPublicKey: signingKey } };
}

export function accessNamed(namespace: string, name: string, issuer: string, connections?: ConnectionsStatus): WorkspaceNatsAccess {
  const base = accessFixture({ issuerRef: { name: issuer }, workspace: { id: name, owner: 'alice' } });
  return { ...base, metadata: { ...base.metadata, namespace, name }, ...(connections ? { status: { connections } } : {}) };
}

/** A user minted as the operator mints them (1 h lifetime, within the default policy). */
export async function mintUser(account: string, signingKey: ReturnType<typeof newAccountKey>, name = 'team-a/ws1') {
  const request: MintRequest = {
    name,
    accountPublicKey: account,
    signingKey,
    grant: { pub: { allow: ['ws.>'], deny: [] }, sub: { allow: ['ws.>', '_INBOX.>'], deny: [] }, subs: 10, payload: 1024, data: -1, allowed_connection_types: ['STANDARD'], src: [] },
    tags: [`ws:${name.split('/')[1]}`],
    expiresAt: new Date(Date.now() + 3_600_000),
  };
  const { userPublicKey, creds } = await mintUserCredentials(request);
  const jwt = /-----BEGIN NATS USER JWT-----\n(.+)\n/.exec(creds)?.[1] as string;
  /** Another JWT for the same user public key, signed by `by` (anyone can write one). */
  const forgedBy = (by: ReturnType<typeof newAccountKey>) => signUserJwt({ ...request, signingKey: by }, userPublicKey);
  return { user: userPublicKey, jwt, forgedBy };
}

export interface Client {
  account: string;
  user: string;
  jwt: string;
  cid: number;
  server?: NatsServerRef;
}

/** ClientInfo as server/events.go marshals it into an advisory. */
const clientInfo = (client: Client, extra: Record<string, unknown> = {}) => ({
  start: new Date(Date.now()).toISOString(),
  host: '10.1.2.3',
  id: client.cid,
  acc: client.account,
  user: client.user,
  name: 'ws-client',
  lang: 'nats.js',
  ver: '3.4.0',
  server: (client.server ?? NATS_0).name,
  jwt: client.jwt,
  kind: 'Client',
  client_type: 'nats',
  ...extra,
});
const serverInfo = (server: NatsServerRef) => ({ name: server.name, host: '0.0.0.0', id: server.id, ver: '2.15.3', jetstream: false, flags: 0, seq: 7, time: new Date(Date.now()).toISOString() });

let advisoryIds = 0;
const advisoryId = () => `Advisory${String(++advisoryIds).padStart(14, '0')}`;

export const connectAdvisory = (client: Client) =>
  JSON.stringify({ type: 'io.nats.server.advisory.v1.client_connect', id: advisoryId(), timestamp: new Date(Date.now()).toISOString(), server: serverInfo(client.server ?? NATS_0), client: clientInfo(client) });

export const disconnectAdvisory = (client: Client) =>
  JSON.stringify({
    type: 'io.nats.server.advisory.v1.client_disconnect',
    id: advisoryId(),
    timestamp: new Date(Date.now()).toISOString(),
    server: serverInfo(client.server ?? NATS_0),
    client: clientInfo(client, { stop: new Date(Date.now()).toISOString() }),
    sent: { msgs: 1, bytes: 10 },
    received: { msgs: 2, bytes: 20 },
    reason: 'Client Closed',
  });

/** A refused login: in the global account, without a user, with the JWT it presented. */
export const authErrorAdvisory = (client: Client) =>
  JSON.stringify({
    type: 'io.nats.server.advisory.v1.client_disconnect',
    id: advisoryId(),
    timestamp: new Date(Date.now()).toISOString(),
    server: serverInfo(client.server ?? NATS_0),
    client: clientInfo(client, { acc: '$G', user: undefined }),
    reason: 'Authentication Revoked',
  });

/** One server's CONNZ answer (with auth) listing `clients`. */
export const connz = (server: NatsServerRef, clients: Client[]) => ({
  server,
  records: readConnz(
    server,
    clients.map((client) => ({ cid: client.cid, ip: '10.1.2.3', name: 'ws-client', lang: 'nats.js', version: '3.4.0', authorized_user: client.user, account: client.account, jwt: client.jwt })),
  ),
});

type Listing = ReturnType<typeof connz>[];

/** The NATS cluster as the audit's system connection sees it. */
export class FakeNats {
  readonly #handlers = new Set<{ subject: string; onMessage: (subject: string, data: string) => void }>();
  serverList: NatsServerRef[] = [NATS_0];
  /** Each account's CONNZ answers; by default every server answers with none. */
  listing: (account: string) => Listing | Promise<Listing> = () => this.serverList.map((server) => connz(server, []));
  readonly kicks: [string, number][] = [];

  subscribe(subject: string, onMessage: (subject: string, data: string) => void): () => void {
    const handler = { subject, onMessage };
    this.#handlers.add(handler);
    return () => this.#handlers.delete(handler);
  }

  async servers(): Promise<NatsServerRef[]> {
    return this.serverList;
  }

  async clientsOf(account: string, _expected: number): Promise<Listing> {
    return this.listing(account);
  }

  async kick(serverId: string, cid: number): Promise<boolean> {
    this.kicks.push([serverId, cid]);
    return true;
  }

  /** Delivers a message to every subscription matching `subject`. */
  publish(subject: string, data: string): void {
    for (const { onMessage } of this.#matching(subject)) onMessage(subject, data);
  }

  /** How many subscriptions a message on `subject` reaches. */
  subscribers(subject: string): number {
    return this.#matching(subject).length;
  }

  /** Subscriptions whose subject matches `subject` (`*` matches one token). */
  #matching(subject: string) {
    const tokens = subject.split('.');
    return [...this.#handlers].filter(({ subject: pattern }) => {
      const wanted = pattern.split('.');
      return wanted.length === tokens.length && wanted.every((token, i) => token === '*' || token === tokens[i]);
    });
  }
}

export const connectSubject = (account: string) => `$SYS.ACCOUNT.${account}.CONNECT`;
export const disconnectSubject = (account: string) => `$SYS.ACCOUNT.${account}.DISCONNECT`;
export const authErrSubject = (server: NatsServerRef = NATS_0) => `$SYS.SERVER.${server.id}.CLIENT.AUTH.ERR`;

function mapLister<T extends { metadata?: { name?: string; namespace?: string } }>(objects: Map<string, T>): Lister<T> {
  return {
    get: (name, namespace) => objects.get(namespace === undefined ? name : `${namespace}/${name}`),
    list: () => [...objects.values()],
  };
}

export interface AuditWorld {
  issuers: ClusterNatsIssuer[];
  accesses?: WorkspaceNatsAccess[];
  /** Users each access (by "namespace/name") accounts for. */
  users?: Record<string, string[]>;
  /** What each revoked user was revoked for. */
  revoked?: Record<string, string>;
}

/** The service, started, and everything it did. */
export function audit(world: AuditWorld) {
  const nats = new FakeNats();
  const issuers = new Map(world.issuers.map((issuer) => [issuer.metadata.name as string, issuer]));
  const accesses = new Map((world.accesses ?? []).map((access) => [`${access.metadata.namespace}/${access.metadata.name}`, access]));
  const users = world.users ?? {};
  const lines: Record<string, unknown>[] = [];
  const gauge: Record<string, number> = {};
  const calls: unknown[][] = [];
  const statusWrites: { at: number; access: string; connections: ConnectionsStatus }[] = [];
  const revokes: { account: string; key: string; users: RevokeUser[] }[] = [];
  const events: { object: string; type: string; reason: string; message: string }[] = [];
  const record = (name: string) => (...args: unknown[]) => void calls.push([name, ...args]);
  const metrics: AuditMetrics = {
    auditEvent: record('auditEvent'),
    auditDropped: record('auditDropped'),
    clientEvent: record('clientEvent'),
    connections: (issuer, active) => {
      gauge[issuer] = active;
      calls.push(['connections', issuer, active]);
    },
    authFailure: record('authFailure'),
    unknownUser: record('unknownUser'),
    overPermission: record('overPermission'),
    enforced: record('enforced'),
  };
  const recorder: EventRecorder = {
    record: async (object, type, reason, message) => void events.push({ object: `${object.kind} ${object.metadata?.namespace ?? ''}/${object.metadata?.name}`, type, reason, message }),
  };
  const service = new AuditService({
    issuers: mapLister(issuers),
    accesses: mapLister(accesses),
    usersOf: (access) => users[`${access.metadata.namespace}/${access.metadata.name}`] ?? [],
    systemClient: async () => nats as unknown as NatsSystemClient,
    revokedFor: (_account, user) => world.revoked?.[user],
    serves: () => true,
    revoke: (account, key, revoked) => void revokes.push({ account, key, users: revoked }),
    events: new AggregatingEventRecorder(recorder, EVENT_WINDOW_MS),
    writeConnections: async (access, connections) => {
      const key = `${access.metadata.namespace}/${access.metadata.name}`;
      statusWrites.push({ at: Date.now(), access: key, connections });
      // What the informer would show next: the patched status.
      accesses.set(key, { ...access, status: { ...access.status, connections } });
    },
    metrics,
    audit: pino({ level: 'info' }, { write: (line: string) => void lines.push(JSON.parse(line) as Record<string, unknown>) }),
    log: pino({ level: 'silent' }),
    timing: TIMING,
  });
  /** Adds or changes an access, as its watch event would tell the service. */
  const putAccess = (access: WorkspaceNatsAccess, accessUsers: string[]) => {
    const key = `${access.metadata.namespace}/${access.metadata.name}`;
    accesses.set(key, access);
    users[key] = accessUsers;
    service.accessChanged(access.metadata.namespace, access.metadata.name as string);
  };
  for (const access of accesses.values()) service.accessChanged(access.metadata.namespace, access.metadata.name as string);
  const called = (name: string) => calls.filter((call) => call[0] === name).map((call) => call.slice(1));
  return { service, nats, lines, gauge, called, statusWrites, revokes, events, putAccess };
}

/** Lets queued advisories, listings and due writes run (and `ms` of fake time pass). */
export const elapse = (ms = 0) => jest.advanceTimersByTimeAsync(ms);
