// Level-triggered and idempotent: an operator killed mid-burst converges after a restart, and
// neither a resync of unchanged objects nor a restart writes anything to the API server.

import { isDeepStrictEqual } from 'node:util';
import type { ClusterNatsIssuer } from '../../src/api/cluster-nats-issuer.ts';
import { ACCESS_PLURAL, CREDS_KEY, GROUP, ISSUER_PLURAL, VERSION } from '../../src/api/constants.ts';
import type { WorkspaceNatsAccess } from '../../src/api/workspace-nats-access.ts';
import { readCredentials } from '../../src/nats/credentials.ts';
import { loadEnvState, type EnvState } from '../env/state.ts';
import { auditOffset, objectVersions, writesSince } from '../env/audit.ts';
import {
  accessBody,
  type Clients,
  createAccess,
  OPERATOR_NAMESPACE,
  OPERATOR_USER,
  operatorKubeconfig,
  prepareCluster,
  waitFor,
} from '../env/cluster.ts';
import { OperatorProcess } from '../env/operator.ts';

const ISSUER = 'e2e-convergence';
const SERVED = ['e2e-crash', 'e2e-resync'];
let state: EnvState;
let admin: Clients;
const operators: OperatorProcess[] = [];

beforeAll(async () => {
  state = loadEnvState();
  admin = await prepareCluster(state, { issuer: ISSUER, namespaces: SERVED });
});

// One operator at a time: two would race each other on the same objects.
afterEach(async () => {
  await Promise.all(operators.splice(0).map((o) => o.stop()));
});

async function startOperator(args: string[] = []): Promise<OperatorProcess> {
  const operator = new OperatorProcess(
    { kubeconfig: await operatorKubeconfig(state, SERVED), namespace: OPERATOR_NAMESPACE, serves: SERVED, args },
    state.root,
  );
  operators.push(operator);
  await operator.start();
  return operator;
}

async function listAccesses(namespace: string): Promise<WorkspaceNatsAccess[]> {
  const list = (await admin.custom.listNamespacedCustomObject({
    group: GROUP,
    version: VERSION,
    plural: ACCESS_PLURAL,
    namespace,
  })) as { items: WorkspaceNatsAccess[] };
  return list.items;
}

const isReady = (a: WorkspaceNatsAccess) =>
  a.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True') ?? false;

const permissions = { publish: { allow: ['ws.{{workspace.id}}.>'] }, subscribe: { allow: ['ws.{{workspace.id}}.>'] } };

test('an operator killed (SIGKILL) in the middle of 50 creates converges after a restart', async () => {
  const ns = 'e2e-crash';
  const first = await startOperator();
  const names = Array.from({ length: 50 }, (_, i) => `burst-${i}`);
  const creating = (async () => {
    for (const name of names) {
      await createAccess(admin.custom, ns, accessBody(name, { issuerRef: { name: ISSUER }, permissions }));
    }
  })();
  // Kill it once it is demonstrably busy: some accesses done, more still coming.
  await waitFor(async () => ((await listAccesses(ns)).filter(isReady).length >= 5 ? true : undefined), {
    what: 'the first accesses to become Ready',
    timeoutMs: 60_000,
  });
  await first.kill('SIGKILL');
  await creating;
  const readyWhenKilled = (await listAccesses(ns)).filter(isReady).length;
  expect(readyWhenKilled).toBeLessThan(50);

  await startOperator();
  const accesses = await waitFor(
    async () => {
      const all = await listAccesses(ns);
      return all.length === 50 && all.every(isReady) ? all : undefined;
    },
    { what: 'all 50 accesses to be Ready', timeoutMs: 90_000 },
  );

  const secrets = (
    await admin.core.listNamespacedSecret({ namespace: ns, labelSelector: 'app.kubernetes.io/managed-by=workspace-nats-operator' })
  ).items;
  expect(secrets).toHaveLength(50);
  const byName = new Map(secrets.map((s) => [s.metadata?.name, s]));
  const users = new Set<string>();
  for (const access of accesses) {
    const secret = byName.get(`${access.metadata.name}-nats`);
    expect(secret?.metadata?.ownerReferences?.[0]?.uid).toBe(access.metadata.uid);
    const creds = readCredentials(Buffer.from(secret?.data?.[CREDS_KEY] ?? '', 'base64').toString());
    expect(creds.userPublicKey).toBe(access.status?.userPublicKey);
    users.add(creds.userPublicKey);
  }
  expect(users.size).toBe(50);
});

/**
 * Waits until `operator` has reconciled each of `keys` `rounds` more times, counting from now: the
 * proof that it looked at them, however slowly a loaded machine lets it.
 */
async function reconciled(operator: OperatorProcess, keys: string[], rounds: number): Promise<void> {
  const log = operator.log();
  // A line still being written belongs to a reconcile that ended before now.
  const from = log.split('\n').length + (log === '' || log.endsWith('\n') ? 0 : 1);
  await waitFor(
    async () => {
      const lines = operator.linesSince(from).filter((l) => l.includes('"msg":"reconciled"'));
      return keys.every((key) => lines.filter((l) => l.includes(`"key":"${key}"`)).length >= rounds) ? true : undefined;
    },
    { what: `${rounds} more reconcile(s) of each of ${keys.join(', ')}`, timeoutMs: 60_000 },
  );
}

/**
 * Creates accesses `names` in `ns`, waits until they are Ready and `operator` has settled (a whole
 * round in which it reconciled each of them wrote nothing), and returns how to count what is
 * written from then on: the audit log of the API server the test environment started (every write
 * request, even one that changed nothing) and, on any cluster, the objects' resourceVersions.
 */
async function settled(operator: OperatorProcess, ns: string, names: string[]) {
  for (const name of names) {
    await createAccess(admin.custom, ns, accessBody(name, { issuerRef: { name: ISSUER }, permissions }));
  }
  await waitFor(
    async () => {
      const all = (await listAccesses(ns)).filter((a) => names.includes(a.metadata.name));
      return all.length === names.length && all.every(isReady) ? true : undefined;
    },
    { what: 'the accesses to be Ready', timeoutMs: 60_000 },
  );
  const keys = names.map((name) => `${ns}/${name}`);
  const auditLog = state.kube?.auditLogPath;
  const writesAfter = (offset: number) => (auditLog ? writesSince(auditLog, offset, OPERATOR_USER, ns) : []);
  const settleBy = Date.now() + 60_000;
  for (;;) {
    const offset = auditLog ? auditOffset(auditLog) : 0;
    const versionsBefore = await objectVersions(admin.core, admin.custom, ns);
    await reconciled(operator, keys, 1);
    if (writesAfter(offset).length === 0 && isDeepStrictEqual(await objectVersions(admin.core, admin.custom, ns), versionsBefore)) {
      return { keys, offset, versionsBefore, writesAfter };
    }
    expect(Date.now()).toBeLessThan(settleBy);
  }
}

test('a resync of unchanged objects makes zero API writes', async () => {
  const ns = 'e2e-resync';
  const operator = await startOperator(['--resync-period', '2s']);
  const { keys, offset, versionsBefore, writesAfter } = await settled(
    operator,
    ns,
    Array.from({ length: 5 }, (_, i) => `steady-${i}`),
  );
  // Three more resyncs of each access, with nothing changed in between...
  await reconciled(operator, keys, 3);
  // ...changed no object, and sent no write request at all (accesses other suites left in other
  // namespaces may legitimately renew meanwhile).
  expect(await objectVersions(admin.core, admin.custom, ns)).toEqual(versionsBefore);
  expect(writesAfter(offset)).toEqual([]);
});

/** The issuer's resourceVersion (its status included) and its Events (in "default", as it has no namespace). */
async function issuerVersions(): Promise<string[]> {
  const issuer = (await admin.custom.getClusterCustomObject({ group: GROUP, version: VERSION, plural: ISSUER_PLURAL, name: ISSUER })) as ClusterNatsIssuer;
  const events = await admin.core.listNamespacedEvent({ namespace: 'default', fieldSelector: `involvedObject.name=${ISSUER}` });
  return [`issuer/${issuer.metadata.resourceVersion}`, ...events.items.map((e) => `event/${e.metadata?.name}/${e.metadata?.resourceVersion}`)];
}

test('a restarted operator reaches steady state without re-issuing or writing anything', async () => {
  const ns = 'e2e-resync';
  const first = await startOperator(['--resync-period', '2s']);
  const { keys, versionsBefore, writesAfter } = await settled(
    first,
    ns,
    Array.from({ length: 5 }, (_, i) => `restart-${i}`),
  );
  await first.stop();
  const issuerBefore = await issuerVersions();
  const offset = state.kube ? auditOffset(state.kube.auditLogPath) : 0;
  const second = await startOperator(['--resync-period', '2s']);
  // Its first look at each access after the start, and a resync; and a look at the issuer after
  // the NATS servers were checked (before, it could only say "Verifying").
  await reconciled(second, keys, 2);
  await second.waitForLog('account checked', 60_000);
  await reconciled(second, [ISSUER], 1);
  // The same objects, the same users: nothing re-issued, nothing written in the namespace (its
  // Lease lives in the operator's own namespace), and the issuer's status and Events untouched.
  expect(await objectVersions(admin.core, admin.custom, ns)).toEqual(versionsBefore);
  expect(writesAfter(offset)).toEqual([]);
  expect(await issuerVersions()).toEqual(issuerBefore);
});
