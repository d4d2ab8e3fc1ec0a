// The pure parts of `bootstrap`: its flags, the trust it makes, the nats-server config, the
// Kubernetes objects, and reading an nsc store's layout.

import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseBootstrapArgs } from '../../src/cli/bootstrap-flags.ts';
import { bootstrapObjects, identityProviders, renderManifest, type OperatorMaterial } from '../../src/cli/bootstrap-manifest.ts';
import { materialFromNsc } from '../../src/cli/bootstrap-sources.ts';
import { materialOf } from '../../src/cli/bootstrap.ts';
import { readAccountJwt } from '../../src/nats/account-jwt.ts';
import { renderServerConfig } from '../../src/nats/server-config.ts';
import { accountJwts, createTrust, type Trust } from '../../src/nats/trust.ts';

const env = { HOME: '/home/me' };

describe('bootstrap flags', () => {
  test('defaults: a plain key, the README names, wno-system, nats.nats.svc, ./nats-bootstrap', () => {
    const settings = parseBootstrapArgs([], env);
    expect(settings).toMatchObject({
      out: 'nats-bootstrap',
      namespace: 'wno-system',
      natsUrls: ['nats://nats.nats.svc:4222'],
      scoped: false,
      callout: false,
      issuerName: 'platform',
      calloutName: 'workspaces',
      secretSuffix: '',
      apply: false,
      force: false,
      source: { kind: 'generate', operatorName: 'platform', resolverDir: '/data/jwt', natsNamespace: 'nats' },
    });
  });

  test('--nats-url takes a list', () => {
    expect(parseBootstrapArgs(['--nats-url', 'nats://a:4222, tls://b:4222'], env).natsUrls).toEqual(['nats://a:4222', 'tls://b:4222']);
  });

  test.each([
    [['--nats-url', 'http://a'], /--nats-url: "http:\/\/a" is not a NATS URL/],
    [['--namespace', 'Bad_NS'], /--namespace: "Bad_NS" is not a Kubernetes name/],
    [['--oidc-issuer', 'https://idp'], /--oidc-issuer: only with --callout/],
    [['--callout', '--oidc-issuer', 'idp.example.com'], /not an http\(s\) URL/],
    [['--secret-suffix=_x'], /--secret-suffix/],
    [['--from-nsc', 'nsc', '--system-creds-file', 'sys.creds'], /give one source of keys/],
    [['--from-nsc', 'nsc', '--callout'], /--callout makes a new callout account/],
    [['--system-creds-file', 'sys.creds'], /needs --operator-signing-key-file, --account-signing-key-file, --account-public-key too/],
    [['--unknown'], /Unknown option '--unknown'/],
  ])('%j is refused', (args, message) => {
    expect(() => parseBootstrapArgs(args, env)).toThrow(message);
  });

  test('--from-nsc reads the key store from --nsc-keys, else $NKEYS_PATH, else nsc\'s default', () => {
    expect(parseBootstrapArgs(['--from-nsc', 's', '--nsc-keys', 'k'], env).source).toEqual({ kind: 'nsc', storeDir: 's', keysDir: 'k' });
    expect(parseBootstrapArgs(['--from-nsc', 's'], { ...env, NKEYS_PATH: '/keys' }).source).toMatchObject({ keysDir: '/keys' });
    expect(parseBootstrapArgs(['--from-nsc', 's'], env).source).toMatchObject({ keysDir: '/home/me/.local/share/nats/nsc/keys' });
  });
});

describe('the trust and the server config', () => {
  let plain: Trust;
  let scoped: Trust;
  beforeAll(async () => {
    plain = await createTrust({ operatorName: 'platform', workspaceAccountName: 'WS', signingKeys: { plain: true, scoped: false }, calloutAccountName: 'AUTH' });
    scoped = await createTrust({ operatorName: 'platform', workspaceAccountName: 'WS', signingKeys: { plain: false, scoped: true } });
  });

  test('the workspace account lists the signing key asked for, plain or scoped', () => {
    expect(readAccountJwt(plain.workspaceAccount.jwt).signingKeys).toEqual([{ key: plain.workspaceAccount.signingKey?.publicKey, scoped: false }]);
    expect(readAccountJwt(scoped.workspaceAccount.jwt).signingKeys).toEqual([{ key: scoped.workspaceAccount.scopedSigningKey?.publicKey, scoped: true }]);
    expect(readAccountJwt(plain.workspaceAccount.jwt).issuer).toBe(plain.operator.signingKey.publicKey);
    expect(scoped.calloutAccount).toBeUndefined();
  });

  test('the config is operator mode with the full resolver and every account preloaded', () => {
    const config = renderServerConfig({
      operatorJwt: plain.operator.jwt,
      systemAccount: plain.systemAccount.publicKey,
      accounts: accountJwts(plain),
      resolverDir: '/data/jwt',
    });
    expect(config).toContain(`operator: "${plain.operator.jwt}"`);
    expect(config).toContain(`system_account: ${plain.systemAccount.publicKey}`);
    expect(config).toMatch(/resolver: \{\n {2}type: full\n {2}dir: "\/data\/jwt"/);
    for (const account of [plain.systemAccount, plain.workspaceAccount, plain.calloutAccount!]) expect(config).toContain(`  ${account.publicKey}: "${account.jwt}"`);
    expect(config).not.toContain('listen:');
    expect(config).not.toContain('cluster:');
  });

  test('a route cluster is written when asked for', () => {
    const config = renderServerConfig({ operatorJwt: 'x', systemAccount: 'A', accounts: {}, resolverDir: 'd', cluster: { name: 'c', listen: '0.0.0.0:6222', routes: ['nats-route://a:6222'] } });
    expect(config).toContain('cluster: {\n  name: "c"\n  listen: "0.0.0.0:6222"\n  routes: ["nats-route://a:6222"]\n}');
  });

  test('the objects: namespace, Secrets, then the issuer and the callout that name them', () => {
    const settings = { namespace: 'wno-system', natsUrls: ['nats://n:4222'], issuerName: 'platform', calloutName: 'workspaces', secretSuffix: '', identityProviders: identityProviders('platform', 'https://k8s', undefined) };
    const objects = bootstrapObjects(materialOf(plain), settings);
    expect(objects.map((o) => `${o.kind}/${o.metadata.name}`)).toEqual([
      'Namespace/wno-system',
      'Secret/ws-account-signing-key',
      'Secret/nats-operator-signing-key',
      'Secret/nats-system-creds',
      'Secret/nats-callout-signing-key',
      'Secret/nats-callout-xkey',
      'Secret/nats-callout-auth-creds',
      'Secret/nats-callout-sentinel-creds',
      'ClusterNatsIssuer/platform',
      'ClusterNatsAuthCallout/workspaces',
    ]);
    expect(objects.at(-2)).toMatchObject({ spec: { nats: { urls: ['nats://n:4222'] }, account: { publicKey: plain.workspaceAccount.publicKey } } });
    expect(objects.at(-1)).toMatchObject({ spec: { account: { publicKey: plain.calloutAccount!.publicKey }, identityProviders: [{ name: 'pods', issuers: ['platform'] }] } });
    const scopedObjects = bootstrapObjects(materialOf(scoped), { ...settings, secretSuffix: '-b' });
    expect(scopedObjects.map((o) => o.metadata.name)).toContain('ws-scoped-signing-key-b');
    expect(scopedObjects.at(-1)).toMatchObject({ kind: 'ClusterNatsIssuer', spec: { account: { scoped: { userTags: ['ws:{{workspace.id}}'] } } } });
    expect(renderManifest(objects).split('\n---\n')).toHaveLength(objects.length);
  });
});

describe('--from-nsc', () => {
  let dir: string | undefined;
  afterAll(() => {
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  /** An nsc store and key store laid out as nsc writes them, holding `trust`. */
  function nscLayout(trust: Trust): { store: string; keys: string } {
    dir = mkdtempSync(join(tmpdir(), 'wno-nsc-'));
    const store = join(dir, 'stores', 'platform');
    const keys = join(dir, 'keys');
    const write = (path: string, text: string) => {
      mkdirSync(join(path, '..'), { recursive: true });
      writeFileSync(path, text);
    };
    write(join(store, 'platform.jwt'), trust.operator.jwt);
    write(join(store, 'accounts', 'SYS', 'SYS.jwt'), trust.systemAccount.jwt);
    write(join(store, 'accounts', 'WS', 'WS.jwt'), trust.workspaceAccount.jwt);
    for (const key of [trust.operator.signingKey, trust.workspaceAccount.signingKey!]) {
      write(join(keys, 'keys', key.publicKey[0]!, key.publicKey.slice(1, 3), `${key.publicKey}.nk`), `${key.seed}\n`);
    }
    write(join(keys, 'creds', 'platform', 'SYS', 'sys.creds'), trust.systemUser.creds);
    return { store: join(dir, 'stores'), keys };
  }

  test('finds the operator signing key, the account signing key and a system user', async () => {
    const trust = await createTrust({ operatorName: 'platform', workspaceAccountName: 'WS', signingKeys: { plain: true, scoped: false } });
    const { store, keys } = nscLayout(trust);
    const material: OperatorMaterial = materialFromNsc({ kind: 'nsc', storeDir: store, keysDir: keys }, 'WS', false);
    const expected = materialOf(trust);
    // Compared as booleans: a failing expectation would print seeds.
    expect(material.operatorSigningKeySeed === expected.operatorSigningKeySeed).toBe(true);
    expect(material.workspaceAccount.signingKeySeed === expected.workspaceAccount.signingKeySeed).toBe(true);
    expect(material.systemCreds === expected.systemCreds).toBe(true);
    expect(material.workspaceAccount.publicKey).toBe(trust.workspaceAccount.publicKey);
    expect(() => materialFromNsc({ kind: 'nsc', storeDir: store, keysDir: keys }, 'WS', true)).toThrow(/account WS's scoped signing keys: no seed of \(no keys listed\)/);
  });
});
