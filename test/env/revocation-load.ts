// Many accesses deleted at once, observed from outside the operator: each access's creds hold a
// live connection, the deletions are sent together, and the run records when and why each
// connection was cut (as the client saw it, and as the server recorded it), how the servers answer
// a copy of the creds afterwards, and how many account JWT pushes the servers received
// ($SYS.REQ.CLAIMS.UPDATE, seen by a system account subscriber).
// Shared by the scale e2e test and `npm run benchmark:revocation`.

import type { NatsConnection } from '@nats-io/transport-node';
import { ACCESS_PLURAL, CREDS_KEY, GROUP, VERSION } from '../../src/api/constants.ts';
import { accessBody, createAccess, getAccess, waitFor, waitForReady, type Clients } from './cluster.ts';
import { connectWithCreds, loginOutcome, serverReason } from './nats-client.ts';

export interface LoadTarget {
  admin: Clients;
  namespace: string;
  issuer: string;
  natsUrls: string[];
  /** Creds of a system account user, to count pushes and read the account JWT. */
  systemCreds: string;
  account: string;
}

export interface DeletionRun {
  /** Per access: from sending its deletion to its connection being cut, in ms. */
  disconnectMs: number[];
  /**
   * Per access: the -ERR the client read before its connection closed ("User Authentication
   * Revoked"), or "no server reason (...)" saying what the client saw instead. nats.js can miss an
   * -ERR that arrives together with the server's close, so `serverRecords` is the proof of why.
   */
  closeReasons: string[];
  /** Per access: the reason the server recorded for closing its connection ("Credentials Revoked"). */
  serverRecords: string[];
  /** Per access: how the servers answered a login with a copy of its creds once it was gone. */
  loginsAfter: string[];
  /** Account JWT pushes the servers received during the run. */
  pushes: number;
}

const permissions = { publish: { allow: ['ws.{{workspace.id}}.>'] }, subscribe: { allow: ['ws.{{workspace.id}}.>'] } };

/** Creates `names` (at most `parallel` requests at a time) and waits until each is Ready. */
export async function createReadyAccesses(target: LoadTarget, names: string[], ttl: string, parallel = 20): Promise<void> {
  for (let i = 0; i < names.length; i += parallel) {
    await Promise.all(
      names.slice(i, i + parallel).map((name) =>
        createAccess(target.admin.custom, target.namespace, accessBody(name, { issuerRef: { name: target.issuer }, permissions, ttl })),
      ),
    );
  }
  for (const name of names) await waitForReady(target.admin.custom, target.namespace, name, 'True', undefined, 120_000);
}

/** The account JWT's size as the servers hold it now. */
export async function accountJwtBytes(target: LoadTarget): Promise<number> {
  const system = await connectWithCreds(target.natsUrls, target.systemCreds);
  try {
    const reply = await system.request(`$SYS.REQ.ACCOUNT.${target.account}.CLAIMS.LOOKUP`, '', { timeout: 2000 });
    return reply.data.length;
  } finally {
    await system.close();
  }
}

/** Connects with each access's creds, deletes all accesses at once and observes the outcome. */
export async function deleteAtOnce(target: LoadTarget, names: string[]): Promise<DeletionRun> {
  const { admin, namespace } = target;
  const creds = await Promise.all(
    names.map(async (name) => {
      const secret = await admin.core.readNamespacedSecret({ name: `${name}-nats`, namespace });
      return Buffer.from(secret.data?.[CREDS_KEY] ?? '', 'base64').toString('utf8');
    }),
  );
  const clients: NatsConnection[] = [];
  const system = await connectWithCreds(target.natsUrls, target.systemCreds);
  try {
    clients.push(...(await inBatches(creds, (text) => connectWithCreds(target.natsUrls, text))));
    const ids = clients.map(connectionId);
    let pushes = 0;
    system.subscribe('$SYS.REQ.CLAIMS.UPDATE', { callback: () => void pushes++ });
    await system.flush();

    const sentAt = new Map<number, number>();
    const closed = clients.map((nc, i) => nc.closed().then((error) => ({ i, at: performance.now(), error })));
    await Promise.all(
      names.map(async (name, i) => {
        sentAt.set(i, performance.now());
        await admin.custom.deleteNamespacedCustomObject({ group: GROUP, version: VERSION, plural: ACCESS_PLURAL, namespace, name });
      }),
    );
    const outcomes = await Promise.all(closed);
    for (const name of names) {
      await waitFor(async () => ((await getAccess(admin.custom, namespace, name)) ? undefined : true), {
        what: `${namespace}/${name} gone`,
        timeoutMs: 60_000,
      });
    }
    const loginsAfter = await inBatches(creds, (text) => loginOutcome(target.natsUrls, text));
    await system.flush();
    return {
      disconnectMs: outcomes.map(({ i, at }) => at - (sentAt.get(i) ?? at)),
      closeReasons: outcomes.map(({ error }) => serverReason(error) ?? `no server reason (${error ? `${error.name}: ${error.message}` : 'closed without an error'})`),
      serverRecords: await closedReasons(system, ids),
      loginsAfter,
      pushes,
    };
  } finally {
    await Promise.all(clients.map((nc) => nc.close()));
    await system.close();
  }
}

/** A server's answer to a $SYS.REQ.SERVER.<id>.CONNZ request, as much of it as is read here. */
interface ConnzReply {
  data?: { connections?: { cid: number; reason?: string }[] };
  error?: { code: number; description?: string };
}

/** Which server a client is connected to, and the id that server gave it. */
interface ConnectionId {
  server: string;
  cid: number;
}

function connectionId(nc: NatsConnection): ConnectionId {
  if (!nc.info) throw new Error('a client connected without the server telling it its id');
  return { server: nc.info.server_id, cid: nc.info.client_id };
}

/**
 * The reason each server recorded for closing each connection in `ids`, from its closed-connection list
 * (asked for through the system account, by server id and client id). A server files a closed
 * connection shortly after closing it, so this asks again until every one is there.
 */
async function closedReasons(system: NatsConnection, ids: ConnectionId[]): Promise<string[]> {
  const reasons: (string | undefined)[] = ids.map(() => undefined);
  await waitFor(
    async () => {
      await Promise.all(
        ids.map(async ({ server, cid }, i) => {
          if (reasons[i] !== undefined) return;
          // state 1: closed connections only.
          const reply = await system.request(`$SYS.REQ.SERVER.${server}.CONNZ`, JSON.stringify({ cid, state: 1 }), { timeout: 5000 });
          const { data, error } = reply.json<ConnzReply>();
          if (error) throw new Error(`server ${server} refused the CONNZ request: ${error.code} ${error.description ?? ''}`);
          const closed = data?.connections?.find((c) => c.cid === cid);
          if (closed) reasons[i] = closed.reason ?? 'no reason recorded';
        }),
      );
      return reasons.every((reason) => reason !== undefined) ? true : undefined;
    },
    { what: 'the servers to file every closed connection', timeoutMs: 30_000, intervalMs: 250 },
  );
  return reasons.map((reason) => reason ?? '');
}

/**
 * `fn` over `items`, 10 at a time: a client's nkey signature is CPU work in JS, and 200 at once
 * would miss the server's authentication timeout on a small machine.
 */
async function inBatches<T, R>(items: readonly T[], fn: (item: T) => Promise<R>): Promise<R[]> {
  const out: R[] = [];
  for (let i = 0; i < items.length; i += 10) out.push(...(await Promise.all(items.slice(i, i + 10).map(fn))));
  return out;
}
