// Finding the cluster: the current context of a kubeconfig (several merged as kubectl merges
// them), the pod's service account, and the order they are tried in; a bad field is named with its
// file and its path.

import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { inClusterConfig, kubeconfigFromFiles, kubeconfigFromTexts, loadClusterConfig } from '../../src/kube/kubeconfig.ts';

const b64 = (text: string) => Buffer.from(text).toString('base64');

/** A kubeconfig with one cluster, user and context, each overridable. */
function kubeconfig(parts: { cluster?: object; user?: object; context?: object; extra?: object } = {}): string {
  return stringify({
    apiVersion: 'v1',
    kind: 'Config',
    clusters: [{ name: 'c', cluster: { server: 'https://10.0.0.1:6443', 'certificate-authority-data': b64('CA PEM'), ...parts.cluster } }],
    users: [{ name: 'u', user: { token: 'static-token', ...parts.user } }],
    contexts: [{ name: 'x', context: { cluster: 'c', user: 'u', ...parts.context } }],
    'current-context': 'x',
    ...parts.extra,
  });
}

const fromText = (text: string, file = '/etc/wno/kubeconfig') => kubeconfigFromTexts([{ file, text }]);

let dir: string | undefined;
const tempDir = () => (dir ??= mkdtempSync(join(tmpdir(), 'wno-kubeconfig-')));
afterAll(() => {
  if (dir) rmSync(dir, { recursive: true, force: true });
});
const write = (name: string, text: string) => {
  const path = join(tempDir(), name);
  mkdirSync(join(path, '..'), { recursive: true });
  writeFileSync(path, text);
  return path;
};

describe('a kubeconfig', () => {
  test("gives the current context's server, TLS settings and user", () => {
    const config = fromText(kubeconfig({ cluster: { 'tls-server-name': 'kubernetes', server: 'https://api.example:6443/prefix/' } }));
    expect(config).toEqual({
      source: 'kubeconfig /etc/wno/kubeconfig (context x)',
      server: 'https://api.example:6443/prefix',
      ca: { data: 'CA PEM' },
      insecureSkipTlsVerify: false,
      tlsServerName: 'kubernetes',
      user: { token: 'static-token' },
    });
  });

  test('file paths are relative to the kubeconfig, and are read at once', () => {
    write('certs/ca.crt', 'CA');
    write('certs/client.crt', 'CERT');
    write('certs/client.key', 'KEY');
    write('token', 'file-token');
    const path = write(
      'kubeconfig',
      kubeconfig({
        cluster: { 'certificate-authority-data': undefined, 'certificate-authority': 'certs/ca.crt' },
        user: { token: undefined, 'client-certificate': 'certs/client.crt', 'client-key': 'certs/client.key', tokenFile: 'token' },
      }),
    );
    const config = kubeconfigFromFiles([path]);
    expect(config.ca).toEqual({ file: join(tempDir(), 'certs/ca.crt') });
    expect(config.user).toEqual({
      tokenFile: join(tempDir(), 'token'),
      clientCertificate: { file: join(tempDir(), 'certs/client.crt') },
      clientKey: { file: join(tempDir(), 'certs/client.key') },
    });
    const missing = write('missing', kubeconfig({ user: { 'client-certificate': 'nope.crt', 'client-key': 'certs/client.key' } }));
    expect(() => kubeconfigFromFiles([missing])).toThrow(`kubeconfig ${missing}: users[0].user.client-certificate: ${join(tempDir(), 'nope.crt')} cannot be read (ENOENT)`);
  });

  test('an exec plugin, with a command relative to the kubeconfig only when it has a slash', () => {
    const exec = { apiVersion: 'client.authentication.k8s.io/v1', command: './bin/token', args: ['get'], env: [{ name: 'A', value: '1' }], provideClusterInfo: true };
    expect(fromText(kubeconfig({ user: { token: undefined, exec } })).user.exec).toEqual({
      apiVersion: 'client.authentication.k8s.io/v1',
      command: '/etc/wno/bin/token',
      args: ['get'],
      env: [{ name: 'A', value: '1' }],
      installHint: undefined,
      provideClusterInfo: true,
    });
    expect(fromText(kubeconfig({ user: { exec: { ...exec, command: 'aws' } } })).user.exec?.command).toBe('aws');
  });

  test.each([
    [{ cluster: { server: undefined } }, 'clusters[0].cluster.server is missing'],
    [{ cluster: { server: 'ftp://x' } }, 'clusters[0].cluster.server: "ftp://x" is not an http(s) URL'],
    [{ cluster: { 'certificate-authority-data': 'not base64!' } }, 'clusters[0].cluster.certificate-authority-data is not base64'],
    [{ cluster: { 'insecure-skip-tls-verify': 'yes' } }, 'clusters[0].cluster.insecure-skip-tls-verify is not true or false'],
    [{ cluster: { 'proxy-url': 'http://proxy' } }, 'clusters[0].cluster.proxy-url: proxies are not supported'],
    [{ user: { 'client-certificate-data': b64('CERT') } }, 'users[0].user.client-key is missing: a client certificate needs its key'],
    [{ user: { 'auth-provider': { name: 'gcp' } } }, 'users[0].user.auth-provider: auth providers are not supported; use an exec credential plugin'],
    [{ user: { token: 42 } }, 'users[0].user.token is not a string'],
    [{ user: { exec: { apiVersion: 'client.authentication.k8s.io/v1alpha1', command: 'x' } } }, 'users[0].user.exec.apiVersion: "client.authentication.k8s.io/v1alpha1" is not'],
    [{ user: { exec: { apiVersion: 'client.authentication.k8s.io/v1beta1' } } }, 'users[0].user.exec.command is missing'],
    [{ user: { exec: { apiVersion: 'client.authentication.k8s.io/v1', command: 'x', env: [{ name: 'A' }] } } }, 'users[0].user.exec.env[0] needs a name and a value'],
    [{ context: { cluster: 'other' } }, 'contexts[0].context.cluster: "other" names no entry of clusters'],
    [{ context: { user: 'nobody' } }, 'contexts[0].context.user: "nobody" names no entry of users'],
    [{ extra: { 'current-context': 'y' } }, 'current-context "y" names no entry of contexts'],
    [{ extra: { 'current-context': '' } }, 'current-context is not set'],
  ])('%j is refused, naming the file and the field', (parts, message) => {
    expect(() => fromText(kubeconfig(parts))).toThrow(`kubeconfig /etc/wno/kubeconfig: ${message}`);
  });

  test('text that is not a kubeconfig is refused, naming the file', () => {
    expect(() => fromText('clusters: [')).toThrow(/^kubeconfig \/etc\/wno\/kubeconfig: not YAML/);
    expect(() => fromText('clusters: 3\n')).toThrow('kubeconfig /etc/wno/kubeconfig: clusters is not a list');
  });

  test('several files merge as kubectl merges them: the first to define a name, or the current context, wins', () => {
    const first = stringify({ users: [{ name: 'u', user: { token: 'first' } }], 'current-context': 'x' });
    const second = kubeconfig({ extra: { 'current-context': 'ignored' } });
    const config = kubeconfigFromTexts([
      { file: '/a', text: first },
      { file: '/b', text: second },
    ]);
    expect(config.user.token).toBe('first');
    expect(config.server).toBe('https://10.0.0.1:6443');
    expect(config.source).toBe('kubeconfig /b (context x)');
  });
});

describe('the cluster to use', () => {
  const serviceAccount = () => {
    const path = join(tempDir(), 'serviceaccount');
    write('serviceaccount/token', 'pod-token');
    write('serviceaccount/ca.crt', 'CA');
    return path;
  };
  const environment = (env: NodeJS.ProcessEnv, home = join(tempDir(), 'no-home')) => ({ env, home, serviceAccountDir: serviceAccount() });
  const inCluster = { KUBERNETES_SERVICE_HOST: '10.96.0.1', KUBERNETES_SERVICE_PORT: '443' };

  test('in a pod: the service account, its token file and CA', () => {
    expect(inClusterConfig(environment(inCluster))).toEqual({
      source: 'in-cluster service account',
      server: 'https://10.96.0.1:443',
      ca: { file: join(serviceAccount(), 'ca.crt') },
      insecureSkipTlsVerify: false,
      tlsServerName: undefined,
      user: { tokenFile: join(serviceAccount(), 'token') },
    });
    expect(inClusterConfig(environment({ ...inCluster, KUBERNETES_SERVICE_HOST: 'fd00::1' }))?.server).toBe('https://[fd00::1]:443');
    expect(inClusterConfig(environment({ KUBERNETES_SERVICE_HOST: '10.96.0.1' }))).toBeUndefined();
  });

  test('--kubeconfig, then $KUBECONFIG, then in-cluster, then ~/.kube/config', () => {
    const explicit = write('order/explicit', kubeconfig({ cluster: { server: 'https://explicit' } }));
    const listed = write('order/listed', kubeconfig({ cluster: { server: 'https://listed' } }));
    const home = join(tempDir(), 'home');
    write('home/.kube/config', kubeconfig({ cluster: { server: 'https://home' } }));
    const server = (path: string | undefined, env: NodeJS.ProcessEnv) => loadClusterConfig(path, environment(env, home)).server;
    expect(server(explicit, { ...inCluster, KUBECONFIG: listed })).toBe('https://explicit');
    expect(server(undefined, { ...inCluster, KUBECONFIG: `${join(tempDir(), 'absent')}:${listed}` })).toBe('https://listed');
    expect(server(undefined, inCluster)).toBe('https://10.96.0.1:443');
    expect(server(undefined, {})).toBe('https://home');
    expect(() => loadClusterConfig(undefined, environment({}))).toThrow('no cluster configured: pass --kubeconfig, set $KUBECONFIG, run in a pod, or create');
    expect(() => loadClusterConfig(undefined, environment({ KUBECONFIG: '/nowhere' }))).toThrow('$KUBECONFIG names no file that exists: /nowhere');
    expect(() => loadClusterConfig('/nowhere', environment({}))).toThrow('kubeconfig /nowhere: cannot be read (ENOENT)');
  });
});
