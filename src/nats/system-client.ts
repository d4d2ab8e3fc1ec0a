// A connection to NATS as a user of the system account, and the few system requests the operator
// makes with it: which servers are there ($SYS.REQ.SERVER.PING), what account JWT each server holds
// ($SYS.REQ.ACCOUNT.<account>.CLAIMS.LOOKUP) and storing a new one on every server
// ($SYS.REQ.CLAIMS.UPDATE, answered by each server running the full resolver), and finding and
// closing an account's connections of one user (CONNZ, KICK), and listening to the servers'
// advisories about clients (the audit). It also tells when
// something may have changed under the operator: a server it has not seen before (a restart gives
// a server a new id, and possibly an empty resolver directory) or its own reconnect.

import type { KeyPair } from '@nats-io/nkeys';
import { readConnz, type ClientRecord, type ConnzConnection } from './advisories.ts';
import { nativeCredsAuthenticator } from './native-creds.ts';
import {
  connect,
  type Msg,
  type NatsConnection,
  type Subscription,
} from '@nats-io/transport-node';

/** Where and as whom to connect, and the key that re-signs account JWTs: read from an issuer. */
export interface NatsSettings {
  servers: string[];
  creds: Uint8Array;
  /** Changes whenever `servers` or `creds` do: a new value reconnects. */
  connectionVersion: string;
  operatorSigner: KeyPair;
}

/** One client connection as connectionListing() shows it: no credential in it. */
export interface ConnectionListing {
  cid: number;
  user: string | undefined;
  host: string | undefined;
  name: string | undefined;
  start: string | undefined;
}

export interface NatsServerRef {
  id: string;
  name: string;
}

export interface PushReply {
  server: NatsServerRef;
  ok: boolean;
  /** The server's own words: "jwt updated", or why it refused. */
  message: string;
}

export interface SystemClientOptions {
  servers: string[];
  /** A creds file of a system account user. */
  creds: Uint8Array;
  /** Called (without arguments) when a new server appears or the connection is re-established. */
  onChange: () => void;
  /** How long to wait for servers to answer a request. */
  requestTimeoutMs?: number;
}

/** How long after the last PING answer no further server is expected to answer. */
const PING_STALL_MS = 150;

export class NatsSystemClient {
  private readonly nc: NatsConnection;
  private readonly statsz: Subscription;
  private readonly seen = new Set<string>();
  private readonly requestTimeoutMs: number;

  private constructor(nc: NatsConnection, options: SystemClientOptions) {
    this.nc = nc;
    this.requestTimeoutMs = options.requestTimeoutMs ?? 3000;
    // Every server sends statsz soon after it starts (with a new id) and then every few seconds.
    this.statsz = nc.subscribe('$SYS.SERVER.*.STATSZ', {
      callback: (_error, msg) => {
        const id = msg?.subject.split('.')[2];
        if (!id || this.seen.has(id)) return;
        this.seen.add(id);
        options.onChange();
      },
    });
    void (async () => {
      for await (const status of nc.status()) if (status.type === 'reconnect') options.onChange();
    })();
  }

  /** Connects, or fails with the client's reason (no server reachable, authorization violation). */
  static async connect(options: SystemClientOptions): Promise<NatsSystemClient> {
    const nc = await connect({
      servers: options.servers,
      authenticator: nativeCredsAuthenticator(options.creds),
      name: 'workspace-nats-operator',
      maxReconnectAttempts: -1,
      reconnectTimeWait: 500,
      timeout: 5000,
    });
    return new NatsSystemClient(nc, options);
  }

  get isClosed(): boolean {
    return this.nc.isClosed();
  }

  /** The largest message the server connected to takes (its max_payload): a pushed JWT must fit. */
  get maxPayload(): number {
    // Set by the server's INFO, which every connection starts with.
    const info = this.nc.info;
    if (!info) throw new Error('not connected to a NATS server yet');
    return info.max_payload;
  }

  /** The servers of the cluster, each answering a PING. */
  async servers(): Promise<NatsServerRef[]> {
    const replies = await this.nc.requestMany('$SYS.REQ.SERVER.PING', '', {
      strategy: 'stall',
      stall: PING_STALL_MS,
      maxWait: this.requestTimeoutMs,
    });
    const servers = new Map<string, NatsServerRef>();
    for await (const msg of replies) {
      const server = serverOf(msg);
      if (server) {
        servers.set(server.id, server);
        this.seen.add(server.id);
      }
    }
    return [...servers.values()];
  }

  /** Each answering server's copy of the account JWT ('' from a server that has none). */
  async lookupAccount(account: string, expected: number): Promise<string[]> {
    const replies = await this.nc.requestMany(`$SYS.REQ.ACCOUNT.${account}.CLAIMS.LOOKUP`, '', {
      strategy: 'count',
      maxMessages: expected,
      maxWait: this.requestTimeoutMs,
    });
    const jwts: string[] = [];
    for await (const msg of replies) jwts.push(msg.string());
    return jwts;
  }

  /**
   * The account JWT each server has in force (undefined where the account is not loaded: it loads
   * the stored copy when a client of it connects). A server stores a pushed JWT before checking
   * who signed it, and keeps the old claims in force if it does not trust the signer.
   */
  async accountInForce(account: string, expected: number): Promise<{ server: NatsServerRef; jwt: string | undefined }[]> {
    return (await this.accountInfo(account, expected)).map(({ server, data }) => ({ server, jwt: data?.jwt }));
  }

  /**
   * How many subscriptions each server has in `account`, its own clients' and those its routes
   * brought in (a service connected to one server is reachable from all). 0 where not loaded.
   */
  async subscriptionCounts(account: string, expected: number): Promise<{ server: NatsServerRef; subscriptions: number }[]> {
    return (await this.accountInfo(account, expected)).map(({ server, data }) => ({ server, subscriptions: data?.subscriptions ?? 0 }));
  }

  private async accountInfo(account: string, expected: number): Promise<{ server: NatsServerRef; data: { jwt?: string; subscriptions?: number } | undefined }[]> {
    const replies = await this.nc.requestMany(`$SYS.REQ.ACCOUNT.${account}.INFO`, '', {
      strategy: 'count',
      maxMessages: expected,
      maxWait: this.requestTimeoutMs,
    });
    const out: { server: NatsServerRef; data: { jwt?: string; subscriptions?: number } | undefined }[] = [];
    for await (const msg of replies) {
      const server = serverOf(msg);
      if (server) out.push({ server, data: msg.json<{ data?: { jwt?: string; subscriptions?: number } }>().data });
    }
    return out;
  }

  /** Asks every server to store `jwt`; one reply per server that answered in time. */
  async pushAccount(jwt: string, expected: number): Promise<PushReply[]> {
    const replies = await this.nc.requestMany('$SYS.REQ.CLAIMS.UPDATE', jwt, {
      strategy: 'count',
      maxMessages: expected,
      maxWait: this.requestTimeoutMs,
    });
    const out: PushReply[] = [];
    for await (const msg of replies) {
      const server = serverOf(msg);
      if (!server) continue;
      const body = msg.json<{ data?: { code?: number; message?: string }; error?: { description?: string } }>();
      const ok = body.data?.code === 200;
      out.push({ server, ok, message: (ok ? body.data?.message : body.error?.description) ?? 'no answer' });
    }
    return out;
  }

  /**
   * The client ids of `account`'s connections whose user is `user` (a user JWT's name, which
   * nats-server shows as the user of an auth callout login), per answering server.
   */
  async connectionsOf(account: string, user: string, expected: number): Promise<{ server: NatsServerRef; cids: number[] }[]> {
    const listings = await this.connz(account, { user }, expected);
    return listings.map(({ server, connections }) => ({ server, cids: connections.flatMap((connection) => (connection.cid === undefined ? [] : [connection.cid])) }));
  }

  /**
   * Every client connection of `account`, per answering server (one with none of them answers
   * too), with the user and the JWT it logged in with (CONNZ with auth), as records that keep no JWT.
   */
  async clientsOf(account: string, expected: number): Promise<{ server: NatsServerRef; records: ClientRecord[] }[]> {
    const listings = await this.connz(account, { auth: true }, expected);
    return listings.map(({ server, connections }) => ({ server, records: readConnz(server, connections) }));
  }

  /**
   * Every client connection of `account`, per answering server, as an operator reads them: who
   * (user key or callout name), from where, named how and since when. The JWT CONNZ returns with
   * `auth` is dropped here.
   */
  async connectionListing(account: string, expected: number): Promise<{ server: NatsServerRef; connections: ConnectionListing[] }[]> {
    const listings = await this.connz(account, { auth: true }, expected);
    return listings.map(({ server, connections }) => ({
      server,
      connections: connections.map((connection) => ({
        cid: connection.cid ?? 0,
        user: connection.authorized_user,
        host: connection.ip,
        name: connection.name,
        start: connection.start,
      })),
    }));
  }

  /** Each answering server's connections of `account` that `filter` selects (CONNZ). */
  private async connz(account: string, filter: { user?: string; auth?: boolean }, expected: number): Promise<{ server: NatsServerRef; connections: ConnzConnection[] }[]> {
    const replies = await this.nc.requestMany(`$SYS.REQ.ACCOUNT.${account}.CONNZ`, JSON.stringify({ ...filter, limit: 100_000 }), {
      strategy: 'count',
      maxMessages: expected,
      maxWait: this.requestTimeoutMs,
    });
    const out: { server: NatsServerRef; connections: ConnzConnection[] }[] = [];
    for await (const msg of replies) {
      const server = serverOf(msg);
      const body = msg.json<{ data?: { connections?: ConnzConnection[] }; error?: { description?: string } }>();
      if (!server) continue;
      if (body.error) throw new Error(`${server.name} refused the connection listing: ${body.error.description ?? 'no reason'}`);
      out.push({ server, connections: body.data?.connections ?? [] });
    }
    return out;
  }

  /**
   * Subscribes to `subject` (a system subject, wildcards allowed) until the returned function is
   * called; the client subscribes again by itself after a reconnect.
   */
  subscribe(subject: string, onMessage: (subject: string, data: string) => void): () => void {
    const subscription = this.nc.subscribe(subject, {
      callback: (error, msg) => {
        if (!error) onMessage(msg.subject, msg.string());
      },
    });
    return () => subscription.unsubscribe();
  }

  /** Closes connection `cid` on server `serverId` ($SYS.REQ.SERVER.<id>.KICK); false if refused. */
  async kick(serverId: string, cid: number): Promise<boolean> {
    const msg = await this.nc.request(`$SYS.REQ.SERVER.${serverId}.KICK`, JSON.stringify({ cid }), { timeout: this.requestTimeoutMs });
    return !msg.json<{ error?: unknown }>().error;
  }

  async close(): Promise<void> {
    this.statsz.unsubscribe();
    if (!this.nc.isClosed()) await this.nc.close();
  }
}

function serverOf(msg: Msg): NatsServerRef | undefined {
  try {
    const { server } = msg.json<{ server?: { id?: string; name?: string } }>();
    return server?.id ? { id: server.id, name: server.name ?? server.id } : undefined;
  } catch {
    return undefined;
  }
}
