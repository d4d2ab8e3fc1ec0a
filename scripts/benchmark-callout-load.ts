// The load generator of `npm run benchmark:callout` and `npm run benchmark:audit`, run as a child
// process of the benchmark (IPC, benchmark-load-generator.ts): it takes a job (servers, how to log
// in, how many connects, how many in flight, optionally a subject per login for a round trip), runs
// it as a closed loop of nats.js connect() (+ the round trip) + close(), and sends back each
// connect's latency, the failures
// by the server's reason, and the CPU it used. Its own process, so that its event loop serves only
// the connects it times (not the benchmark's kube clients and log scans), and so that its CPU per
// connect is read apart from the operator's and nats-server's: on 2 cores the client can be the
// bottleneck, and the figures must show when it is.
//
// Both ways log in with the repo's nativeCredsAuthenticator (the nonce signed by node:crypto, as the
// tests' clients do): nats.js's own pure-JS signing would cost the client milliseconds per connect.
// The authenticators are made once per job, as a workspace reads its creds once.

import { connect, tokenAuthenticator, type Authenticator, type NatsConnection } from '@nats-io/transport-node';
import { nativeCredsAuthenticator } from '../src/nats/native-creds.ts';
import { roundTrip, serverReason } from '../test/env/nats-client.ts';
import { closedLoop } from './benchmark-loop.ts';

/** Plain creds files (one per workspace), or the sentinel's creds and one identity token per workspace. */
export type LoadAuth = { kind: 'creds'; creds: string[] } | { kind: 'token'; sentinel: string; tokens: string[] };

export interface LoadJob {
  servers: string[];
  auth: LoadAuth;
  /** Connects in all; connect i logs in as workspace i modulo their number. */
  total: number;
  concurrency: number;
  /**
   * With subjects (connect i uses subject i modulo their number), each connection, once in,
   * subscribes to its subject and publishes a message it must receive before it is closed: a
   * client that did something, not only a login. Timed as part of the connect.
   */
  roundTrip?: string[];
}

export interface LoadResult {
  latencies: number[];
  failures: [string, number][];
  wallMs: number;
  /** This process's CPU time (user + system) during the job. */
  cpuMs: number;
}

/** How long a connect may take before it counts as failed (nats.js's own default is 20 s). */
const CONNECT_TIMEOUT_MS = 10_000;

function authenticators(auth: LoadAuth): Authenticator[][] {
  if (auth.kind === 'creds') return auth.creds.map((creds) => [nativeCredsAuthenticator(creds)]);
  const sentinel = nativeCredsAuthenticator(auth.sentinel);
  return auth.tokens.map((token) => [sentinel, tokenAuthenticator(token)]);
}

async function run(job: LoadJob): Promise<LoadResult> {
  const logins = authenticators(job.auth);
  if (logins.length === 0) throw new Error('a load job needs at least one login');
  const cpuBefore = process.cpuUsage();
  const loop = await closedLoop<NatsConnection>({
    total: job.total,
    concurrency: job.concurrency,
    open: async (i) => {
      const nc = await connect({
        servers: job.servers,
        authenticator: logins[i % logins.length],
        reconnect: false,
        timeout: CONNECT_TIMEOUT_MS,
        ignoreClusterUpdates: true,
      });
      const subject = job.roundTrip?.[i % job.roundTrip.length];
      if (subject !== undefined) {
        // A failed round trip counts as a failed connect; its connection must still be closed.
        await roundTrip(nc, nc, subject).catch(async (error: unknown) => {
          await nc.close().catch(() => undefined);
          throw error;
        });
      }
      return nc;
    },
    close: (nc) => nc.close().catch(() => undefined),
    describe: (error) => serverReason(error) ?? `no answer from a server: ${(error as Error).message}`,
  });
  const cpu = process.cpuUsage(cpuBefore);
  return { latencies: loop.latencies, failures: [...loop.failures], wallMs: loop.wallMs, cpuMs: (cpu.user + cpu.system) / 1000 };
}

if (!process.send) throw new Error('benchmark-callout-load.ts runs as a child process of a benchmark (IPC, benchmark-load-generator.ts)');
process.on('message', (job: LoadJob) => {
  run(job).then(
    (result) => process.send?.({ result }),
    (error: unknown) => process.send?.({ error: (error as Error).message }),
  );
});
// Ends with the benchmark: when the IPC channel closes, nothing is left to do.
process.on('disconnect', () => process.exit(0));
