// The foundation, end to end: a WorkspaceNatsAccess applied to a real API server becomes a Secret
// whose creds a real nats-server accepts, with the permissions the server enforces.

import type { V1Secret } from '@kubernetes/client-node';
import type { NatsConnection } from '@nats-io/transport-node';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { ACCESS_FINALIZER, ACCESS_PLURAL, GROUP, VERSION } from '../../src/api/constants.ts';
import type { ClusterNatsIssuer } from '../../src/api/cluster-nats-issuer.ts';
import type { WorkspaceNatsAccess } from '../../src/api/workspace-nats-access.ts';
import type { EnvState } from '../env/state.ts';
import {
  accessBody,
  type Clients,
  createAccess,
  createIssuer,
  eventsOf,
  getAccess,
  OPERATOR_NAMESPACE,
  operatorOutputIn,
  secretMaterialIn,
  waitFor,
  waitForReady,
} from '../env/cluster.ts';
import { connectWithCreds, publishRefusal, receivedWhile, roundTrip, subscribeRefusal } from '../env/nats-client.ts';
import type { OperatorProcess } from '../env/operator.ts';
import { startSuite } from './support/suite.ts';

const run = promisify(execFile);
const NS = 'e2e-access';
const ISSUER = 'e2e-access';

let state: EnvState;
let admin: Clients;
let operator: OperatorProcess;
const connections: NatsConnection[] = [];

beforeAll(async () => {
  ({ state, admin, operator } = await startSuite({ issuer: { name: ISSUER }, namespaces: [NS] }));
});

afterAll(async () => {
  await Promise.all(connections.map((nc) => nc.close()));
  await operator?.stop();
});

const wsPermissions = {
  publish: { allow: ['ws.{{workspace.id}}.>'] },
  subscribe: { allow: ['ws.{{workspace.id}}.>'] },
};

async function credsOf(secretName: string): Promise<string> {
  const secret = await admin.core.readNamespacedSecret({ name: secretName, namespace: NS });
  return Buffer.from(secret.data?.['nats.creds'] ?? '', 'base64').toString('utf8');
}

async function connectAs(secretName: string): Promise<NatsConnection> {
  const nc = await connectWithCreds(state.nats.urls, await credsOf(secretName));
  connections.push(nc);
  return nc;
}

async function secretsOf(accessName: string): Promise<V1Secret[]> {
  const list = await admin.core.listNamespacedSecret({
    namespace: NS,
    labelSelector: `natsaccess.io/access=${accessName}`,
  });
  return list.items;
}

describe('a WorkspaceNatsAccess', () => {
  test('becomes a Secret whose creds connect, with publish and subscribe bounded by the server', async () => {
    await createAccess(admin.custom, NS, accessBody('alpha', { issuerRef: { name: ISSUER }, permissions: wsPermissions }));
    const access = await waitForReady(admin.custom, NS, 'alpha');
    expect(access.metadata.finalizers).toContain(ACCESS_FINALIZER);
    expect(access.status).toMatchObject({
      secretName: 'alpha-nats',
      userPublicKey: expect.stringMatching(/^U[A-Z2-7]{55}$/),
      observedGeneration: access.metadata.generation,
    });
    // exp is set from the reconcile's clock, iat by the JWT library a moment later: a second apart at most.
    const lifetime = Date.parse(access.status?.expiresAt ?? '') - Date.parse(access.status?.issuedAt ?? '');
    expect(lifetime).toBeGreaterThanOrEqual(3_599_000);
    expect(lifetime).toBeLessThanOrEqual(3_600_000);
    // Its caches drop managedFields, and its writes carry none: the server keeps everyone's entries.
    const managers = (access.metadata.managedFields ?? []).map((entry) => entry.manager);
    expect(managers).toContain('workspace-nats-operator');
    expect(managers.filter((manager) => manager !== 'workspace-nats-operator')).not.toEqual([]);

    const secret = await admin.core.readNamespacedSecret({ name: 'alpha-nats', namespace: NS });
    expect(Buffer.from(secret.data?.NATS_URL ?? '', 'base64').toString()).toBe(state.nats.urls.join(','));
    expect(secret.metadata?.ownerReferences?.[0]).toMatchObject({ kind: 'WorkspaceNatsAccess', name: 'alpha', controller: true });

    const nc = await connectAs('alpha-nats');
    expect(await roundTrip(nc, nc, 'ws.alpha.events')).toBe('hello');
    expect(await roundTrip(nc, nc, 'ws.alpha.ok')).toBe('hello');
    expect(await publishRefusal(nc, 'ws.beta.events')).toBe('Permissions Violation for Publish to "ws.beta.events"');
    expect(await subscribeRefusal(nc, 'other.>')).toBe('Permissions Violation for Subscription to "other.>"');
    expect(await subscribeRefusal(nc, '>')).toBe('Permissions Violation for Subscription to ">"');
  });

  test('two accesses never share a user key, and one cannot receive the other’s messages', async () => {
    for (const name of ['red', 'blue']) {
      await createAccess(admin.custom, NS, accessBody(name, { issuerRef: { name: ISSUER }, permissions: wsPermissions }));
    }
    const [red, blue] = await Promise.all(['red', 'blue'].map((n) => waitForReady(admin.custom, NS, n)));
    expect(red?.status?.userPublicKey).not.toBe(blue?.status?.userPublicKey);
    const redNc = await connectAs('red-nats');
    const blueNc = await connectAs('blue-nats');
    expect(await subscribeRefusal(blueNc, 'ws.red.>')).toBe('Permissions Violation for Subscription to "ws.red.>"');
    expect(await subscribeRefusal(blueNc, 'ws.*.events')).toBe('Permissions Violation for Subscription to "ws.*.events"');
    // Red cannot publish into blue's subjects either: the server drops it, and blue receives nothing.
    const received = await receivedWhile(blueNc, 'ws.blue.>', 'ws.blue.marker', async () => {
      expect(await publishRefusal(redNc, 'ws.blue.events')).toBe('Permissions Violation for Publish to "ws.blue.events"');
    });
    expect(received).toEqual([]);
  });

  test('a spec change re-issues with a fresh key; an edited or deleted Secret is restored', async () => {
    await createAccess(admin.custom, NS, accessBody('gamma', { issuerRef: { name: ISSUER }, permissions: wsPermissions }));
    const first = await waitForReady(admin.custom, NS, 'gamma');
    const firstKey = first.status?.userPublicKey;

    await admin.custom.patchNamespacedCustomObject(
      {
        group: GROUP,
        version: VERSION,
        plural: ACCESS_PLURAL,
        namespace: NS,
        name: 'gamma',
        body: [{ op: 'replace', path: '/spec/permissions/publish/allow', value: ['ws.{{workspace.id}}.cmd.>'] }],
      },
    );
    const second = await waitFor(
      async () => {
        const a = await getAccess(admin.custom, NS, 'gamma');
        return a?.status?.observedGeneration === 2 && a.status.userPublicKey !== firstKey ? a : undefined;
      },
      { what: 'gamma to be re-issued', timeoutMs: 30_000 },
    );
    const nc = await connectAs('gamma-nats');
    expect(await publishRefusal(nc, 'ws.gamma.events')).toBe('Permissions Violation for Publish to "ws.gamma.events"');
    expect(await roundTrip(nc, nc, 'ws.gamma.cmd.go')).toBe('hello');

    const secret = await admin.core.readNamespacedSecret({ name: 'gamma-nats', namespace: NS });
    await admin.core.replaceNamespacedSecret({
      name: 'gamma-nats',
      namespace: NS,
      body: { ...secret, data: { ...secret.data, NATS_URL: Buffer.from('nats://evil:4222').toString('base64') } },
    });
    await waitFor(
      async () => {
        const s = await admin.core.readNamespacedSecret({ name: 'gamma-nats', namespace: NS });
        return Buffer.from(s.data?.NATS_URL ?? '', 'base64').toString() === state.nats.urls.join(',') ? s : undefined;
      },
      { what: 'the edited Secret to be restored', timeoutMs: 30_000 },
    );
    expect((await getAccess(admin.custom, NS, 'gamma'))?.status?.userPublicKey).toBe(second.status?.userPublicKey);

    await admin.core.deleteNamespacedSecret({ name: 'gamma-nats', namespace: NS });
    const restored = await waitFor(async () => (await secretsOf('gamma')).find((s) => s.metadata?.name === 'gamma-nats'), {
      what: 'the deleted Secret to be recreated',
      timeoutMs: 30_000,
    });
    expect(restored.metadata?.uid).not.toBe(secret.metadata?.uid);
    const nc2 = await connectAs('gamma-nats');
    expect(await roundTrip(nc2, nc2, 'ws.gamma.cmd.go')).toBe('hello');
  });

  test('renaming its Secret moves the credentials and deletes the old Secret', async () => {
    await createAccess(admin.custom, NS, accessBody('epsilon', { issuerRef: { name: ISSUER }, permissions: wsPermissions }));
    await waitForReady(admin.custom, NS, 'epsilon');
    await admin.custom.patchNamespacedCustomObject({
      group: GROUP,
      version: VERSION,
      plural: ACCESS_PLURAL,
      namespace: NS,
      name: 'epsilon',
      body: [{ op: 'add', path: '/spec/secret', value: { name: 'epsilon-renamed' } }],
    });
    await waitFor(
      async () => {
        const names = (await secretsOf('epsilon')).map((s) => s.metadata?.name);
        return names.length === 1 && names[0] === 'epsilon-renamed' ? true : undefined;
      },
      { what: 'only Secret epsilon-renamed to be left', timeoutMs: 30_000 },
    );
    const access = await getAccess(admin.custom, NS, 'epsilon');
    expect(access?.status?.secretName).toBe('epsilon-renamed');
    const nc = await connectAs('epsilon-renamed');
    expect(await roundTrip(nc, nc, 'ws.epsilon.moved')).toBe('hello');
  });

  test('deleting it removes its Secret and then the access itself, leaving no finalizer behind', async () => {
    await createAccess(admin.custom, NS, accessBody('delta', { issuerRef: { name: ISSUER }, permissions: wsPermissions }));
    await waitForReady(admin.custom, NS, 'delta');
    expect(await secretsOf('delta')).toHaveLength(1);
    await admin.custom.deleteNamespacedCustomObject({ group: GROUP, version: VERSION, plural: ACCESS_PLURAL, namespace: NS, name: 'delta' });
    await waitFor(async () => ((await getAccess(admin.custom, NS, 'delta')) ? undefined : true), {
      what: 'delta to be gone',
      timeoutMs: 30_000,
    });
    expect(await secretsOf('delta')).toEqual([]);
  });
});

describe('what cannot become credentials', () => {
  test('an unknown issuer: Ready=False IssuerNotFound, an Event, no Secret; then the issuer appears', async () => {
    await createAccess(admin.custom, NS, accessBody('orphan', { issuerRef: { name: 'late-issuer' } }));
    const access = await waitForReady(admin.custom, NS, 'orphan', 'False', 'IssuerNotFound');
    expect(access.status?.conditions?.[0]?.message).toBe('ClusterNatsIssuer late-issuer not found');
    const expected = 'Warning/IssuerNotFound: ClusterNatsIssuer late-issuer not found';
    await waitFor(async () => ((await eventsOf(admin.core, NS, 'orphan')).includes(expected) ? true : undefined), {
      what: 'the IssuerNotFound Event',
      timeoutMs: 10_000,
    });
    expect(await secretsOf('orphan')).toEqual([]);
    await createIssuer(admin, state, 'late-issuer');
    await waitForReady(admin.custom, NS, 'orphan', 'True');
    expect(await secretsOf('orphan')).toHaveLength(1);
  });

  test.each([
    ['a missing signing key Secret', { name: 'no-such-secret', key: 'seed' }, 'SigningKeyNotFound', 'Secret wno-system/no-such-secret not found'],
    ['a missing key in the Secret', { name: 'bad-seeds', key: 'absent' }, 'SigningKeyNotFound', 'Secret wno-system/bad-seeds key "absent" does not exist'],
    ['an operator seed where an account seed belongs', { name: 'bad-seeds', key: 'operator' }, 'SigningKeyInvalid', 'holds an operator seed (SO...); expected an account seed (SA...)'],
    ['a malformed seed', { name: 'bad-seeds', key: 'garbage' }, 'SigningKeyInvalid', 'does not hold a valid nkey seed'],
  ])('%s: Ready=False %s, an Event, no Secret, and no crash', async (_what, ref, reason, message) => {
    try {
      await admin.core.createNamespacedSecret({
        namespace: OPERATOR_NAMESPACE,
        body: {
          metadata: { name: 'bad-seeds' },
          stringData: { operator: state.trust.operator.signingKey.seed, garbage: 'SAnot-a-seed' },
        },
      });
    } catch (error) {
      if ((error as { code?: number }).code !== 409) throw error;
    }
    const issuerName = `bad-${reason.toLowerCase()}-${ref.key}`;
    await createIssuer(admin, state, issuerName, {
      account: { publicKey: state.trust.workspaceAccount.publicKey, signingKeySecretRef: ref },
    });
    const issuer = await waitFor(
      async () => {
        const i = (await admin.custom.getClusterCustomObject({ group: GROUP, version: VERSION, plural: 'clusternatsissuers', name: issuerName })) as ClusterNatsIssuer;
        return i.status?.conditions?.find((c) => c.type === 'Ready' && c.status === 'False' && c.reason === reason) ? i : undefined;
      },
      { what: `issuer ${issuerName} Ready=False ${reason}`, timeoutMs: 30_000 },
    );
    expect(issuer.status?.conditions?.[0]?.message).toContain(message);
    const name = `bad-key-${ref.key}`;
    await createAccess(admin.custom, NS, accessBody(name, { issuerRef: { name: issuerName } }));
    const access = await waitForReady(admin.custom, NS, name, 'False', reason);
    const ready = access.status?.conditions?.find((c) => c.type === 'Ready');
    expect(ready?.message).toContain(message);
    await waitFor(async () => ((await eventsOf(admin.core, NS, name)).some((e) => e.startsWith(`Warning/${reason}`)) ? true : undefined), {
      what: `a ${reason} Event`,
      timeoutMs: 10_000,
    });
    expect(await secretsOf(name)).toEqual([]);
    expect(operator.log()).not.toContain(state.trust.operator.signingKey.seed);
  });
});

test('no seed or JWT appears in the operator’s log, its Events or any status', async () => {
  // An issuance of this test's own, so that there is something to leak whatever ran before.
  await createAccess(admin.custom, NS, accessBody('scanned', { issuerRef: { name: ISSUER }, permissions: wsPermissions }));
  await waitForReady(admin.custom, NS, 'scanned');
  expect(secretMaterialIn(operator.log() + (await operatorOutputIn(admin, NS)))).toEqual([]);
  // The scan does find them where they are: a seed and a JWT in the creds.
  expect(secretMaterialIn(await credsOf('scanned-nats'))).toHaveLength(2);
});

describe('admission', () => {
  async function rejection(body: unknown): Promise<string> {
    try {
      await createAccess(admin.custom, NS, body as WorkspaceNatsAccess);
    } catch (error) {
      const { body } = error as { body?: unknown };
      return (JSON.parse(String(body)) as { message: string }).message;
    }
    throw new Error('the API server accepted the object');
  }

  test.each(['foo..bar', '>.x', 'a*', ' ', 'ws.a b', 'föö'])('rejects %p as a subject, naming the field', async (subject) => {
    const message = await rejection(
      accessBody('bad-subject', { issuerRef: { name: ISSUER }, permissions: { publish: { allow: [subject] } } }),
    );
    expect(message).toContain('spec.permissions.publish.allow[0]');
  });

  test.each([
    ['ttl', { ttl: '1 hour' }, 'spec.ttl'],
    ['renewBefore', { renewBefore: '-5m' }, 'spec.renewBefore'],
    ['ttl under 10s', { ttl: '9s' }, 'spec.ttl: Invalid value: "9s": must be at least 10s'],
    ['renewBefore leaving too little', { ttl: '1m', renewBefore: '58s' }, 'spec.renewBefore must leave at least 5s of spec.ttl'],
    ['source CIDR', { limits: { sourceCIDRs: ['10.0.0.0/33'] } }, 'spec.limits.sourceCIDRs[0]'],
    ['placeholder', { permissions: { publish: { allow: ['ws.{{workspace.name}}'] } } }, 'spec.permissions.publish.allow[0]'],
    ['an unknown field', { colour: 'red' }, 'unknown field "spec.colour"'],
    ['a workspace id with a dot', { workspace: { id: 'a.b' } }, 'spec.workspace.id'],
    ['a missing issuerRef', { issuerRef: undefined }, 'spec.issuerRef'],
  ])('rejects a bad %s', async (_what, spec, field) => {
    const message = await rejection({ ...accessBody('bad-field', { issuerRef: { name: ISSUER } }), spec: { ...accessBody('x', { issuerRef: { name: ISSUER } }).spec, ...spec } });
    expect(message).toContain(field);
  });

  test('a name longer than 63 characters is refused (it labels the Secret)', async () => {
    const message = await rejection(accessBody('x'.repeat(64), { issuerRef: { name: ISSUER } }));
    expect(message).toContain('metadata.name: at most 63 characters');
  });

  test.each([
    ['/spec/workspace/id', 'another', 'spec.workspace.id is immutable'],
    ['/spec/issuerRef/name', 'another', 'spec.issuerRef is immutable'],
  ])('%s cannot change', async (path, value, message) => {
    // Both cases change the same access: whichever runs first creates it.
    if (!(await getAccess(admin.custom, NS, 'fixed'))) {
      await createAccess(admin.custom, NS, accessBody('fixed', { issuerRef: { name: 'no-such-issuer' } }));
    }
    let refusal = '';
    try {
      await admin.custom.patchNamespacedCustomObject({
        group: GROUP,
        version: VERSION,
        plural: ACCESS_PLURAL,
        namespace: NS,
        name: 'fixed',
        body: [{ op: 'replace', path, value }],
      });
    } catch (error) {
      refusal = (JSON.parse(String((error as { body?: unknown }).body)) as { message: string }).message;
    }
    expect(refusal).toContain(message);
  });

  test('a working issuer says so in its status', async () => {
    const issuer = await waitFor(
      async () => {
        const i = (await admin.custom.getClusterCustomObject({ group: GROUP, version: VERSION, plural: 'clusternatsissuers', name: ISSUER })) as ClusterNatsIssuer;
        return i.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True') ? i : undefined;
      },
      { what: `issuer ${ISSUER} Ready=True`, timeoutMs: 30_000 },
    );
    expect(issuer.status).toMatchObject({
      signingKeyPublicKey: state.trust.workspaceAccount.signingKey.publicKey,
      conditions: [{ reason: 'AccountVerified', message: `Keys loaded; 1 NATS server holds the JWT of account ${state.trust.workspaceAccount.publicKey}, which lists signing key ${state.trust.workspaceAccount.signingKey.publicKey}` }],
    });
  });

  test('kubectl shows the columns and explains the fields', async () => {
    await createAccess(admin.custom, NS, accessBody('columns', { issuerRef: { name: ISSUER }, workspace: { id: 'ws-columns' } }));
    await waitForReady(admin.custom, NS, 'columns');
    const env = { ...process.env, KUBECONFIG: state.kubeconfig };
    const { stdout: table } = await run(state.binaries.kubectl, ['get', 'wna', '-n', NS], { env });
    expect(table.split('\n')[0]).toMatch(/^NAME\s+WORKSPACE\s+READY\s+EXPIRES\s+CONNECTIONS\s+AGE$/);
    // No client has connected: the audit has written no connection count.
    expect(table).toMatch(/\ncolumns\s+ws-columns\s+True\s+\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ\s+(?:<none>\s+)?\d+[smh]\S*\n/);
    const { stdout: explained } = await run(state.binaries.kubectl, ['explain', 'wna.spec'], { env });
    expect(explained).toContain('What the workspace asks for.');
    expect(explained).toMatch(/issuerRef\s+<Object> -required-/);
    const { stdout: issuers } = await run(state.binaries.kubectl, ['get', 'cnissuer', ISSUER], { env });
    expect(issuers).toMatch(new RegExp(`\\n${ISSUER}\\s+${state.trust.workspaceAccount.publicKey}\\s+True\\s+\\d+`));
    const { stdout: permissions } = await run(state.binaries.kubectl, ['explain', 'wna.spec.permissions.publish.allow'], { env });
    expect(permissions).toContain('Subjects allowed.');
  });
});
