// `npm run benchmark:callout -- --workspaces 50 --connects 1000 --concurrency 1,50,500`: how fast
// workspaces log in to NATS through the operator's auth callout, next to plain creds files in the
// same run, so that the ratio shows what the callout adds whatever the machine:
// - the local environment, the real operator (a child process), a test identity provider signing
//   GitPod-shaped tokens, a ClusterNatsAuthCallout, and N accesses using it beside N accesses with
//   minted creds files (read back from their Secrets);
// - per level of concurrency, a fixed number of connects each way, as a closed loop (that many in
//   flight at all times): a connect is nats.js connect() until the server answered the CONNECT's
//   PING (for the callout: after the operator answered $SYS.REQ.USER.AUTH), then close(). The
//   callout way logs in as the sentinel with a workspace's token, the creds way with a workspace's
//   creds file; connect i is workspace i modulo N either way. Tokens are signed before any timing:
//   one per workspace, used for all its connects (a reconnect storm: the callout verified them
//   before), or with --fresh-tokens one per connect, each verified in full;
// - connects/s, p50 and p99 each way and callout over creds; the CPU each connect cost the operator,
//   nats-server and the load generator (/proc and process.cpuUsage), and the operator's memory;
// - the mint micro-benchmark (benchmark-mint.ts), run first, before the environment starts.
// Any connect refused or unanswered fails the run (exit 1), after the figures.
//
// The load runs in a child process (benchmark-callout-load.ts), not in this one: its event loop then
// serves only the connects it times, and its CPU is read apart. On 2 cores the operator, nats-server
// and the client share the machine whatever the layout (a worker thread would share it too), so the
// cost table prints each one's CPU per connect and the ceiling their sum sets (cores over CPU per
// connect): a rate near it means the machine, not one process, is the limit, and the client's
// share is what a load generator on another machine would give back. A single Node client would
// itself be the limit only when its CPU per connect times the rate nears one core.

import { cpus, loadavg } from 'node:os';
import { setTimeout as sleep } from 'node:timers/promises';
import { CREDS_KEY } from '../src/api/constants.ts';
import { Reason } from '../src/api/reasons.ts';
import type { IdentityProvider } from '../src/api/cluster-nats-auth-callout.ts';
import { secretNameOf } from '../src/controller/access-secret.ts';
import { calloutBody, createCallout, createCalloutSecrets, waitForCalloutReady } from '../test/e2e/support/callout.ts';
import { accessBody, createAccess, waitFor, waitForReady } from '../test/env/cluster.ts';
import { gitpodClaims, startTestIdp } from '../test/env/idp.ts';
import { ACCEPTED, tokenLoginOutcome } from '../test/env/nats-client.ts';
import { costTable, connectTable, goalLines, mintLines, parseCalloutFlags, CALLOUT_USAGE, type CalloutFlags, type Level, type Side } from './benchmark-callout-report.ts';
import type { LoadAuth } from './benchmark-callout-load.ts';
import { startLoadGenerator, type LoadGenerator } from './benchmark-load-generator.ts';
import { measureMint } from './benchmark-mint.ts';
import { cpuMs, residentBytes } from './benchmark-process.ts';
import { BENCH, startBench } from './benchmark-setup.ts';

const CALLOUT = 'bench';
const ORG = 'org-bench';
const OWNER = 'user-bench';
const AUDIENCE = 'nats';
/** Untimed connects each way before the levels, so that no level pays for JIT warm-up. */
const WARM_UP = { total: 1000, concurrency: 50 };
const permissions = { publish: { allow: ['ws.{{workspace.id}}.>'] }, subscribe: { allow: ['ws.{{workspace.id}}.>', '_INBOX.>'] } };

let flags: CalloutFlags;
try {
  flags = parseCalloutFlags(process.argv.slice(2));
} catch (error) {
  process.stderr.write(`${(error as Error).message}\n${CALLOUT_USAGE}\n`);
  process.exit(2);
}

const mint = await measureMint(flags.mintIterations);

const idp = await startTestIdp();
const bench = await startBench(['--log-level', 'info']);
let load: LoadGenerator | undefined;
try {
  const { admin, state, operator, env } = bench;
  const urls = state.nats.urls;
  const providers: IdentityProvider[] = [{ name: 'gitpod', kind: 'OIDC', issuerURL: idp.issuer, audiences: [AUDIENCE], orgs: [ORG], issuers: [BENCH] }];
  await createCalloutSecrets(admin, state.trust);
  await createCallout(admin, calloutBody(CALLOUT, state.trust, urls, providers));
  await waitForCalloutReady(admin, CALLOUT, 60_000);

  const ids = Array.from({ length: flags.workspaces }, (_, i) => i);
  const calloutName = (i: number) => `callout-${i}`;
  const credsName = (i: number) => `creds-${i}`;
  await inBatches(ids, (i) =>
    Promise.all([
      createAccess(
        admin.custom,
        BENCH,
        accessBody(calloutName(i), { issuerRef: { name: BENCH }, authCalloutRef: { name: CALLOUT }, workspace: { id: calloutName(i), owner: OWNER }, permissions }),
      ),
      createAccess(admin.custom, BENCH, accessBody(credsName(i), { issuerRef: { name: BENCH }, permissions })),
    ]),
  );
  const creds = await inBatches(ids, async (i) => {
    await waitForReady(admin.custom, BENCH, calloutName(i), 'True', Reason.CalloutReady, 120_000);
    const access = await waitForReady(admin.custom, BENCH, credsName(i), 'True', undefined, 120_000);
    const secret = await admin.core.readNamespacedSecret({ name: secretNameOf(access), namespace: BENCH });
    return Buffer.from(secret.data?.[CREDS_KEY] ?? '', 'base64').toString('utf8');
  });
  // Signed now, so that no timing includes the identity provider.
  const tokens = await inBatches(ids, (i) => idp.sign(gitpodClaims({ workspaceId: calloutName(i), orgId: ORG, userId: OWNER, audience: AUDIENCE })));
  const sentinel = state.trust.calloutAccount.sentinel.creds;
  // The callout's own caches follow the accesses: each workspace let in once before any timing.
  await inBatches(ids, (i) =>
    waitFor(async () => ((await tokenLoginOutcome(urls, sentinel, tokens[i]!)) === ACCEPTED ? true : undefined), {
      what: `${calloutName(i)} to log in through the callout`,
      timeoutMs: 30_000,
      intervalMs: 250,
    }),
  );

  load = startLoadGenerator();
  const byCallout: LoadAuth = { kind: 'token', sentinel, tokens };
  const byCreds: LoadAuth = { kind: 'creds', creds };
  for (const auth of [byCreds, byCallout]) await load.run({ servers: urls, auth, ...WARM_UP });

  const operatorPid = () => {
    const pid = operator.pid;
    if (pid === undefined) throw new Error('the operator is not running');
    return pid;
  };
  const natsCpuMs = () => env.nats.processes().reduce((sum, process) => sum + cpuMs(process.pid), 0);
  const failures = new Map<string, number>();
  const side = async (auth: LoadAuth, concurrency: number): Promise<Side> => {
    // A moment for the last level's closes and the operator's garbage to settle.
    await sleep(1000);
    const before = { operator: cpuMs(operatorPid()), nats: natsCpuMs() };
    const result = await load!.run({ servers: urls, auth, total: flags.connects, concurrency });
    for (const [reason, count] of result.failures) {
      const key = `${auth.kind === 'token' ? 'callout' : 'creds'}, ${concurrency} in flight: ${reason}`;
      failures.set(key, (failures.get(key) ?? 0) + count);
    }
    return {
      latencies: result.latencies,
      wallMs: result.wallMs,
      cpuMs: { client: result.cpuMs, operator: cpuMs(operatorPid()) - before.operator, nats: natsCpuMs() - before.nats },
    };
  };
  const levels: Level[] = [];
  const residentBefore = residentBytes(operatorPid());
  for (const concurrency of flags.concurrency) {
    const credsSide = await side(byCreds, concurrency);
    // Fresh: connect j gets a token of its own for workspace j modulo N, signed before the timing.
    const calloutAuth: LoadAuth = flags.freshTokens
      ? { ...byCallout, tokens: await inBatches(Array.from({ length: flags.connects }, (_, j) => j), (j) => idp.sign(gitpodClaims({ workspaceId: calloutName(j % flags.workspaces), orgId: ORG, userId: OWNER, audience: AUDIENCE }))) }
      : byCallout;
    const calloutSide = await side(calloutAuth, concurrency);
    levels.push({ concurrency, creds: credsSide, callout: calloutSide, operatorResidentBytes: residentBytes(operatorPid()) });
  }

  // What the operator logged at warn or above, by message, and how many logins it denied.
  const problems = new Map<string, number>();
  let denials = 0;
  for (const line of operator.log().split('\n')) {
    if (!line.startsWith('{')) continue;
    const { level, msg } = JSON.parse(line) as { level: number; msg: string };
    if (msg === 'callout login denied') denials++;
    if (level >= 40) problems.set(msg, (problems.get(msg) ?? 0) + 1);
  }
  const [load1, load5] = loadavg();
  process.stdout.write(
    [
      '',
      `${flags.connects} connects per level each way, ${flags.workspaces} workspaces each way, ` +
        `${flags.freshTokens ? 'a fresh token per callout connect' : 'one token per workspace, used again'} (${process.arch}, ${cpus().length} cores, ` +
        `load average ${load1!.toFixed(1)} / ${load5!.toFixed(1)} at the end)`,
      ...connectTable(levels),
      '',
      `what each connect cost (operator RSS ${(residentBefore / 2 ** 20).toFixed(0)} MiB before the first level)`,
      ...costTable(levels, cpus().length),
      '',
      'goals:',
      ...goalLines(levels).map((line) => `  ${line}`),
      `operator log: ${denials} callout logins denied; warnings and errors: ${[...problems].map(([msg, count]) => `"${msg}" x${count}`).join(', ') || 'none'}`,
      '',
      ...mintLines(mint),
      '',
    ].join('\n'),
  );
  if (failures.size > 0) {
    process.stderr.write(`connects that failed:\n${[...failures].map(([what, count]) => `  ${what}: ${count}`).join('\n')}\n`);
    process.exitCode = 1;
  }
} finally {
  await load?.stop();
  await bench.stop();
  await idp.stop();
}

/** `work` over `items`, 20 at a time, results in order. */
async function inBatches<T, R>(items: T[], work: (item: T) => Promise<R>): Promise<R[]> {
  const results: R[] = [];
  for (let i = 0; i < items.length; i += 20) results.push(...(await Promise.all(items.slice(i, i + 20).map(work))));
  return results;
}
