// PooledKubeConfig (the test clients' pool): every request to a cluster goes through one dispatcher, and a new one is made
// only when what it connects with changes (endpoint, CA, client certificate). No network: a
// dispatcher connects on its first request, and none is sent here.

import { expect, test } from '@jest/globals';
import { HttpMethod, RequestContext } from '@kubernetes/client-node';
import { PooledKubeConfig } from '../env/pooled-kube-config.ts';

const b64 = (text: string) => Buffer.from(text).toString('base64');

function config(certData: string): PooledKubeConfig {
  const kubeConfig = new PooledKubeConfig();
  kubeConfig.loadFromOptions({
    clusters: [{ name: 'c', server: 'https://127.0.0.1:6443', caData: b64('ca'), skipTLSVerify: false }],
    users: [{ name: 'u', certData: b64(certData), keyData: b64('key') }],
    contexts: [{ name: 'x', cluster: 'c', user: 'u' }],
    currentContext: 'x',
  });
  return kubeConfig;
}

async function dispatcherOf(kubeConfig: PooledKubeConfig) {
  const context = new RequestContext('https://127.0.0.1:6443/api/v1/namespaces', HttpMethod.GET);
  await kubeConfig.applySecurityAuthentication(context);
  return context.getDispatcher();
}

test('requests share one dispatcher', async () => {
  const kubeConfig = config('cert-1');
  const first = await dispatcherOf(kubeConfig);
  expect(first).toBeDefined();
  const more = await Promise.all(Array.from({ length: 5 }, () => dispatcherOf(kubeConfig)));
  for (const dispatcher of more) expect(dispatcher).toBe(first);
});

test('a rotated client certificate gets a new dispatcher, which is then shared', async () => {
  const kubeConfig = config('cert-1');
  const before = await dispatcherOf(kubeConfig);
  const user = kubeConfig.getCurrentUser();
  if (!user) throw new Error('no user');
  kubeConfig.users = [{ ...user, certData: b64('cert-2') }];
  const after = await dispatcherOf(kubeConfig);
  expect(after).not.toBe(before);
  expect(await dispatcherOf(kubeConfig)).toBe(after);
});

test('headers are still applied per request', async () => {
  const kubeConfig = new PooledKubeConfig();
  kubeConfig.loadFromOptions({
    clusters: [{ name: 'c', server: 'https://127.0.0.1:6443', caData: b64('ca'), skipTLSVerify: false }],
    users: [{ name: 'u', token: 'not-a-real-token' }],
    contexts: [{ name: 'x', cluster: 'c', user: 'u' }],
    currentContext: 'x',
  });
  const context = new RequestContext('https://127.0.0.1:6443/api', HttpMethod.GET);
  await kubeConfig.applySecurityAuthentication(context);
  expect(context.getHeaders().Authorization).toBe('Bearer not-a-real-token');
});
