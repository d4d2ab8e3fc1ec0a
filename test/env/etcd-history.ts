// Every NATS user ever committed into a namespace's Secrets, read from an etcd watch (the API
// server's own storage, below every cache and retry): the record the chaos run checks issuances
// against, instead of the operator's word. The watch goes around the API server, so it sees through
// its restarts, and a Secret written and deleted in between is not missed.
//
// Secrets are stored as protobuf; the creds file inside is plain text, found by its armour lines.

/** A NATS user whose creds were committed into a Secret. */
export interface StoredUser {
  publicKey: string;
  /** The creds file, rebuilt from the JWT and seed blocks (what nats-client.ts logs in with). */
  creds: string;
  /** etcd revision of the first Secret version holding it. */
  revision: number;
}

interface WatchEvent {
  type?: 'PUT' | 'DELETE';
  kv: { key: string; mod_revision: string; value?: string };
}

const b64 = (text: string) => Buffer.from(text).toString('base64');
/** The end of the key range holding every key that starts with `prefix`. */
const rangeEnd = (prefix: string) => b64(prefix.slice(0, -1) + String.fromCharCode(prefix.charCodeAt(prefix.length - 1) + 1));

const JWT = /-----BEGIN NATS USER JWT-----\s*(eyJ[\w-]+\.[\w-]+\.[\w-]+)\s*------END NATS USER JWT------/;
const SEED = /-----BEGIN USER NKEY SEED-----\s*(SU[A-Z2-7]+)\s*------END USER NKEY SEED------/;

/** The user in a stored Secret's bytes, if it holds a creds file. */
export function userInSecret(stored: Buffer): Omit<StoredUser, 'revision'> | undefined {
  const text = stored.toString('latin1');
  const jwt = JWT.exec(text)?.[1];
  const seed = SEED.exec(text)?.[1];
  if (!jwt || !seed) return undefined;
  const { sub } = JSON.parse(Buffer.from(jwt.split('.')[1] ?? '', 'base64url').toString('utf8')) as { sub: string };
  const creds = `-----BEGIN NATS USER JWT-----\n${jwt}\n------END NATS USER JWT------\n\n-----BEGIN USER NKEY SEED-----\n${seed}\n------END USER NKEY SEED------\n`;
  return { publicKey: sub, creds };
}

export class EtcdHistory {
  private readonly users = new Map<string, StoredUser[]>();
  /** The revision of the last event delivered. */
  private seen = 0;
  private readonly abort = new AbortController();
  private failure: Error | undefined;

  private readonly etcdUrl: string;

  private constructor(etcdUrl: string) {
    this.etcdUrl = etcdUrl;
  }

  /** Starts watching `namespace` from etcd's current revision on. */
  static async start(etcdUrl: string, namespace: string): Promise<EtcdHistory> {
    const history = new EtcdHistory(etcdUrl);
    const from = (await history.post('/v3/kv/range', { key: b64('/registry/'), limit: 1 })).header.revision;
    history.follow(`/registry/secrets/${namespace}/`, Number(from));
    return history;
  }

  /** The distinct users ever stored in Secret `name`, in the order they were first stored. */
  usersOf(secretName: string): StoredUser[] {
    return this.users.get(secretName) ?? [];
  }

  /**
   * Waits until the watch has delivered everything up to `revision`, which must be that of a write
   * to a Secret of the namespace (etcd sends nothing else to tell how far it got).
   */
  async caughtUpTo(revision: number, timeoutMs: number): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (this.seen < revision) {
      if (this.failure) throw this.failure;
      if (Date.now() > deadline) throw new Error(`the etcd watches did not reach revision ${revision} within ${timeoutMs} ms`);
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  }

  stop(): void {
    this.abort.abort();
  }

  private onSecret(event: WatchEvent, name: string) {
    if (event.type === 'DELETE' || !event.kv.value) return;
    const user = userInSecret(Buffer.from(event.kv.value, 'base64'));
    if (!user) return;
    const list = this.users.get(name) ?? [];
    if (!list.some((u) => u.publicKey === user.publicKey)) list.push({ ...user, revision: Number(event.kv.mod_revision) });
    this.users.set(name, list);
  }

  /** Follows the keys under `prefix` from `revision` on, re-watching from where it was if the stream ends. */
  private follow(prefix: string, revision: number) {
    const run = async (from: number): Promise<void> => {
      const response = await fetch(`${this.etcdUrl}/v3/watch`, {
        method: 'POST',
        body: JSON.stringify({ create_request: { key: b64(prefix), range_end: rangeEnd(prefix), start_revision: String(from) } }),
        signal: this.abort.signal,
      });
      if (!response.ok || !response.body) throw new Error(`etcd watch of ${prefix}: HTTP ${response.status}`);
      let buffered = '';
      let next = from;
      for await (const chunk of response.body.pipeThrough(new TextDecoderStream())) {
        buffered += chunk;
        for (let i; (i = buffered.indexOf('\n')) >= 0; buffered = buffered.slice(i + 1)) {
          const line = buffered.slice(0, i).trim();
          if (!line) continue;
          const { result, error } = JSON.parse(line) as {
            result?: { events?: WatchEvent[]; canceled?: boolean; cancel_reason?: string; compact_revision?: string };
            error?: { message: string };
          };
          if (error || result?.canceled) throw new Error(`etcd watch of ${prefix} ended: ${error?.message ?? result?.cancel_reason ?? 'canceled'}`);
          for (const event of result?.events ?? []) {
            this.onSecret(event, Buffer.from(event.kv.key, 'base64').toString('utf8').slice(prefix.length));
            next = Number(event.kv.mod_revision) + 1;
            this.seen = next - 1;
          }
        }
      }
      return run(next);
    };
    run(revision).catch((error: unknown) => {
      if (!this.abort.signal.aborted) this.failure = error as Error;
    });
  }

  private async post(path: string, body: unknown): Promise<{ header: { revision: string } }> {
    const response = await fetch(`${this.etcdUrl}${path}`, { method: 'POST', body: JSON.stringify(body), signal: AbortSignal.timeout(5000) });
    if (!response.ok) throw new Error(`etcd ${path}: HTTP ${response.status}`);
    return (await response.json()) as { header: { revision: string } };
  }
}
