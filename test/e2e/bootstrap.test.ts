// `workspace-nats-operator bootstrap` from nothing to a working workspace: the command writes a
// trust into a temp folder and applies its Kubernetes side (--apply); a real nats-server starts
// from the written config as it is; the operator (deployment RBAC) makes the issuer Ready and a
// first access's creds connect; deleting the access revokes them. In plain and scoped mode, and
// with the auth callout (a token login). A second bootstrap into the same folder refuses.

import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { parse } from 'yaml';
import type { WorkspaceNatsAccess } from '../../src/api/workspace-nats-access.ts';
import { CALLOUT_PLURAL, CREDS_KEY, GROUP, ISSUER_PLURAL, VERSION } from '../../src/api/constants.ts';
import { Reason } from '../../src/api/reasons.ts';
import { clientsFor, createAccess, ensureNamespace, installCrds, OPERATOR_NAMESPACE, operatorKubeconfig, secretMaterialIn, waitForIssuerReady, waitForReady, type Clients } from '../env/cluster.ts';
import { gitpodClaims, startTestIdp, type TestIdp } from '../env/idp.ts';
import { ACCEPTED, closeReason, connectWithCreds, roundTrip, tokenLoginOutcome, waitForRefusal } from '../env/nats-client.ts';
import { freePort, httpGet, waitFor } from '../env/net.ts';
import { OperatorProcess } from '../env/operator.ts';
import { describeLogs, makeTempDir, removeTempDir, startProcess, type ManagedProcess } from '../env/processes.ts';
import { loadEnvState, type EnvState } from '../env/state.ts';
import { waitForCalloutReady } from './support/callout.ts';

const NS = 'e2e-bootstrap';
const MAIN = join(import.meta.dirname, '..', '..', 'src', 'cli', 'main.ts');
const run = promisify(execFile);

let state: EnvState;
let admin: Clients;
let operatorConfig: string;
let operator: OperatorProcess | undefined;
let root: string;
const servers: ManagedProcess[] = [];
const issuers: string[] = [];
const callouts: string[] = [];

/** Runs bootstrap; its output must hold no seed or JWT. */
async function bootstrap(args: string[]): Promise<{ code: number; output: string }> {
  let result: { code: number; stdout: string; stderr: string };
  try {
    result = { code: 0, ...(await run(process.execPath, [MAIN, 'bootstrap', ...args])) };
  } catch (error) {
    const failed = error as { code: number; stdout: string; stderr: string };
    result = { code: failed.code, stdout: failed.stdout, stderr: failed.stderr };
  }
  const output = result.stdout + result.stderr;
  expect(secretMaterialIn(output)).toEqual([]);
  return { code: result.code, output };
}

/** nats-server with the written config, as it is but for the ports (its flags override them). */
async function startNatsFrom(dir: string, port: number): Promise<void> {
  const monitor = await freePort();
  const server = startProcess({
    name: `nats-bootstrap-${servers.length}`,
    command: state.binaries.natsServer,
    args: ['-c', join(dir, 'nats-server.conf'), '-a', '127.0.0.1', '-p', String(port), '-m', String(monitor)],
    logFile: join(dir, 'nats-server.log'),
  });
  servers.push(server);
  try {
    await waitFor(async () => ((await httpGet(`http://127.0.0.1:${monitor}/healthz`)).status === 200 ? true : undefined), {
      what: 'the bootstrapped nats-server /healthz',
      timeoutMs: 20_000,
      watch: [server],
    });
  } catch (error) {
    throw new Error(`${(error as Error).message}\n${await describeLogs([server])}`, { cause: error });
  }
}

async function startOperatorOnce(): Promise<void> {
  if (operator) return;
  operator = new OperatorProcess({ kubeconfig: operatorConfig, namespace: OPERATOR_NAMESPACE, serves: [NS] }, state.root);
  await operator.start();
}

/** The written first access, named `name`, created in NS; returns its creds once Ready. */
async function firstAccess(dir: string, name: string, reason: string = Reason.Issued): Promise<string> {
  const body = parse(readFileSync(join(dir, 'workspace-nats-access.yaml'), 'utf8')) as WorkspaceNatsAccess;
  await createAccess(admin.custom, NS, { ...body, metadata: { name } });
  await waitForReady(admin.custom, NS, name, 'True', reason, 60_000);
  const secret = await admin.core.readNamespacedSecret({ name: `${name}-nats`, namespace: NS });
  return Buffer.from(secret.data?.[CREDS_KEY] ?? '', 'base64').toString('utf8');
}

const deleteAccess = (name: string) =>
  admin.custom.deleteNamespacedCustomObject({ group: GROUP, version: VERSION, plural: 'workspacenatsaccesses', namespace: NS, name });

/** Bootstraps into a fresh folder for `name`, applies, and starts NATS from it; returns the folder, URL and elapsed ms. */
async function bootstrapped(name: string, extra: string[]): Promise<{ dir: string; url: string }> {
  const dir = join(root, name);
  const port = await freePort();
  const url = `nats://127.0.0.1:${port}`;
  const { code, output } = await bootstrap([
    '--out', dir, '--apply', '--kubeconfig', state.kubeconfig, '--nats-url', url, '--issuer-name', name, '--callout-name', name,
    `--secret-suffix=-${name}`, '--resolver-dir', join(dir, 'jwt'), ...extra,
  ]);
  if (code !== 0) throw new Error(`bootstrap failed (${code}): ${output}`);
  issuers.push(name);
  await startNatsFrom(dir, port);
  return { dir, url };
}

/** The access's creds connect and carry messages; deleting it cuts the connection and refuses the creds. */
async function worksAndRevokes(name: string, url: string, creds: string): Promise<void> {
  const nc = await connectWithCreds([url], creds);
  expect(await roundTrip(nc, nc, 'ws.first-workspace.hello')).toBe('hello');
  const closed = closeReason(nc);
  await deleteAccess(name);
  expect(await closed).toBe('User Authentication Revoked');
  expect(await waitForRefusal([url], creds, 15_000)).toBe('Authorization Violation');
}

beforeAll(async () => {
  state = loadEnvState();
  admin = clientsFor(state.kubeconfig);
  root = await makeTempDir('wno-env-bootstrap-');
  await installCrds(state);
  await ensureNamespace(admin.core, NS);
  operatorConfig = await operatorKubeconfig(state, [NS]);
}, 60_000);

afterAll(async () => {
  for (const name of callouts) await admin.custom.deleteClusterCustomObject({ group: GROUP, version: VERSION, plural: CALLOUT_PLURAL, name }).catch(() => undefined);
  for (const name of issuers) await admin.custom.deleteClusterCustomObject({ group: GROUP, version: VERSION, plural: ISSUER_PLURAL, name }).catch(() => undefined);
  await operator?.stop();
  await Promise.all(servers.map((server) => server.stop()));
  if (root) await removeTempDir(root);
});

test('from no issuer to a Ready access whose creds connect, and a deleted access is revoked', async () => {
  const started = Date.now();
  const { dir, url } = await bootstrapped('bootstrap-plain', []);
  // nats-server's own check of the written config.
  await run(state.binaries.natsServer, ['-c', join(dir, 'nats-server.conf'), '-t']);
  await startOperatorOnce();
  await waitForIssuerReady(admin.custom, 'bootstrap-plain', 60_000);
  const creds = await firstAccess(dir, 'plain-first');
  process.stderr.write(`bootstrap: no issuer to a Ready access in ${((Date.now() - started) / 1000).toFixed(1)}s (bootstrap, nats-server, operator start, issuer, access)\n`);
  await worksAndRevokes('plain-first', url, creds);
}, 180_000);

test('a scoped signing key: the Ready access connects within its template, and is revoked', async () => {
  const started = Date.now();
  const { dir, url } = await bootstrapped('bootstrap-scoped', ['--scoped']);
  await startOperatorOnce();
  await waitForIssuerReady(admin.custom, 'bootstrap-scoped', 60_000);
  const creds = await firstAccess(dir, 'scoped-first');
  process.stderr.write(`bootstrap --scoped: no issuer to a Ready access in ${((Date.now() - started) / 1000).toFixed(1)}s\n`);
  await worksAndRevokes('scoped-first', url, creds);
}, 180_000);

describe('with the auth callout', () => {
  let idp: TestIdp;
  beforeAll(async () => {
    idp = await startTestIdp();
  });
  afterAll(async () => idp?.stop());

  test('a token login through the callout gets the access, and is refused once it is deleted', async () => {
    const name = 'bootstrap-callout';
    const { dir, url } = await bootstrapped(name, ['--callout', '--oidc-issuer', idp.issuer]);
    callouts.push(name);
    await startOperatorOnce();
    await waitForIssuerReady(admin.custom, name, 60_000);
    await waitForCalloutReady(admin, name, 60_000);
    const sentinel = readFileSync(join(dir, 'sentinel.creds'), 'utf8');
    const body = parse(readFileSync(join(dir, 'workspace-nats-access.yaml'), 'utf8')) as WorkspaceNatsAccess;
    await createAccess(admin.custom, NS, { ...body, metadata: { name: 'callout-first' }, spec: { ...body.spec, authCalloutRef: { name } } });
    await waitForReady(admin.custom, NS, 'callout-first', 'True', Reason.CalloutReady, 60_000);
    const token = await idp.sign(gitpodClaims({ workspaceId: 'first-workspace', orgId: 'org-a', userId: 'user-1', audience: 'nats' }));
    expect(await tokenLoginOutcome([url], sentinel, token)).toBe(ACCEPTED);
    await deleteAccess('callout-first');
    await waitFor(async () => ((await tokenLoginOutcome([url], sentinel, token)) === 'Authorization Violation' ? true : undefined), {
      what: 'the token login to be refused after the access is gone',
      timeoutMs: 15_000,
    });
  }, 180_000);
});

test('a second bootstrap into the same folder refuses to replace the keys, and names them; --force replaces them', async () => {
  const dir = join(root, 'again');
  expect((await bootstrap(['--out', dir])).code).toBe(0);
  const before = readFileSync(join(dir, 'operator.nk'), 'utf8');
  const second = await bootstrap(['--out', dir]);
  expect(second.code).not.toBe(0);
  expect(second.output).toContain('already holds');
  expect(second.output).toContain('operator.nk');
  expect(second.output).toContain('--force');
  expect(readFileSync(join(dir, 'operator.nk'), 'utf8') === before).toBe(true);
  expect((await bootstrap(['--out', dir, '--force'])).code).toBe(0);
  expect(readFileSync(join(dir, 'operator.nk'), 'utf8') === before).toBe(false);
});

test("the written NATS config Secret and scripts/kind/nats-server.yaml pass the API server's validation", async () => {
  const dir = join(root, 'kind');
  expect((await bootstrap(['--out', dir])).code).toBe(0);
  const kubectl = (...args: string[]) => run(state.binaries.kubectl, args, { env: { ...process.env, KUBECONFIG: state.kubeconfig } });
  // The namespace first: a server-side dry run creates nothing, and the Secret needs it.
  await ensureNamespace(admin.core, 'nats');
  const { stdout } = await kubectl('apply', '--dry-run=server', '-f', join(dir, 'nats-server-secret.yaml'), '-f', join(import.meta.dirname, '..', '..', 'scripts', 'kind', 'nats-server.yaml'));
  expect(stdout).toContain('secret/nats-config');
  expect(stdout).toContain('statefulset.apps/nats');
});
