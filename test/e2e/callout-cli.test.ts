// The command lines the README gives workspaces for the nats CLI (natscli 0.5.0) work through the
// auth callout: the sentinel's creds file (--creds, or NATS_CREDS as the pod webhook sets it) and
// the identity token (--token, literally or as file://<path>, the projected token's file) in one
// CONNECT. The CLI publishes, subscribes and makes requests within the workspace's subjects, and
// is refused with a token of no access, with no token, and outside its own subjects.
//
// The suite has NATS servers and a trust of its own: the callout account's auth user answers
// $SYS.REQ.USER.AUTH in the operator's queue group, so a callout of another suite on the same
// account would take half of this suite's logins (and deny them: its accesses are not this one's).

import { execFile } from 'node:child_process';
import { readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { IdentityProvider } from '../../src/api/cluster-nats-auth-callout.ts';
import { CALLOUT_PLURAL, GROUP, VERSION } from '../../src/api/constants.ts';
import { Reason } from '../../src/api/reasons.ts';
import { accessBody, createAccess, waitFor, waitForReady } from '../env/cluster.ts';
import { ensureComponents } from '../env/components.ts';
import { gitpodClaims, startTestIdp, type TestIdp } from '../env/idp.ts';
import { makeTempDir, removeTempDir, startProcess, type ManagedProcess } from '../env/processes.ts';
import { calloutBody, createCallout, createCalloutSecrets, waitForCalloutReady } from './support/callout.ts';
import { startSuiteWithOwnNats, type OwnNatsSuite } from './support/suite.ts';

const NS = 'e2e-callout-cli';
const ISSUER = 'e2e-callout-cli';
const CALLOUT = 'e2e-callout-cli';
const SECRET_SUFFIX = '-callout-cli';
const ORG = 'org-cli';
const AUDIENCE = 'nats';
/** How long one CLI command may take: a login through the callout, then one message. */
const COMMAND_MS = 20_000;

let nats: string;
let dir: string;
let suite: OwnNatsSuite | undefined;
let idp: TestIdp | undefined;
let url: string;
let sentinelFile: string;
const background: ManagedProcess[] = [];

const token = (workspaceId: string) =>
  idp!.sign(gitpodClaims({ workspaceId, orgId: ORG, userId: 'user-1', audience: AUDIENCE }));

interface CliResult {
  code: number;
  /** stdout and stderr together: the CLI reports errors on stderr, messages on stdout. */
  output: string;
}

/**
 * Runs `nats <args>` to its end. The CLI's own configuration (contexts) is kept in the suite's
 * folder, so that one on this machine cannot change what it connects with.
 */
function cli(args: string[], env: Record<string, string> = {}): Promise<CliResult> {
  return new Promise((resolve) => {
    execFile(nats, args, { env: cliEnv(env), timeout: COMMAND_MS }, (error, stdout, stderr) => {
      const code = error ? (typeof error.code === 'number' ? error.code : -1) : 0;
      resolve({ code, output: `${stdout}${stderr}` });
    });
  });
}

const cliEnv = (env: Record<string, string>) => ({ PATH: process.env.PATH ?? '', HOME: dir, XDG_CONFIG_HOME: path.join(dir, 'config'), ...env });

/** Starts a long-running `nats <args>` (sub, reply) whose output goes to `<dir>/<name>.log`. */
function cliInBackground(name: string, args: string[]): { process: ManagedProcess; output: () => Promise<string> } {
  const logFile = path.join(dir, `${name}.log`);
  const child = startProcess({ name: `nats ${name}`, command: nats, args, logFile, env: cliEnv({}) });
  background.push(child);
  return { process: child, output: () => readFile(logFile, 'utf8').catch(() => '') };
}

/** The flags the README gives: the server, the sentinel's creds file and the token. */
const login = (workspaceToken: string) => ['--server', url, '--creds', sentinelFile, '--token', workspaceToken];

/**
 * Publishes with `publish` until the background CLI `listener` has exited (it takes one message
 * and ends): a subscription made by another process is only known to be in place once a message
 * reaches it. Returns the listener's output.
 */
async function publishUntilReceived(listener: ReturnType<typeof cliInBackground>, publish: () => Promise<CliResult>): Promise<string> {
  await waitFor(
    async () => {
      if (!listener.process.isRunning()) return true;
      const published = await publish();
      if (published.code !== 0) throw new Error(`nats pub failed (${published.code}): ${published.output}`);
      return listener.process.isRunning() ? undefined : true;
    },
    { what: 'the background nats CLI to receive its message', timeoutMs: 30_000, intervalMs: 500 },
  );
  return listener.output();
}

beforeAll(async () => {
  // Built from the Go module proxy the first time, then cached by version like nats-server.
  nats = (await ensureComponents({ only: ['natscli'] })).natsCli;
}, 20 * 60_000);

beforeAll(async () => {
  dir = await makeTempDir('wno-e2e-natscli-');
  idp = await startTestIdp();
  suite = await startSuiteWithOwnNats({ issuer: ISSUER, namespaces: [NS], nodes: 1 });
  const { admin, trust } = suite;
  url = suite.nats.urls[0]!;
  await createCalloutSecrets(admin, trust, SECRET_SUFFIX);
  const providers: IdentityProvider[] = [{ name: 'gitpod', kind: 'OIDC', issuerURL: idp.issuer, audiences: [AUDIENCE], orgs: [ORG], issuers: [ISSUER] }];
  await createCallout(admin, calloutBody(CALLOUT, trust, suite.nats.urls, providers, SECRET_SUFFIX));
  await waitForCalloutReady(admin, CALLOUT);
  sentinelFile = path.join(dir, 'sentinel.creds');
  await writeFile(sentinelFile, trust.calloutAccount.sentinel.creds, { mode: 0o600 });
  const permissions = {
    publish: { allow: ['ws.{{workspace.id}}.>'] },
    subscribe: { allow: ['ws.{{workspace.id}}.>', '_INBOX_{{workspace.id}}.>'] },
    allowResponses: { maxMessages: 1 },
  };
  for (const id of ['cli-a', 'cli-b']) {
    await createAccess(admin.custom, NS, accessBody(id, { issuerRef: { name: ISSUER }, authCalloutRef: { name: CALLOUT }, workspace: { id }, permissions }));
    await waitForReady(admin.custom, NS, id, 'True', Reason.CalloutReady);
  }
}, 180_000);

afterAll(async () => {
  await Promise.all(background.map((child) => child.stop()));
  // The callout goes with the suite: left behind, it would send later suites' operators to
  // servers that are gone.
  await suite?.admin.custom
    .deleteClusterCustomObject({ group: GROUP, version: VERSION, plural: CALLOUT_PLURAL, name: CALLOUT })
    .catch(() => undefined);
  await suite?.operator.stop();
  await suite?.nats.stop();
  await idp?.stop();
  if (dir) await removeTempDir(dir);
});

test('nats pub and nats sub with --creds and --token: a message goes round within the workspace', async () => {
  const a = await token('cli-a');
  const sub = cliInBackground('sub', [...login(a), 'sub', 'ws.cli-a.events', '--count', '1', '--raw']);
  const output = await publishUntilReceived(sub, () => cli([...login(a), 'pub', 'ws.cli-a.events', 'hi']));
  expect(output.trim().split('\n')).toContain('hi');
  expect((await sub.process.exited).code).toBe(0);
});

test('nats reply and nats req, with the workspace inbox prefix', async () => {
  const a = await token('cli-a');
  const service = cliInBackground('reply', [...login(a), 'reply', 'ws.cli-a.service', 'pong', '--count', '1']);
  let answer: CliResult | undefined;
  await waitFor(
    async () => {
      answer = await cli([...login(a), '--inbox-prefix', '_INBOX_cli-a', 'req', 'ws.cli-a.service', 'ping', '--raw']);
      // "No responders are available" (with exit code 0) until the reply command has subscribed.
      if (answer.output.trim().split('\n').includes('pong')) return true;
      if (/No responders/.test(answer.output)) return undefined;
      throw new Error(`nats req: ${answer.output}`);
    },
    { what: 'nats req to be answered', timeoutMs: 30_000, intervalMs: 500 },
  );
  // The reply command ends after its one answer (natscli 0.5.0 then exits with 1, all the same).
  await service.process.exited;
  expect(await service.output()).toMatch(/Received on subject "ws\.cli-a\.service":\s+ping/);
});

test('inside a workspace pod: NATS_URL and NATS_CREDS from the environment, the token read from its file', async () => {
  const tokenFile = path.join(dir, 'token');
  await writeFile(tokenFile, `${await token('cli-a')}\n`, { mode: 0o600 });
  const env = { NATS_URL: url, NATS_CREDS: sentinelFile };
  const sub = cliInBackground('pod-sub', ['--server', url, '--creds', sentinelFile, '--token', `file://${tokenFile}`, 'sub', 'ws.cli-a.pod', '--count', '1', '--raw']);
  const output = await publishUntilReceived(sub, () => cli(['--token', `file://${tokenFile}`, 'pub', 'ws.cli-a.pod', 'from-the-pod'], env));
  expect(output.trim().split('\n')).toContain('from-the-pod');
});

test('refused: a token of a workspace without an access, and no token at all', async () => {
  const none = await cli([...login(await token('cli-nowhere')), 'pub', 'ws.cli-nowhere.x', 'hi']);
  expect(none.code).not.toBe(0);
  expect(none.output).toMatch(/Authorization Violation/);
  const sentinelAlone = await cli(['--server', url, '--creds', sentinelFile, 'pub', 'ws.cli-a.x', 'hi']);
  expect(sentinelAlone.code).not.toBe(0);
  expect(sentinelAlone.output).toMatch(/Authorization Violation/);
});

test("refused: another workspace's subjects, for publish, subscribe and request", async () => {
  const a = await token('cli-a');
  const b = await token('cli-b');
  // cli-b listens on its own subject, and is known to once a message of its own got through.
  const listener = cliInBackground('b-sub', [...login(b), 'sub', 'ws.cli-b.private', '--raw']);
  const received = async () => (await listener.output()).trim().split('\n');
  await waitFor(
    async () => {
      if ((await received()).includes('ready')) return true;
      const own = await cli([...login(b), 'pub', 'ws.cli-b.private', 'ready']);
      if (own.code !== 0) throw new Error(`nats pub as cli-b: ${own.output}`);
      return undefined;
    },
    { what: "cli-b's subscription to take a message", timeoutMs: 30_000, intervalMs: 500 },
  );
  // cli-a's publish there is refused, and the CLI says so.
  const published = await cli([...login(a), 'pub', 'ws.cli-b.private', 'intruder']);
  expect(published.output).toMatch(/Permissions Violation for Publish to "ws\.cli-b\.private"/);
  const wide = await cli([...login(a), 'sub', 'ws.cli-b.>', '--count', '1']);
  expect(wide.output).toMatch(/Permissions Violation for Subscription to "ws\.cli-b\.>"/);
  const request = await cli([...login(a), '--inbox-prefix', '_INBOX_cli-a', 'req', 'ws.cli-b.private', 'ping', '--timeout', '2s']);
  expect(request.output).toMatch(/Permissions Violation for Publish to "ws\.cli-b\.private"/);
  // One server delivers a subject's messages in order: cli-b's next message arrives after
  // anything of cli-a's that got through, and nothing did.
  const own = await cli([...login(b), 'pub', 'ws.cli-b.private', 'own']);
  expect(own.code).toBe(0);
  await waitFor(async () => ((await received()).includes('own') ? true : undefined), { what: "cli-b's own message", timeoutMs: COMMAND_MS });
  expect(await received()).not.toContain('intruder');
});
