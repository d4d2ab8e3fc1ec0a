// Guardrails, end to end: bad input never becomes credentials (the API server refuses it at create
// time, naming the field, or the operator reports it in Ready=False with a reason and the field,
// and writes no Secret), and credentials that are issued keep one workspace out of another's
// subjects and inbox on a real nats-server.

import { createUser } from '@nats-io/nkeys';
import type { Msg, NatsConnection } from '@nats-io/transport-node';
import { ACCESS_NAME_LABEL, ACCESS_PLURAL, GROUP, ISSUER_PLURAL, VERSION } from '../../src/api/constants.ts';
import type { WorkspaceNatsAccess } from '../../src/api/workspace-nats-access.ts';
import { pidAlive, trackedPids } from '../env/processes.ts';
import type { EnvState } from '../env/state.ts';
import {
  accessBody,
  createAccess,
  createIssuer,
  eventsOf,
  getAccess,
  OPERATOR_NAMESPACE,
  waitFor,
  waitForReady,
  type Clients,
} from '../env/cluster.ts';
import { connectWithCreds, publishRefusal, receivedWhile, requestReply, roundTrip, subscribeRefusal } from '../env/nats-client.ts';
import type { OperatorProcess } from '../env/operator.ts';
import { startSuite } from './support/suite.ts';

const NS = 'e2e-guardrails';
/** No policy: everything the schema admits is fine by it. */
const ISSUER = 'guardrails';
/** Subjects, responses, limits, connection types and ttl all bounded. */
const BOUNDED = 'guardrails-bounded';
/** A default ttl of 10s, so that a renewBefore alone can leave too little of it. */
const SHORT = 'guardrails-short';
/** Selects only namespaces labelled guardrails=selected, which NS is not. */
const SELECTIVE = 'guardrails-selective';
/** Default permissions wider than its own allowedSubjects. */
const LOOSE_DEFAULTS = 'guardrails-loose-defaults';
/** Mints under the account's scoped signing key: the account JWT's template bounds users. */
const SCOPED = 'guardrails-scoped';
/** Scoped, with a user tag that needs an owner. */
const SCOPED_OWNER_TAG = 'guardrails-scoped-owner-tag';
/** For the isolation tests: subjects bounded per workspace, responses allowed. */
const ISOLATION = 'guardrails-isolation';
/** Holds, under several keys, everything that is not a signing key of the account. */
const BAD_SEEDS = 'guardrails-bad-seeds';
const SCOPED_KEY = 'guardrails-scoped-signing-key';
const BAD_KEY_ISSUERS: Record<string, { name: string; key?: string }> = {
  'guardrails-key-no-secret': { name: 'guardrails-no-such-secret' },
  'guardrails-key-no-key': { name: BAD_SEEDS, key: 'absent' },
  'guardrails-key-operator': { name: BAD_SEEDS, key: 'operator' },
  'guardrails-key-user': { name: BAD_SEEDS, key: 'user' },
  'guardrails-key-garbage': { name: BAD_SEEDS, key: 'garbage' },
  'guardrails-key-empty': { name: BAD_SEEDS, key: 'empty' },
};
const MY_ISSUERS = [
  ISSUER, BOUNDED, SHORT, SELECTIVE, LOOSE_DEFAULTS, SCOPED, SCOPED_OWNER_TAG, ISOLATION,
  ...Object.keys(BAD_KEY_ISSUERS),
];

let state: EnvState;
let admin: Clients;
let operator: OperatorProcess;
let operatorPid: number | undefined;
const connections: NatsConnection[] = [];

type Spec = WorkspaceNatsAccess['spec'];
const wsPermissions = {
  publish: { allow: ['ws.{{workspace.id}}.>'] },
  subscribe: { allow: ['ws.{{workspace.id}}.>', '_INBOX_{{workspace.id}}.>'] },
};

/** The issuers, signing key Secrets and taken Secret names the cases need, before the operator starts. */
async function prepare(clients: Clients, env: EnvState): Promise<void> {
  await createIssuer(clients, env, BOUNDED, {
    policy: {
      maxTTL: '2h',
      allowedSubjects: {
        publish: ['ws.{{workspace.id}}.>'],
        subscribe: ['ws.{{workspace.id}}.>', '_INBOX_{{workspace.id}}.>'],
      },
      allowResponses: false,
      maxLimits: { subscriptions: 100, payload: 1048576, data: 10485760 },
      connectionTypes: ['STANDARD'],
    },
  });
  await createIssuer(clients, env, SHORT, { policy: { defaultTTL: '10s' } });
  await createIssuer(clients, env, SELECTIVE, { policy: { namespaceSelector: { matchLabels: { guardrails: 'selected' } } } });
  await createIssuer(clients, env, LOOSE_DEFAULTS, {
    policy: { defaultPermissions: { publish: { allow: ['ws.>'] } }, allowedSubjects: { publish: ['ws.{{workspace.id}}.>'] } },
  });
  await createIssuer(clients, env, ISOLATION, {
    policy: {
      allowedSubjects: {
        // ws.*.rpc: a workspace may be granted sending requests to another's rpc subject (only that).
        publish: ['ws.{{workspace.id}}.>', 'ws.*.rpc'],
        subscribe: ['ws.{{workspace.id}}.>', '_INBOX_{{workspace.id}}.>'],
      },
      allowResponses: true,
    },
  });
  const seed = (kp: { getSeed(): Uint8Array }) => new TextDecoder().decode(kp.getSeed());
  await clients.core.createNamespacedSecret({
    namespace: OPERATOR_NAMESPACE,
    body: {
      metadata: { name: BAD_SEEDS },
      stringData: {
        operator: env.trust.operator.signingKey.seed,
        user: seed(createUser()),
        garbage: 'SAnot-a-seed',
        empty: '',
      },
    },
  });
  await clients.core.createNamespacedSecret({
    namespace: OPERATOR_NAMESPACE,
    body: { metadata: { name: SCOPED_KEY }, stringData: { seed: env.trust.workspaceAccount.scopedSigningKey.seed } },
  });
  const account = (name: string, userTags?: string[]) => ({
    publicKey: env.trust.workspaceAccount.publicKey,
    signingKeySecretRef: { name },
    ...(userTags ? { scoped: { userTags } } : {}),
  });
  for (const [name, ref] of Object.entries(BAD_KEY_ISSUERS)) {
    await createIssuer(clients, env, name, { account: { publicKey: env.trust.workspaceAccount.publicKey, signingKeySecretRef: ref } });
  }
  await createIssuer(clients, env, SCOPED, { account: account(SCOPED_KEY, ['ws:{{workspace.id}}']) });
  await createIssuer(clients, env, SCOPED_OWNER_TAG, { account: account(SCOPED_KEY, ['ws:{{workspace.id}}', 'owner:{{workspace.owner}}']) });
  // Someone else's Secrets, under the names two accesses would write to.
  for (const name of ['conflict-default-nats', 'someone-elses-secret']) {
    await clients.core.createNamespacedSecret({ namespace: NS, body: { metadata: { name }, stringData: { theirs: 'keep' } } });
  }
}

beforeAll(async () => {
  const before = new Set(trackedPids());
  ({ state, admin, operator } = await startSuite({ issuer: { name: ISSUER }, namespaces: [NS], prepare }));
  operatorPid = trackedPids().find((pid) => !before.has(pid));
});

afterAll(async () => {
  await Promise.all(connections.map((nc) => nc.close()));
  if (!admin) return;
  const accesses = { group: GROUP, version: VERSION, plural: ACCESS_PLURAL, namespace: NS };
  try {
    // While the operator runs, so that it removes its finalizers: nothing of this file is left for
    // the next suite's operator to reconcile.
    await admin.custom.deleteCollectionNamespacedCustomObject(accesses);
    await waitFor(
      async () => (((await admin.custom.listNamespacedCustomObject(accesses)) as { items: unknown[] }).items.length === 0 ? true : undefined),
      { what: `the accesses in ${NS} to be deleted`, timeoutMs: 30_000 },
    );
  } finally {
    await operator?.stop();
  }
  for (const name of MY_ISSUERS) {
    await admin.custom.deleteClusterCustomObject({ group: GROUP, version: VERSION, plural: ISSUER_PLURAL, name }).catch(() => undefined);
  }
  for (const name of [BAD_SEEDS, SCOPED_KEY]) {
    await admin.core.deleteNamespacedSecret({ name, namespace: OPERATOR_NAMESPACE }).catch(() => undefined);
  }
  await admin.core.deleteNamespace({ name: NS }).catch(() => undefined);
});

async function secretsOf(name: string): Promise<string[]> {
  const { items } = await admin.core.listNamespacedSecret({ namespace: NS, labelSelector: `${ACCESS_NAME_LABEL}=${name}` });
  return items.map((s) => s.metadata?.name ?? '');
}

/** The API server's message refusing `body`; fails the test (and removes the object) if it was accepted. */
async function rejection(body: unknown): Promise<string> {
  const access = body as WorkspaceNatsAccess;
  try {
    await createAccess(admin.custom, NS, access);
  } catch (error) {
    const { body: response } = error as { body?: unknown };
    if (response === undefined) throw error;
    return (JSON.parse(String(response)) as { message: string }).message;
  }
  await admin.custom.deleteNamespacedCustomObject({ group: GROUP, version: VERSION, plural: ACCESS_PLURAL, namespace: NS, name: access.metadata.name });
  throw new Error(`the API server accepted ${JSON.stringify(access.spec)}`);
}

/** An access named `name` for ISSUER, with `spec` laid over it (fields set to undefined are dropped). */
function badAccess(name: string, spec: Record<string, unknown>): unknown {
  const body = accessBody(name, { issuerRef: { name: ISSUER } });
  return { ...body, spec: JSON.parse(JSON.stringify({ ...body.spec, ...spec })) as unknown };
}

describe('bad input never becomes credentials', () => {
  describe('refused by the API server at create time, naming the field', () => {
    const PATTERN = String.raw`should match '^(?:(?:(?:[\x21-\x29`;
    // [what, subject, the subject as the API server quotes it]
    test.each([
      ['an empty token', 'ws..events', '"ws..events"'],
      ['a leading dot', '.ws.events', '".ws.events"'],
      ['a trailing dot', 'ws.events.', '"ws.events."'],
      ['> before the last token', 'ws.>.events', '"ws.>.events"'],
      ['a partial wildcard a*', 'ws.a*', '"ws.a*"'],
      ['a partial wildcard *a', 'ws.*a', '"ws.*a"'],
      ['a partial wildcard a>', 'ws.a>', '"ws.a>"'],
      ['a space', 'ws.a b', '"ws.a b"'],
      ['a tab', 'ws.a\tb', '"ws.a\\tb"'],
      ['a newline', 'ws.a\nb', '"ws.a\\nb"'],
      ['a non-ASCII letter', 'ws.ü', '"ws.ü"'],
      ['a non-breaking space', 'ws.a\u00a0b', '"ws.a\\u00a0b"'],
      ['a lone {', 'ws.{a', '"ws.{a"'],
      ['a lone }', 'ws.a}', '"ws.a}"'],
      ['single braces around a placeholder', 'ws.{workspace.id}', '"ws.{workspace.id}"'],
      ['an unclosed placeholder', 'ws.{{workspace.id}', '"ws.{{workspace.id}"'],
      ['an unknown placeholder', 'ws.{{workspace.name}}', '"ws.{{workspace.name}}"'],
      ['a placeholder with spaces', 'ws.{{ workspace.id }}', '"ws.{{ workspace.id }}"'],
    ])('a subject with %s is refused, naming spec.permissions.publish.allow[0]', async (_what, subject, quoted) => {
      const message = await rejection(badAccess('bad-subject', { permissions: { publish: { allow: [subject] } } }));
      expect(message).toContain(`spec.permissions.publish.allow[0]: Invalid value: ${quoted}: spec.permissions.publish.allow[0] in body ${PATTERN}`);
    });

    test.each([
      ['an empty subject', { permissions: { publish: { allow: [''] } } },
        'spec.permissions.publish.allow[0]: Invalid value: "": spec.permissions.publish.allow[0] in body should be at least 1 chars long'],
      ['a bad subject after a good one', { permissions: { subscribe: { allow: ['ws.{{workspace.id}}.>', 'ws..x'] } } },
        `spec.permissions.subscribe.allow[1]: Invalid value: "ws..x": spec.permissions.subscribe.allow[1] in body ${PATTERN}`],
      ['a bad subject in a deny list', { permissions: { subscribe: { deny: ['ws.>.x'] } } },
        `spec.permissions.subscribe.deny[0]: Invalid value: "ws.>.x": spec.permissions.subscribe.deny[0] in body ${PATTERN}`],
      ['a subject of 257 characters', { permissions: { publish: { allow: [`ws.${'x'.repeat(254)}`] } } },
        'spec.permissions.publish.allow[0]: Too long: may not be more than 256 bytes'],
      ['65 subjects', { permissions: { subscribe: { allow: Array.from({ length: 65 }, (_, i) => `ws.s${i}`) } } },
        'spec.permissions.subscribe.allow: Too many: 65: must have at most 64 items'],
      ['a ttl of "1 hour"', { ttl: '1 hour' },
        String.raw`spec.ttl: Invalid value: "1 hour": spec.ttl in body should match '^(?:[0-9]+(?:ms|s|m|h))+$'`],
      ['a ttl in days', { ttl: '1d' },
        String.raw`spec.ttl: Invalid value: "1d": spec.ttl in body should match '^(?:[0-9]+(?:ms|s|m|h))+$'`],
      ['a fractional ttl', { ttl: '1.5h' },
        String.raw`spec.ttl: Invalid value: "1.5h": spec.ttl in body should match '^(?:[0-9]+(?:ms|s|m|h))+$'`],
      ['an empty ttl', { ttl: '' },
        String.raw`spec.ttl: Invalid value: "": spec.ttl in body should match '^(?:[0-9]+(?:ms|s|m|h))+$'`],
      ['a negative renewBefore', { renewBefore: '-5m' },
        String.raw`spec.renewBefore: Invalid value: "-5m": spec.renewBefore in body should match '^(?:[0-9]+(?:ms|s|m|h))+$'`],
      ['a ttl under 10s', { ttl: '9s' }, 'spec.ttl: Invalid value: "9s": must be at least 10s'],
      ['a ttl a millisecond under 10s', { ttl: '9999ms' }, 'spec.ttl: Invalid value: "9999ms": must be at least 10s'],
      ['a renewBefore under 5s', { renewBefore: '4s' }, 'spec.renewBefore: Invalid value: "4s": must be at least 5s'],
      ['a renewBefore leaving under 5s of the ttl', { ttl: '1m', renewBefore: '56s' },
        'spec.renewBefore: Invalid value: spec.renewBefore must leave at least 5s of spec.ttl before renewal'],
      ['a renewBefore as long as the ttl', { ttl: '1h', renewBefore: '1h' },
        'spec.renewBefore: Invalid value: spec.renewBefore must leave at least 5s of spec.ttl before renewal'],
      ['a malformed response ttl', { permissions: { allowResponses: { ttl: '5 s' } } },
        String.raw`spec.permissions.allowResponses.ttl: Invalid value: "5 s": spec.permissions.allowResponses.ttl in body should match '^(?:[0-9]+(?:ms|s|m|h))+$'`],
      ['zero replies per request', { permissions: { allowResponses: { maxMessages: 0 } } },
        'spec.permissions.allowResponses.maxMessages: Invalid value: 0: spec.permissions.allowResponses.maxMessages in body should be greater than or equal to 1'],
      ['subscriptions: -1', { limits: { subscriptions: -1 } },
        'spec.limits.subscriptions: Invalid value: -1: spec.limits.subscriptions in body should be greater than or equal to 0'],
      ['a payload over 64 MiB', { limits: { payload: 64 * 1024 * 1024 + 1 } },
        'spec.limits.payload: Invalid value: 67108865: spec.limits.payload in body should be less than or equal to 67108864'],
      ['data over 1 TiB', { limits: { data: 1024 ** 4 + 1 } },
        'spec.limits.data: Invalid value: 1099511627777: spec.limits.data in body should be less than or equal to 1099511627776'],
      ['an unknown connection type', { limits: { connectionTypes: ['STANDARD', 'CARRIER_PIGEON'] } },
        'spec.limits.connectionTypes[1]: Unsupported value: "CARRIER_PIGEON": supported values: "STANDARD", "WEBSOCKET"'],
      ['a CIDR with a /33 mask', { limits: { sourceCIDRs: ['10.0.0.0/33'] } },
        'spec.limits.sourceCIDRs[0]: Invalid value: "10.0.0.0/33": must be an IPv4 or IPv6 CIDR such as 10.0.0.0/8'],
      ['a host name as a CIDR', { limits: { sourceCIDRs: ['10.0.0.0/8', 'localhost'] } },
        'spec.limits.sourceCIDRs[1]: Invalid value: "localhost": must be an IPv4 or IPv6 CIDR such as 10.0.0.0/8'],
      ['a workspace id with a dot', { workspace: { id: 'ws.1' } },
        `spec.workspace.id: Invalid value: "ws.1": spec.workspace.id in body should match '^[A-Za-z0-9_-]+$'`],
      ['a workspace id with a slash', { workspace: { id: 'ws/1' } },
        `spec.workspace.id: Invalid value: "ws/1": spec.workspace.id in body should match '^[A-Za-z0-9_-]+$'`],
      ['a workspace id with a wildcard', { workspace: { id: '*' } },
        `spec.workspace.id: Invalid value: "*": spec.workspace.id in body should match '^[A-Za-z0-9_-]+$'`],
      ['a workspace id of 129 characters', { workspace: { id: 'w'.repeat(129) } },
        'spec.workspace.id: Too long: may not be more than 128 bytes'],
      ['an owner with a space', { workspace: { id: 'ws-1', owner: 'alice smith' } },
        `spec.workspace.owner: Invalid value: "alice smith": spec.workspace.owner in body should match '^[A-Za-z0-9_-]+$'`],
      ['an unknown field', { colour: 'red' }, 'strict decoding error: unknown field "spec.colour"'],
      ['no workspace', { workspace: undefined }, 'spec.workspace: Required value'],
      ['no issuerRef', { issuerRef: undefined }, 'spec.issuerRef: Required value'],
      ['an issuer name that is no object name', { issuerRef: { name: 'Not_A_Name' } },
        'spec.issuerRef.name: Invalid value: "Not_A_Name": spec.issuerRef.name in body should match'],
      ['a Secret name that is no object name', { secret: { name: 'Not_A_Name' } },
        'spec.secret.name: Invalid value: "Not_A_Name": spec.secret.name in body should match'],
    ])('%s is refused, naming the field', async (_what, spec, expected) => {
      expect(await rejection(badAccess('bad-field', spec))).toContain(expected);
    });

    test('a name longer than 63 characters is refused, since it labels the Secret', async () => {
      expect(await rejection(accessBody('n'.repeat(64), { issuerRef: { name: ISSUER } }))).toContain(
        'Invalid value: metadata.name: at most 63 characters, since it labels the Secret',
      );
    });

    test.each([
      ['a default ttl under 10s', { policy: { defaultTTL: '5s' } }, 'spec.policy.defaultTTL: Invalid value: "5s": must be at least 10s'],
      ['a maxTTL in days', { policy: { maxTTL: '2d' } },
        String.raw`spec.policy.maxTTL: Invalid value: "2d": spec.policy.maxTTL in body should match '^(?:[0-9]+(?:ms|s|m|h))+$'`],
      ['a malformed allowed subject', { policy: { allowedSubjects: { subscribe: ['ws.{{workspace.id}}.>', 'ws.a*'] } } },
        `spec.policy.allowedSubjects.subscribe[1]: Invalid value: "ws.a*": spec.policy.allowedSubjects.subscribe[1] in body ${PATTERN}`],
      ['a user key where the account key belongs', { account: { publicKey: createUser().getPublicKey(), signingKeySecretRef: { name: 'x' } } },
        "spec.account.publicKey in body should match '^A[A-Z2-7]{55}$'"],
      ['two URLs in one entry', { nats: { urls: ['nats://a:4222,nats://b:4222'] } },
        'spec.nats.urls[0]: Invalid value: "nats://a:4222,nats://b:4222": spec.nats.urls[0] in body should match'],
      ['a user tag with a space', { account: { publicKey: 'A'.repeat(56), signingKeySecretRef: { name: 'x' }, scoped: { userTags: ['ws: {{workspace.id}}'] } } },
        'spec.account.scoped.userTags[0]: Invalid value: "ws: {{workspace.id}}": spec.account.scoped.userTags[0] in body should match'],
      ['a user tag with an unknown placeholder', { account: { publicKey: 'A'.repeat(56), signingKeySecretRef: { name: 'x' }, scoped: { userTags: ['ws:{{workspace.name}}'] } } },
        'spec.account.scoped.userTags[0]: Invalid value: "ws:{{workspace.name}}": spec.account.scoped.userTags[0] in body should match'],
      ['a default ttl beyond the maxTTL', { policy: { defaultTTL: '48h' } },
        'spec.policy.defaultTTL: Invalid value: policy.defaultTTL may not exceed policy.maxTTL (default 24h)'],
      ['no user tags for a scoped key', { account: { publicKey: 'A'.repeat(56), signingKeySecretRef: { name: 'x' }, scoped: { userTags: [] } } },
        'spec.account.scoped.userTags: Invalid value: 0: spec.account.scoped.userTags in body should have at least 1 items'],
      ['a negative subscription cap', { policy: { maxLimits: { subscriptions: -1 } } },
        'spec.policy.maxLimits.subscriptions: Invalid value: -1: spec.policy.maxLimits.subscriptions in body should be greater than or equal to 0'],
    ])('an issuer with %s is refused, naming the field', async (_what, spec, expected) => {
      let message = '';
      try {
        await createIssuer(admin, state, 'guardrails-refused', spec as Parameters<typeof createIssuer>[3]);
        await admin.custom.deleteClusterCustomObject({ group: GROUP, version: VERSION, plural: ISSUER_PLURAL, name: 'guardrails-refused' });
      } catch (error) {
        message = (JSON.parse(String((error as { body?: unknown }).body)) as { message: string }).message;
      }
      expect(message).toContain(expected);
    });
  });

  describe('accepted, then reported by the operator in Ready=False, with no Secret', () => {
    interface ReportedCase {
      what: string;
      name: string;
      issuer: string;
      spec?: Partial<Spec>;
      reason: string;
      /** The Ready message, exactly. */
      message: string;
    }
    const owner128 = 'w'.repeat(128);
    const cases: ReportedCase[] = [
      { what: 'an unknown issuer', name: 'no-issuer', issuer: 'guardrails-nowhere', reason: 'IssuerNotFound',
        message: 'ClusterNatsIssuer guardrails-nowhere not found' },
      { what: 'a missing signing key Secret', name: 'key-no-secret', issuer: 'guardrails-key-no-secret', reason: 'SigningKeyNotFound',
        message: 'Secret wno-system/guardrails-no-such-secret not found' },
      { what: 'a missing key in the signing key Secret', name: 'key-no-key', issuer: 'guardrails-key-no-key', reason: 'SigningKeyNotFound',
        message: `Secret wno-system/${BAD_SEEDS} key "absent" does not exist` },
      { what: 'an operator seed as the signing key', name: 'key-operator', issuer: 'guardrails-key-operator', reason: 'SigningKeyInvalid',
        message: `Secret wno-system/${BAD_SEEDS} key "operator" holds an operator seed (SO...); expected an account seed (SA...)` },
      { what: 'a user seed as the signing key', name: 'key-user', issuer: 'guardrails-key-user', reason: 'SigningKeyInvalid',
        message: `Secret wno-system/${BAD_SEEDS} key "user" holds a user seed (SU...); expected an account seed (SA...)` },
      { what: 'garbage as the signing key', name: 'key-garbage', issuer: 'guardrails-key-garbage', reason: 'SigningKeyInvalid',
        message: `Secret wno-system/${BAD_SEEDS} key "garbage" does not hold a valid nkey seed; expected an account seed (SA...)` },
      { what: 'an empty signing key', name: 'key-empty', issuer: 'guardrails-key-empty', reason: 'SigningKeyInvalid',
        message: `Secret wno-system/${BAD_SEEDS} key "empty" is empty; expected an account seed (SA...)` },
      // The account JWT decides which keys may sign for it; a key it does not list mints users
      // nats-server refuses, so a Ready=True here would vouch for creds that cannot work.
      { what: '{{workspace.owner}} for a workspace without owner', name: 'no-owner', issuer: ISSUER, reason: 'InvalidSpec',
        spec: { permissions: { publish: { allow: ['ws.{{workspace.owner}}.>'] } } },
        message: 'spec.permissions.publish.allow[0]: {{workspace.owner}} in "ws.{{workspace.owner}}.>" has no value for this workspace' },
      { what: 'a template expanding past 256 characters', name: 'too-long-expanded', issuer: ISSUER, reason: 'InvalidSpec',
        spec: { workspace: { id: owner128 }, permissions: { subscribe: { allow: ['ws.{{workspace.id}}.{{workspace.id}}.>'] } } },
        message: 'spec.permissions.subscribe.allow[0]: "ws.{{workspace.id}}.{{workspace.id}}.>" expands to 262 characters, more than 256' },
      { what: 'a renewBefore as long as the default ttl', name: 'renew-whole-default', issuer: ISSUER, reason: 'InvalidSpec',
        spec: { renewBefore: '1h' }, message: 'spec.renewBefore: 1h leaves less than 5s of the ttl 1h before renewal' },
      { what: 'a renewBefore leaving under 5s of the issuer’s default ttl', name: 'renew-short-default', issuer: SHORT, reason: 'InvalidSpec',
        spec: { renewBefore: '6s' }, message: 'spec.renewBefore: 6s leaves less than 5s of the ttl 10s before renewal' },
      { what: 'extra Secret labels the API server refuses', name: 'bad-secret-label', issuer: ISSUER, reason: 'InvalidSpec',
        spec: { secret: { labels: { 'not a label!': 'x' } } },
        message:
          'Secret bad-secret-label-nats: HTTP 422: Secret "bad-secret-label-nats" is invalid: metadata.labels: Invalid value: "not a label!": ' +
          "name part must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character " +
          "(e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for validation is '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]')" },
      { what: 'a ttl beyond the issuer’s maxTTL', name: 'ttl-over-max', issuer: BOUNDED, reason: 'PolicyViolation',
        spec: { ttl: '3h', permissions: wsPermissions }, message: `spec.ttl: 3h exceeds the maximum 2h of issuer ${BOUNDED}` },
      { what: 'another workspace’s subjects', name: 'other-subjects', issuer: BOUNDED, reason: 'PolicyViolation',
        spec: { permissions: { publish: { allow: ['ws.{{workspace.id}}.>', 'ws.victim.>'] }, subscribe: wsPermissions.subscribe } },
        message: `spec.permissions.publish.allow[1]: "ws.victim.>" is outside what issuer ${BOUNDED} allows (ws.other-subjects.>)` },
      { what: 'every workspace’s subjects through a wildcard', name: 'wildcard-subjects', issuer: BOUNDED, reason: 'PolicyViolation',
        spec: { permissions: { subscribe: { allow: ['ws.*.>'] } } },
        message: `spec.permissions.subscribe.allow[0]: "ws.*.>" is outside what issuer ${BOUNDED} allows (ws.wildcard-subjects.>, _INBOX_wildcard-subjects.>)` },
      { what: 'a subscription to everything (>)', name: 'everything', issuer: BOUNDED, reason: 'PolicyViolation',
        spec: { permissions: { subscribe: { allow: ['>'] } } },
        message: `spec.permissions.subscribe.allow[0]: ">" is outside what issuer ${BOUNDED} allows (ws.everything.>, _INBOX_everything.>)` },
      { what: '$SYS.> from a bounded issuer', name: 'system-subjects', issuer: BOUNDED, reason: 'PolicyViolation',
        spec: { permissions: { subscribe: { allow: ['ws.{{workspace.id}}.>', '$SYS.>'] } } },
        message: `spec.permissions.subscribe.allow[1]: "$SYS.>" is outside what issuer ${BOUNDED} allows (ws.system-subjects.>, _INBOX_system-subjects.>)` },
      { what: 'another workspace’s inbox', name: 'other-inbox', issuer: BOUNDED, reason: 'PolicyViolation',
        spec: { permissions: { subscribe: { allow: ['_INBOX_victim.>'] } } },
        message: `spec.permissions.subscribe.allow[0]: "_INBOX_victim.>" is outside what issuer ${BOUNDED} allows (ws.other-inbox.>, _INBOX_other-inbox.>)` },
      { what: 'the shared inbox _INBOX.>', name: 'shared-inbox', issuer: BOUNDED, reason: 'PolicyViolation',
        spec: { permissions: { subscribe: { allow: ['_INBOX.>'] } } },
        message: `spec.permissions.subscribe.allow[0]: "_INBOX.>" is outside what issuer ${BOUNDED} allows (ws.shared-inbox.>, _INBOX_shared-inbox.>)` },
      { what: 'issuer default permissions wider than its allowedSubjects', name: 'loose-defaults', issuer: LOOSE_DEFAULTS, reason: 'PolicyViolation',
        message: `issuer ${LOOSE_DEFAULTS} policy.defaultPermissions.publish.allow[0]: "ws.>" is outside what issuer ${LOOSE_DEFAULTS} allows (ws.loose-defaults.>)` },
      { what: 'allowResponses from an issuer that does not allow responses', name: 'responses', issuer: BOUNDED, reason: 'PolicyViolation',
        spec: { permissions: { ...wsPermissions, allowResponses: {} } },
        message: `spec.permissions.allowResponses: issuer ${BOUNDED} does not allow responses` },
      { what: 'subscriptions above the issuer’s cap', name: 'many-subscriptions', issuer: BOUNDED, reason: 'PolicyViolation',
        spec: { permissions: wsPermissions, limits: { subscriptions: 101 } },
        message: `spec.limits.subscriptions: 101 exceeds the maximum 100 of issuer ${BOUNDED}` },
      { what: 'a payload above the issuer’s cap', name: 'big-payload', issuer: BOUNDED, reason: 'PolicyViolation',
        spec: { permissions: wsPermissions, limits: { payload: 1048577 } },
        message: `spec.limits.payload: 1048577 exceeds the maximum 1048576 of issuer ${BOUNDED}` },
      { what: 'data above the issuer’s cap', name: 'much-data', issuer: BOUNDED, reason: 'PolicyViolation',
        spec: { permissions: wsPermissions, limits: { data: 10485761 } },
        message: `spec.limits.data: 10485761 exceeds the maximum 10485760 of issuer ${BOUNDED}` },
      { what: 'a connection type the issuer does not allow', name: 'websocket', issuer: BOUNDED, reason: 'PolicyViolation',
        spec: { permissions: wsPermissions, limits: { connectionTypes: ['STANDARD', 'WEBSOCKET'] } },
        message: `spec.limits.connectionTypes: WEBSOCKET is not among the types issuer ${BOUNDED} allows (STANDARD)` },
      { what: 'a namespace the issuer does not select', name: 'unselected', issuer: SELECTIVE, reason: 'PolicyViolation',
        message: `namespace ${NS} may not use issuer ${SELECTIVE}: its policy.namespaceSelector does not select it` },
      { what: 'permissions of its own from a scoped issuer', name: 'scoped-permissions', issuer: SCOPED, reason: 'PolicyViolation',
        spec: { permissions: wsPermissions },
        message: `spec.permissions: issuer ${SCOPED} mints under a scoped signing key, whose template in the account JWT sets them; leave spec.permissions out` },
      { what: 'limits of its own from a scoped issuer', name: 'scoped-limits', issuer: SCOPED, reason: 'PolicyViolation',
        spec: { limits: { subscriptions: 10 } },
        message: `spec.limits: issuer ${SCOPED} mints under a scoped signing key, whose template in the account JWT sets them; leave spec.limits out` },
      { what: 'a scoped user tag needing an owner the workspace lacks', name: 'scoped-no-owner', issuer: SCOPED_OWNER_TAG, reason: 'InvalidSpec',
        message: `issuer ${SCOPED_OWNER_TAG} spec.account.scoped.userTags[1]: {{workspace.owner}} in "owner:{{workspace.owner}}" has no value for this workspace` },
    ];

    test.each(cases)('$what: Ready=False $reason, naming it, and no Secret', async ({ name, issuer, spec, reason, message }) => {
      await createAccess(admin.custom, NS, accessBody(name, { issuerRef: { name: issuer }, ...spec }));
      await expectReported(name, issuer, reason, message);
    });

    // The Secrets were created before the operator started (prepare).
    test.each([
      ['a default Secret name', 'conflict-default', {}, 'conflict-default-nats'],
      ['a chosen Secret name', 'conflict-chosen', { secret: { name: 'someone-elses-secret' } }, 'someone-elses-secret'],
    ])('%s taken by someone else: Ready=False SecretConflict, and their Secret is left as it was', async (_what, name, spec, taken) => {
      await createAccess(admin.custom, NS, accessBody(name, { issuerRef: { name: ISSUER }, ...spec }));
      await expectReported(name, ISSUER, 'SecretConflict', `Secret ${taken} already exists and is not owned by this WorkspaceNatsAccess`);
      const secret = await admin.core.readNamespacedSecret({ name: taken, namespace: NS });
      expect(secret.data).toEqual({ theirs: Buffer.from('keep').toString('base64') });
      expect(secret.metadata?.ownerReferences).toBeUndefined();
    });
  });
});

/**
 * The operator's verdict on access `name` of `issuer`: Ready=False with `reason` and exactly
 * `message`, a Warning Event saying so, no Secret labelled as the access's own, no reconcile of
 * either logged as failed at error level, and the operator still running.
 */
async function expectReported(name: string, issuer: string, reason: string, message: string): Promise<void> {
  const ready = await waitFor(
    async () => (await getAccess(admin.custom, NS, name))?.status?.conditions?.find((c) => c.type === 'Ready'),
    { what: `${name} to have a Ready condition`, timeoutMs: 30_000 },
  );
  expect({ status: ready.status, reason: ready.reason, message: ready.message }).toEqual({ status: 'False', reason, message });
  await waitFor(async () => ((await eventsOf(admin.core, NS, name)).some((e) => e.startsWith(`Warning/${reason}: `)) ? true : undefined), {
    what: `a ${reason} Event for ${name}`,
    timeoutMs: 10_000,
  });
  expect(await secretsOf(name)).toEqual([]);
  const failed = operator
    .log()
    .split('\n')
    .filter((line) => line.startsWith('{'))
    .map((line) => JSON.parse(line) as { level: number; msg: string; key?: string })
    .filter((l) => l.level >= 50 && l.msg === 'reconcile failed, retrying' && (l.key === `${NS}/${name}` || l.key === issuer));
  expect(failed).toEqual([]);
  expect(operatorPid).toBeDefined();
  expect(pidAlive(operatorPid as number)).toBe(true);
}

describe('isolation on a real nats-server', () => {
  let a: NatsConnection;
  let b: NatsConnection;

  /** Connects as workspace `id` with its creds, with `_INBOX_<id>` as the inbox prefix. */
  async function connectWorkspace(id: string): Promise<NatsConnection> {
    const secret = await admin.core.readNamespacedSecret({ name: `${id}-nats`, namespace: NS });
    const creds = Buffer.from(secret.data?.['nats.creds'] ?? '', 'base64').toString('utf8');
    const nc = await connectWithCreds(state.nats.urls, creds, { inboxPrefix: `_INBOX_${id}` });
    connections.push(nc);
    return nc;
  }

  beforeAll(async () => {
    await createAccess(
      admin.custom,
      NS,
      accessBody('iso-a', { issuerRef: { name: ISOLATION }, permissions: { ...wsPermissions, allowResponses: {} } }),
    );
    // B may send requests to A's rpc subject, and to nothing else of A's.
    await createAccess(
      admin.custom,
      NS,
      accessBody('iso-b', {
        issuerRef: { name: ISOLATION },
        permissions: { ...wsPermissions, publish: { allow: ['ws.{{workspace.id}}.>', 'ws.iso-a.rpc'] } },
      }),
    );
    await waitForReady(admin.custom, NS, 'iso-a');
    await waitForReady(admin.custom, NS, 'iso-b');
    a = await connectWorkspace('iso-a');
    b = await connectWorkspace('iso-b');
  });

  test('each workspace uses its own subjects and inbox (the control for what follows)', async () => {
    expect(await roundTrip(a, a, 'ws.iso-a.events')).toBe('hello');
    expect(await roundTrip(b, b, 'ws.iso-b.events')).toBe('hello');
    // Replies arrive in each inbox: A answers itself (allowResponses), and A answers B.
    expect(await requestReply(a, a, 'ws.iso-a.self')).toBe('pong');
    expect(await requestReply(b, a, 'ws.iso-a.rpc')).toBe('pong');
  });

  test('A can neither subscribe to nor publish on B’s subjects, and B receives nothing from A', async () => {
    expect(await subscribeRefusal(a, 'ws.iso-b.events')).toBe('Permissions Violation for Subscription to "ws.iso-b.events"');
    expect(await subscribeRefusal(a, 'ws.iso-b.>')).toBe('Permissions Violation for Subscription to "ws.iso-b.>"');
    const received = await receivedWhile(b, 'ws.iso-b.>', 'ws.iso-b.marker', async () => {
      expect(await publishRefusal(a, 'ws.iso-b.events')).toBe('Permissions Violation for Publish to "ws.iso-b.events"');
      expect(await publishRefusal(a, 'ws.iso-b.rpc')).toBe('Permissions Violation for Publish to "ws.iso-b.rpc"');
    });
    expect(received).toEqual([]);
  });

  test.each(['>', '*', 'ws.*.>', 'ws.>', 'ws.*.events', '_INBOX.>', '_INBOX_iso-b.>', '_INBOX_*.>'])(
    'A cannot snoop with a subscription to %p: the server refuses it',
    async (subject) => {
      expect(await subscribeRefusal(a, subject)).toBe(`Permissions Violation for Subscription to "${subject}"`);
    },
  );

  test('A can neither subscribe to nor publish on $SYS', async () => {
    expect(await subscribeRefusal(a, '$SYS.>')).toBe('Permissions Violation for Subscription to "$SYS.>"');
    expect(await subscribeRefusal(a, '$SYS.REQ.SERVER.PING')).toBe('Permissions Violation for Subscription to "$SYS.REQ.SERVER.PING"');
    expect(await publishRefusal(a, '$SYS.REQ.SERVER.PING')).toBe('Permissions Violation for Publish to "$SYS.REQ.SERVER.PING"');
    expect(await publishRefusal(a, '$SYS.>')).toBe('Permissions Violation for Publish to "$SYS.>"');
  });

  test('A answers B’s request once, through allowResponses, but cannot write to or read from B’s inbox otherwise', async () => {
    // Unprompted, B's inbox is closed to A in both directions.
    expect(await publishRefusal(a, '_INBOX_iso-b.unprompted')).toBe('Permissions Violation for Publish to "_INBOX_iso-b.unprompted"');
    expect(await subscribeRefusal(a, '_INBOX_iso-b.>')).toBe('Permissions Violation for Subscription to "_INBOX_iso-b.>"');

    const requests: Msg[] = [];
    const service = a.subscribe('ws.iso-a.rpc', {
      callback: (err, msg) => {
        if (err) return;
        requests.push(msg);
        msg.respond('pong');
      },
    });
    try {
      await a.flush();
      const reply = await b.request('ws.iso-a.rpc', 'ping', { timeout: 5000 });
      expect(reply.string()).toBe('pong');
      expect(requests).toHaveLength(1);
      const replySubject = requests[0]?.reply ?? '';
      expect(replySubject.startsWith('_INBOX_iso-b.')).toBe(true);
      // One reply per request (maxMessages defaults to 1): a second is refused.
      expect(await publishRefusal(a, replySubject)).toBe(`Permissions Violation for Publish to "${replySubject}"`);
      // B's inbox is still closed to A outside that reply.
      expect(await publishRefusal(a, '_INBOX_iso-b.after')).toBe('Permissions Violation for Publish to "_INBOX_iso-b.after"');
    } finally {
      service.unsubscribe();
    }
  });

  test('B, without allowResponses, can neither write to nor read from A’s inbox', async () => {
    expect(await publishRefusal(b, '_INBOX_iso-a.reply')).toBe('Permissions Violation for Publish to "_INBOX_iso-a.reply"');
    expect(await subscribeRefusal(b, '_INBOX_iso-a.>')).toBe('Permissions Violation for Subscription to "_INBOX_iso-a.>"');
  });
});
