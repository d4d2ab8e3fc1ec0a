// Who the operator is to the API server: token files re-read as they rotate, exec credential
// plugins run once and cached until their credential expires (a real script here, counting its
// runs), a 401 asking again; and never a token in an error message.

import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Credentials, parseExecCredential, RereadFile, runPlugin, type RunPlugin } from '../../src/kube/credentials.ts';
import type { ExecConfig } from '../../src/kube/kubeconfig.ts';

const V1 = 'client.authentication.k8s.io/v1';

let dir: string | undefined;
const tempDir = () => (dir ??= mkdtempSync(join(tmpdir(), 'wno-kube-credentials-')));
afterAll(() => {
  if (dir) rmSync(dir, { recursive: true, force: true });
});

const credential = (status: object, apiVersion = V1) => JSON.stringify({ apiVersion, kind: 'ExecCredential', status });
const exec = (overrides: Partial<ExecConfig> = {}): ExecConfig => ({ apiVersion: V1, command: 'token-plugin', args: ['--get'], env: [], installHint: undefined, provideClusterInfo: false, ...overrides });

describe('a token file', () => {
  test('is read again once a minute has passed, and its last content kept while it is missing', () => {
    const path = join(tempDir(), 'token');
    writeFileSync(path, 'one');
    let now = 0;
    const file = new RereadFile(path, 60_000, () => now);
    expect(file.read()).toBe('one');
    writeFileSync(path, 'two');
    now = 59_999;
    expect(file.read()).toBe('one');
    now = 60_000;
    expect(file.read()).toBe('two');
    rmSync(path);
    now = 120_000;
    expect(file.read()).toBe('two');
    expect(() => new RereadFile(path).read()).toThrow(`${path} cannot be read (ENOENT)`);
  });

  test('wins over an inline token, and is read again after a 401', async () => {
    const path = join(tempDir(), 'bound-token');
    writeFileSync(path, 'bound-1\n');
    const credentials = new Credentials({ token: 'inline', tokenFile: path }, { now: () => 0 });
    expect((await credentials.identity()).authorization).toBe('Bearer bound-1');
    writeFileSync(path, 'bound-2');
    expect((await credentials.identity()).authorization).toBe('Bearer bound-1');
    credentials.invalidate();
    expect((await credentials.identity()).authorization).toBe('Bearer bound-2');
  });
});

describe('an exec plugin', () => {
  /** A plugin that answers `answers` in turn, recording how it was run. */
  function fakePlugin(...answers: string[]) {
    const runs: { command: string; args: string[]; env: NodeJS.ProcessEnv }[] = [];
    const run: RunPlugin = async (command, args, env) => {
      runs.push({ command, args, env });
      return answers[Math.min(runs.length - 1, answers.length - 1)] ?? '';
    };
    return { runs, run };
  }

  test('is run once and its token cached until expirationTimestamp, then run again', async () => {
    const plugin = fakePlugin(credential({ token: 'first', expirationTimestamp: '2030-01-01T00:01:00Z' }), credential({ token: 'second' }));
    let now = Date.parse('2030-01-01T00:00:00Z');
    const credentials = new Credentials({ exec: exec({ env: [{ name: 'PROFILE', value: 'ops' }] }) }, { run: plugin.run, now: () => now, env: { PATH: '/bin' } });
    const identities = await Promise.all([credentials.identity(), credentials.identity(), credentials.identity()]);
    expect(identities.map((identity) => identity.authorization)).toEqual(['Bearer first', 'Bearer first', 'Bearer first']);
    expect(plugin.runs).toHaveLength(1);
    expect(plugin.runs[0]?.command).toBe('token-plugin');
    expect(plugin.runs[0]?.args).toEqual(['--get']);
    expect(plugin.runs[0]?.env).toMatchObject({ PATH: '/bin', PROFILE: 'ops' });
    expect(JSON.parse(plugin.runs[0]?.env.KUBERNETES_EXEC_INFO ?? '')).toEqual({ apiVersion: V1, kind: 'ExecCredential', spec: { interactive: false } });
    now = Date.parse('2030-01-01T00:01:00Z');
    expect((await credentials.identity()).authorization).toBe('Bearer second');
    // No expiry: kept until the API server refuses it.
    now += 3600_000;
    expect((await credentials.identity()).authorization).toBe('Bearer second');
    expect(plugin.runs).toHaveLength(2);
    credentials.invalidate();
    await credentials.identity();
    expect(plugin.runs).toHaveLength(3);
  });

  test('may answer with a client certificate, and is told the cluster when it asks', async () => {
    const plugin = fakePlugin(credential({ clientCertificateData: 'CERT PEM', clientKeyData: 'KEY PEM' }));
    const cluster = { server: 'https://10.0.0.1:6443', 'certificate-authority-data': 'Q0E=' };
    const credentials = new Credentials({ exec: exec({ provideClusterInfo: true }) }, { run: plugin.run, cluster });
    expect(await credentials.identity()).toEqual({ authorization: undefined, cert: 'CERT PEM', key: 'KEY PEM' });
    expect(JSON.parse(plugin.runs[0]?.env.KUBERNETES_EXEC_INFO ?? '').spec).toEqual({ interactive: false, cluster });
  });

  test('a real command: run with its arguments and environment, and not again while its credential is valid', async () => {
    const count = join(tempDir(), 'runs');
    const script = join(tempDir(), 'plugin.sh');
    writeFileSync(
      script,
      `#!/bin/sh\necho run >> "${count}"\nprintf '{"apiVersion":"${V1}","kind":"ExecCredential","status":{"token":"%s-%s","expirationTimestamp":"2999-01-01T00:00:00Z"}}' "$1" "$WHO"\n`,
    );
    chmodSync(script, 0o755);
    const credentials = new Credentials({ exec: exec({ command: script, args: ['script'], env: [{ name: 'WHO', value: 'operator' }] }) });
    expect((await credentials.identity()).authorization).toBe('Bearer script-operator');
    await credentials.identity();
    expect(readFileSync(count, 'utf8')).toBe('run\n');
  });

  test('failures name the plugin and never quote its output', async () => {
    const fail = (stdout: string) => parseExecCredential(stdout, V1, '"p"');
    expect(() => fail('token: secret-token')).toThrow('exec plugin "p": its output is not JSON');
    expect(() => fail(credential({ token: 'secret-token' }, 'client.authentication.k8s.io/v1beta1'))).toThrow(
      'exec plugin "p": it answered client.authentication.k8s.io/v1beta1, the kubeconfig asks for client.authentication.k8s.io/v1',
    );
    expect(() => fail(credential({}))).toThrow('exec plugin "p": status has neither a token nor a client certificate');
    expect(() => fail(credential({ clientKeyData: 'secret-key' }))).toThrow('clientKeyData without clientCertificateData');
    expect(() => fail(credential({ token: 'secret-token', expirationTimestamp: 'soon' }))).toThrow('status.expirationTimestamp "soon" is not a time');
    for (const stdout of ['token: secret-token', credential({ token: 'secret-token' }, 'v0'), credential({ token: 'secret-token', expirationTimestamp: 'soon' })]) {
      expect(() => fail(stdout)).toThrow(expect.objectContaining({ message: expect.not.stringContaining('secret-token') }));
    }
  });

  test('a missing command says so, with the install hint', async () => {
    const credentials = new Credentials({ exec: exec({ command: join(tempDir(), 'absent-plugin'), installHint: 'install it with brew\n' }) }, { run: runPlugin });
    await expect(credentials.identity()).rejects.toThrow(`exec plugin "${join(tempDir(), 'absent-plugin')}": not found (install it with brew)`);
    const failing = join(tempDir(), 'failing.sh');
    writeFileSync(failing, '#!/bin/sh\nexit 3\n');
    chmodSync(failing, 0o755);
    await expect(new Credentials({ exec: exec({ command: failing }) }).identity()).rejects.toThrow(`exec plugin "${failing}": exited with code 3`);
  });
});
