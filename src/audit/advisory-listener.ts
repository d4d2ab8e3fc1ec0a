// The audit's ears: subscribes, through the system account connection of each issuer account, to
// the account's connect and disconnect advisories and to every server's authentication failures,
// and every so often lists the account's connections (CONNZ), so that whoever listens can make up
// for advisories missed while it was not subscribed (start, leader change, reconnects). A server's
// auth failures reach every account's subscription: copies are dropped by advisory id.

import type { Logger } from '../log.ts';
import { describeError } from '../kube/errors.ts';
import { readClientEvent, type ClientEvent, type ClientRecord } from '../nats/advisories.ts';
import type { NatsSystemClient } from '../nats/system-client.ts';

/** One account's connections as the servers listed them. */
export interface Listing {
  records: ClientRecord[];
  /** Servers that answered (only they can say a connection is gone), and all that exist. */
  answered: Set<string>;
  servers: Set<string>;
  /** When the listing was asked for: what was learnt later is newer than it. */
  startedAt: number;
}

export interface AdvisoryListenerDeps {
  /** The accounts to listen to (those of the issuers). */
  accounts(): Set<string>;
  systemClient(account: string): Promise<NatsSystemClient>;
  onEvent(account: string, event: ClientEvent): void;
  onListing(account: string, listing: Listing): void;
  /** A message not processed: Unreadable (not an advisory this reads), or Overflow (queue full). */
  onDropped(reason: 'Unreadable' | 'Overflow', subject: string): void;
  resyncMs: number;
  log: Logger;
}

/** Advisory ids remembered to drop copies. */
const SEEN_IDS = 10_000;
/**
 * Messages are queued as they arrive and handled this many per turn of the event loop, so that a
 * burst of thousands of connects does not hold up reconciles (their API answers get turns in
 * between); past the queue's bound, messages are dropped and counted.
 */
const BATCH = 64;
/** About 15,000 advisories (each carries its client's JWT): bounded in memory, not in count. */
const MAX_QUEUED_BYTES = 32 * 2 ** 20;

export class AdvisoryListener {
  readonly #deps: AdvisoryListenerDeps;
  readonly #subscriptions = new Map<string, { client: NatsSystemClient; stop: () => void }>();
  readonly #seen = new Set<string>();
  #queue: { account: string; subject: string; data: string }[] = [];
  #next = 0;
  #queuedBytes = 0;
  #draining = false;
  #overflowLoggedAt = 0;
  #resync: ReturnType<typeof setInterval> | undefined;
  #syncing: Promise<void> | undefined;
  #stopped = false;

  constructor(deps: AdvisoryListenerDeps) {
    this.#deps = deps;
  }

  start(): void {
    this.#resync = setInterval(() => void this.sync(), this.#deps.resyncMs);
    this.#resync.unref();
    void this.sync();
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    clearInterval(this.#resync);
    await this.#syncing;
    for (const { stop } of this.#subscriptions.values()) stop();
    this.#subscriptions.clear();
  }

  /** Listens to every account (and no other), then lists each one's connections. */
  sync(): Promise<void> {
    this.#syncing ??= this.#sync().finally(() => (this.#syncing = undefined));
    return this.#syncing;
  }

  async #sync(): Promise<void> {
    const accounts = this.#deps.accounts();
    for (const [account, subscription] of this.#subscriptions) {
      if (!accounts.has(account)) {
        subscription.stop();
        this.#subscriptions.delete(account);
      }
    }
    for (const account of accounts) {
      if (this.#stopped) return;
      try {
        const client = await this.#subscribe(account);
        const startedAt = Date.now();
        const servers = await client.servers();
        const listings = await client.clientsOf(account, servers.length);
        this.#deps.onListing(account, {
          records: listings.flatMap((listing) => listing.records),
          // A server with none of the account's connections answered too: it says they are gone.
          answered: new Set(listings.map((listing) => listing.server.id)),
          servers: new Set(servers.map((server) => server.id)),
          startedAt,
        });
      } catch (error) {
        this.#deps.log.warn({ account, error: describeError(error) }, 'audit could not list the connections of the account');
      }
    }
  }

  async #subscribe(account: string): Promise<NatsSystemClient> {
    const client = await this.#deps.systemClient(account);
    const current = this.#subscriptions.get(account);
    if (current?.client === client) return client;
    current?.stop();
    const onMessage = (subject: string, data: string) => this.#onMessage(account, subject, data);
    const stops = [
      client.subscribe(`$SYS.ACCOUNT.${account}.CONNECT`, onMessage),
      client.subscribe(`$SYS.ACCOUNT.${account}.DISCONNECT`, onMessage),
      client.subscribe('$SYS.SERVER.*.CLIENT.AUTH.ERR', onMessage),
    ];
    this.#subscriptions.set(account, { client, stop: () => stops.forEach((stop) => stop()) });
    this.#deps.log.info({ account }, 'audit listening to the account');
    return client;
  }

  #onMessage(account: string, subject: string, data: string): void {
    if (this.#queuedBytes + data.length > MAX_QUEUED_BYTES) {
      this.#deps.onDropped('Overflow', subject);
      // An overflow drops many in a row: the metric counts them all, the log says so once a second.
      if (Date.now() - this.#overflowLoggedAt >= 1000) {
        this.#overflowLoggedAt = Date.now();
        this.#deps.log.warn({ subject, queued: this.#queue.length - this.#next }, 'audit queue full, advisories dropped');
      }
      return;
    }
    this.#queuedBytes += data.length;
    this.#queue.push({ account, subject, data });
    if (this.#draining) return;
    this.#draining = true;
    setImmediate(() => this.#drain());
  }

  #drain(): void {
    const end = Math.min(this.#next + BATCH, this.#queue.length);
    for (; this.#next < end; this.#next++) {
      const { account, subject, data } = this.#queue[this.#next] as { account: string; subject: string; data: string };
      this.#queuedBytes -= data.length;
      this.#handle(account, subject, data);
    }
    if (this.#next < this.#queue.length) {
      // What was handled is let go once it is most of the queue.
      if (this.#next > 4 * BATCH && this.#next * 2 > this.#queue.length) {
        this.#queue = this.#queue.slice(this.#next);
        this.#next = 0;
      }
      setImmediate(() => this.#drain());
      return;
    }
    this.#queue = [];
    this.#next = 0;
    this.#draining = false;
  }

  #handle(account: string, subject: string, data: string): void {
    const event = readClientEvent(subject, data);
    if (!event) {
      this.#deps.onDropped('Unreadable', subject);
      this.#deps.log.warn({ subject }, 'audit dropped an advisory it could not read');
      return;
    }
    if (this.#seen.has(event.id)) return;
    this.#seen.add(event.id);
    if (this.#seen.size > SEEN_IDS) this.#seen.delete(this.#seen.values().next().value as string);
    this.#deps.onEvent(account, event);
  }
}
