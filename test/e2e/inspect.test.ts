// `workspace-nats-operator inspect`, run as a child process (and once as the kubectl plugin) against
// the test API server and NATS: a Ready access with a live connection, failing ones, a deleted one
// whose revocation waits for NATS (stopped), and the issuer. No seed or JWT in any output.

import { execFile } from 'node:child_process';
import { dirname, join } from 'node:path';
import type { NatsConnection } from '@nats-io/transport-node';
import type { ClusterNatsIssuer } from '../../src/api/cluster-nats-issuer.ts';
import { ACCESS_PLURAL, CREDS_KEY, GROUP, VERSION } from '../../src/api/constants.ts';
import type { AccessReport } from '../../src/inspect/access-report.ts';
import type { IssuerReport } from '../../src/inspect/issuer-report.ts';
import type { NatsEnv, NatsTrust } from '../env/nats.ts';
import { accessBody, createAccess, getAccess, OPERATOR_NAMESPACE, secretMaterialIn, setIssuerPolicy, waitFor, waitForIssuerReady, waitForReady, type Clients } from '../env/cluster.ts';
import { connectWithCreds } from '../env/nats-client.ts';
import type { OperatorProcess } from '../env/operator.ts';
import { startSuiteWithOwnNats } from './support/suite.ts';

const NS = 'e2e-inspect';
const ISSUER = 'e2e-inspect';
const ROOT = join(import.meta.dirname, '..', '..');
const MAIN = join(ROOT, 'src', 'cli', 'main.ts');
const PLUGIN = join(ROOT, 'bin', 'kubectl-natsaccess');
let admin: Clients;
let operator: OperatorProcess;
let trust: NatsTrust;
let nats: NatsEnv;
/** Every output of the CLI, scanned for seeds and JWTs at the end. */
const outputs: string[] = [];

const permissions = { publish: { allow: ['ws.{{workspace.id}}.>'] }, subscribe: { allow: ['ws.{{workspace.id}}.>', '_INBOX.>'] } };
const policy: ClusterNatsIssuer['spec']['policy'] = {
  maxTTL: '2h',
  allowedSubjects: { publish: ['ws.{{workspace.id}}.>'], subscribe: ['ws.{{workspace.id}}.>', '_INBOX.>'] },
  maxLimits: { subscriptions: 50 },
  connectionTypes: ['STANDARD'],
};

beforeAll(async () => {
  ({ admin, operator, trust, nats } = await startSuiteWithOwnNats({ issuer: ISSUER, namespaces: [NS], nodes: 1 }));
  await setIssuerPolicy(admin.custom, ISSUER, policy);
  await waitForIssuerReady(admin.custom, ISSUER);
});

afterAll(async () => {
  await operator?.stop();
  await nats?.stop();
});

afterAll(() => {
  expect(outputs.length).toBeGreaterThan(0);
  expect(secretMaterialIn(outputs.join('\n'))).toEqual([]);
});

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs `command args` to the end (30 s at most), with the admin kubeconfig. */
function run(command: string, args: string[]): Promise<Run> {
  return new Promise((resolve) => {
    const env = { ...process.env, KUBECONFIG: admin.kubeconfigPath, POD_NAMESPACE: OPERATOR_NAMESPACE, PATH: `${dirname(process.execPath)}:${process.env.PATH ?? ''}` };
    execFile(command, args, { env, timeout: 30_000 }, (error, stdout, stderr) => {
      outputs.push(stdout, stderr);
      const code = error ? (typeof error.code === 'number' ? error.code : -1) : 0;
      resolve({ code, stdout, stderr });
    });
  });
}

const inspect = (...args: string[]) => run(process.execPath, [MAIN, 'inspect', ...args]);
const inspectJson = async <T>(...args: string[]): Promise<{ code: number; report: T }> => {
  const { code, stdout, stderr } = await inspect(...args, '-o', 'json');
  if (code !== 0 && code !== 3) throw new Error(`inspect exited ${code}: ${stderr}`);
  return { code, report: JSON.parse(stdout) as T };
};

async function credsOf(name: string): Promise<string> {
  const secret = await admin.core.readNamespacedSecret({ name: `${name}-nats`, namespace: NS });
  return Buffer.from(secret.data?.[CREDS_KEY] ?? '', 'base64').toString('utf8');
}

test('a Ready access: what it resolved to, its user, no revocation due, and its one live connection', async () => {
  await createAccess(admin.custom, NS, accessBody('ready', { issuerRef: { name: ISSUER }, permissions }));
  const access = await waitForReady(admin.custom, NS, 'ready');
  let nc: NatsConnection | undefined;
  try {
    nc = await connectWithCreds(nats.urls, await credsOf('ready'), { name: 'inspect-e2e-client' });
    const { code, report } = await inspectJson<AccessReport>('access', 'ready', '-n', NS);
    expect(code).toBe(0);
    expect(report).toMatchObject({
      kind: 'WorkspaceNatsAccess',
      namespace: NS,
      name: 'ready',
      account: trust.workspaceAccount.publicKey,
      ready: { status: 'True', reason: 'Issued' },
      resolved: {
        ok: true,
        scoped: false,
        publish: { allow: ['ws.ready.>'], deny: [] },
        subscribe: { allow: ['ws.ready.>', '_INBOX.>'], deny: [] },
        limits: { subscriptions: 50, connectionTypes: ['STANDARD'] },
        ttl: '1h',
      },
      issued: { issuedAt: access.status?.issuedAt, expiresAt: access.status?.expiresAt, renewAt: access.status?.renewAt },
      policy: { maxTTL: '2h', allowedSubjects: { publish: ['ws.ready.>'], subscribe: ['ws.ready.>', '_INBOX.>'] }, maxLimits: { subscriptions: 50 }, connectionTypes: ['STANDARD'] },
      users: [{ publicKey: access.status?.userPublicKey, role: 'current', expiresAt: access.status?.expiresAt, toRevoke: false }],
      warnings: [],
    });
    if (!report.nats.reachable) throw new Error(report.nats.error);
    expect(report.nats.servers).toEqual([expect.objectContaining({ state: 'n/a', notRevoked: [] })]);
    expect(report.nats.connections).toEqual([expect.objectContaining({ name: 'inspect-e2e-client', user: access.status?.userPublicKey, start: expect.any(String) })]);

    // The same as text, and through the kubectl plugin.
    const text = await run(PLUGIN, ['access', 'ready', '-n', NS]);
    expect(text.code).toBe(0);
    expect(text.stdout).toContain(`WorkspaceNatsAccess ${NS}/ready`);
    expect(text.stdout).toMatch(/publish: +allow ws\.ready\.>; deny \(none\)/);
    expect(text.stdout).toContain(`expires at: ${access.status?.expiresAt}`);
    expect(text.stdout).toMatch(new RegExp(`${access.status?.userPublicKey} +current +\\S+ +valid`));
    expect(text.stdout).toContain('n/a (no user to revoke)');
    expect(text.stdout).toContain('inspect-e2e-client');
  } finally {
    await nc?.close();
  }
});

test('failing accesses show why: a policy violation, an issuer that does not exist', async () => {
  await createAccess(admin.custom, NS, accessBody('greedy', { issuerRef: { name: ISSUER }, permissions: { publish: { allow: ['other.>'] } } }));
  await waitForReady(admin.custom, NS, 'greedy', 'False', 'PolicyViolation');
  const greedy = await inspect('access', 'greedy', '-n', NS);
  expect(greedy.code).toBe(0);
  expect(greedy.stdout).toMatch(/Ready: +False \(PolicyViolation\)/);
  expect(greedy.stdout).toMatch(/does not resolve: PolicyViolation: spec\.permissions\.publish\.allow\[0\]: "other\.>" is outside/);
  expect(greedy.stdout).toContain('(none issued)');

  await createAccess(admin.custom, NS, accessBody('orphan', { issuerRef: { name: 'no-such-issuer' } }));
  await waitForReady(admin.custom, NS, 'orphan', 'False', 'IssuerNotFound');
  const { code, report } = await inspectJson<AccessReport>('access', 'orphan', '-n', NS);
  expect(code).toBe(3);
  expect(report).toMatchObject({ ready: { reason: 'IssuerNotFound' }, resolved: { ok: false, reason: 'IssuerNotFound' }, nats: { reachable: false } });

  const missing = await inspect('access', 'nothing-here', '-n', NS);
  expect(missing.code).toBe(1);
  expect(missing.stderr).toContain(`WorkspaceNatsAccess ${NS}/nothing-here not found`);
});

test('a deleted access whose revocation waits for NATS: its users still to revoke, NATS unreachable; the issuer lists it once revoked', async () => {
  await createAccess(admin.custom, NS, accessBody('doomed', { issuerRef: { name: ISSUER }, permissions }));
  const access = await waitForReady(admin.custom, NS, 'doomed');
  const user = access.status?.userPublicKey;
  await nats.stopNode(0);
  try {
    await admin.custom.deleteNamespacedCustomObject({ group: GROUP, version: VERSION, plural: ACCESS_PLURAL, namespace: NS, name: 'doomed' });
    await waitForReady(admin.custom, NS, 'doomed', 'False', 'RevocationFailed', 30_000);
    const { code, report } = await inspectJson<AccessReport>('access', 'doomed', '-n', NS);
    expect(code).toBe(3);
    expect(report).toMatchObject({
      deleting: true,
      finalizers: ['natsaccess.io/revoke-credentials'],
      ready: { status: 'False', reason: 'RevocationFailed' },
      users: [{ publicKey: user, role: 'current', toRevoke: true }],
      nats: { reachable: false, error: expect.stringContaining('NATS unreachable') },
    });
    const text = await inspect('access', 'doomed', '-n', NS);
    expect(text.code).toBe(3);
    expect(text.stdout).toMatch(new RegExp(`${user} +current +\\S+ +to revoke`));
    expect(text.stdout).toMatch(/NATS servers \(account \w+\):\n {2}UNAVAILABLE: NATS unreachable/);
    expect(text.stdout).toContain('Warnings:');
  } finally {
    await nats.startNode(0);
  }
  await waitFor(async () => ((await getAccess(admin.custom, NS, 'doomed')) ? undefined : true), { what: 'doomed gone', timeoutMs: 60_000 });

  const { code, report } = await inspectJson<IssuerReport>('issuer', ISSUER);
  expect(code).toBe(0);
  expect(report).toMatchObject({
    kind: 'ClusterNatsIssuer',
    account: trust.workspaceAccount.publicKey,
    signingKey: trust.workspaceAccount.signingKey.publicKey,
    policy: { maxTTL: '2h', enforcement: 'Report' },
    revocationList: { readable: true, entries: expect.arrayContaining([expect.objectContaining({ user, access: `${NS}/doomed`, expiresAt: access.status?.expiresAt?.replace('Z', '.000Z') })]) },
  });
  if (!report.nats.reachable) throw new Error(report.nats.error);
  expect(report.nats.servers).toEqual([expect.objectContaining({ account: 'loaded', missingRevocations: [], signingKeyListed: true })]);
  const text = await inspect('issuer', ISSUER);
  expect(text.stdout).toContain(`Signing key: ${trust.workspaceAccount.signingKey.publicKey}`);
  expect(text.stdout).toMatch(new RegExp(`${user} +\\S+ +\\S+ +${NS}/doomed`));
});

test('bad usage exits 2 and says how to use it', async () => {
  const bad = await inspect('pods', 'x');
  expect(bad.code).toBe(2);
  expect(bad.stderr).toContain('inspect takes "access NAME" or "issuer NAME"');
  expect((await inspect('issuer', ISSUER, '-o', 'xml')).code).toBe(2);
});
