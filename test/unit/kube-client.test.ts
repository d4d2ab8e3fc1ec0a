// The operator's own Kubernetes client against a stand-in API server: the paths and query of its
// calls, JSON both ways, errors in the shape errors.ts reads (status and Status, never the request
// body), credentials asked again after a 401, one connection for many requests, and watch
// responses read line by line however they are cut.

import { rmSync, writeFileSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { KubeClient } from '../../src/kube/api.ts';
import { describeError, isConflict, isNotFound, statusCode } from '../../src/kube/errors.ts';
import { ApiError } from '../../src/kube/transport.ts';
import { parseWatchEvent, splitLines } from '../../src/kube/watch-events.ts';
import { json, startHttpStub, type HttpStub } from './http-stub.ts';

let stub: HttpStub | undefined;
afterEach(async () => {
  await stub?.close();
  stub = undefined;
});
let dir: string | undefined;
const tempDir = () => (dir ??= mkdtempSync(join(tmpdir(), 'wno-kube-client-')));
afterAll(() => {
  if (dir) rmSync(dir, { recursive: true, force: true });
});

const status = (code: number, message: string) => ({ kind: 'Status', apiVersion: 'v1', status: 'Failure', code, reason: 'Conflict', message });

test('calls go to the paths of client-node, with their query, and JSON both ways', async () => {
  stub = await startHttpStub((request, response) => json(response, request.method === 'POST' ? 201 : 200, { echoed: request.method }));
  const client = stub.client({ token: 'operator-token' });
  const secret = { metadata: { name: 'a', namespace: 'ns' }, data: { key: 'c2VjcmV0' } };
  await client.core.readNamespacedSecret({ name: 'a', namespace: 'ns' });
  await client.core.listNamespacedSecret({ namespace: 'ns', labelSelector: 'natsaccess.io/access=x' });
  expect(await client.core.createNamespacedSecret({ namespace: 'ns', body: secret, fieldManager: 'wno' })).toEqual({ echoed: 'POST' });
  await client.core.deleteNamespacedSecret({ name: 'a', namespace: 'ns', body: { preconditions: { uid: 'u1' } } });
  await client.customObjects.replaceNamespacedCustomObjectStatus({ group: 'natsaccess.io', version: 'v1alpha1', plural: 'workspacenatsaccesses', namespace: 'ns', name: 'w', body: {}, fieldManager: 'wno' });
  await client.customObjects.replaceClusterCustomObjectStatus({ group: 'natsaccess.io', version: 'v1alpha1', plural: 'clusternatsissuers', name: 'i', body: {} });
  await client.coordination.replaceNamespacedLease({ name: 'l', namespace: 'wno-system', body: {} });
  await client.admission.readMutatingWebhookConfiguration({ name: 'wno' });
  await client.core.listNamespacedConfigMap({ namespace: 'wno-system', labelSelector: 'natsaccess.io/account=A' });
  await client.core.deleteNamespacedConfigMap({ name: 'wno-revocations-a-1', namespace: 'wno-system', body: { preconditions: { resourceVersion: '7' } } });
  expect(stub.requests.map(({ method, path, query }) => [method, path, query])).toEqual([
    ['GET', '/api/v1/namespaces/ns/secrets/a', {}],
    ['GET', '/api/v1/namespaces/ns/secrets', { labelSelector: 'natsaccess.io/access=x' }],
    ['POST', '/api/v1/namespaces/ns/secrets', { fieldManager: 'wno' }],
    ['DELETE', '/api/v1/namespaces/ns/secrets/a', {}],
    ['PUT', '/apis/natsaccess.io/v1alpha1/namespaces/ns/workspacenatsaccesses/w/status', { fieldManager: 'wno' }],
    ['PUT', '/apis/natsaccess.io/v1alpha1/clusternatsissuers/i/status', {}],
    ['PUT', '/apis/coordination.k8s.io/v1/namespaces/wno-system/leases/l', {}],
    ['GET', '/apis/admissionregistration.k8s.io/v1/mutatingwebhookconfigurations/wno', {}],
    ['GET', '/api/v1/namespaces/wno-system/configmaps', { labelSelector: 'natsaccess.io/account=A' }],
    ['DELETE', '/api/v1/namespaces/wno-system/configmaps/wno-revocations-a-1', {}],
  ]);
  const [, , create, remove] = stub.requests;
  expect(JSON.parse(create?.body ?? '')).toEqual(secret);
  expect(create?.headers['content-type']).toBe('application/json');
  expect(create?.headers.authorization).toBe('Bearer operator-token');
  expect(JSON.parse(remove?.body ?? '')).toEqual({ preconditions: { uid: 'u1' } });
  // HTTP/2, all over one connection.
  expect(new Set(stub.requests.map((request) => request.httpVersion))).toEqual(new Set(['2.0']));
  expect(stub.connections()).toBe(1);
});

test('a refused call is an ApiError with the status and the Status, and never quotes what was sent', async () => {
  stub = await startHttpStub((request, response) => {
    if (request.path.endsWith('/gone')) return json(response, 404, status(404, 'secrets "gone" not found'));
    if (request.path.endsWith('/proxy')) return void response.writeHead(502).end('<html>bad gateway</html>');
    if (request.path.endsWith('/cut')) return void response.writeHead(200).end('{"data":{"nats.creds":"SUAEXAMPLESEEDcut-off');
    json(response, 409, status(409, 'the object has been modified'));
  });
  const client = stub.client();
  const body = { metadata: { name: 'a', namespace: 'ns', resourceVersion: '1' }, stringData: { 'nats.creds': 'SUAEXAMPLESEED' } };
  const error = await client.core.replaceNamespacedSecret({ name: 'a', namespace: 'ns', body }).catch((caught: unknown) => caught);
  expect(error).toBeInstanceOf(ApiError);
  expect(statusCode(error)).toBe(409);
  expect(isConflict(error)).toBe(true);
  expect((error as ApiError).body).toEqual(status(409, 'the object has been modified'));
  expect((error as Error).message).toBe('PUT /api/v1/namespaces/ns/secrets/a: HTTP 409: the object has been modified');
  expect(describeError(error)).toBe('HTTP 409: the object has been modified');
  expect(JSON.stringify({ ...(error as ApiError), message: (error as Error).message, stack: (error as Error).stack })).not.toContain('SUAEXAMPLESEED');

  expect(isNotFound(await client.core.readNamespacedSecret({ name: 'gone', namespace: 'ns' }).catch((caught: unknown) => caught))).toBe(true);
  const proxied = await client.core.readNamespacedSecret({ name: 'proxy', namespace: 'ns' }).catch((caught: unknown) => caught);
  expect([statusCode(proxied), (proxied as ApiError).body]).toEqual([502, '<html>bad gateway</html>']);
  expect(describeError(proxied)).toBe('HTTP 502: no message');
  await expect(client.core.readNamespacedSecret({ name: 'cut', namespace: 'ns' })).rejects.toThrow(
    new Error('GET /api/v1/namespaces/ns/secrets/cut: the answer (44 characters) is not JSON'),
  );
});

test('an unreachable API server: an error naming the call, without a status', async () => {
  const closed = await startHttpStub(() => undefined);
  await closed.close();
  const client = new KubeClient({ source: 'test', server: closed.url, ca: { data: closed.ca.certPem }, insecureSkipTlsVerify: false, tlsServerName: undefined, user: {} });
  const error = await client.core.readNamespacedSecret({ name: 'a', namespace: 'ns' }).catch((caught: unknown) => caught);
  await client.transport.close();
  expect(statusCode(error)).toBeUndefined();
  expect(describeError(error)).toMatch(/^GET \/api\/v1\/namespaces\/ns\/secrets\/a: .*ECONNREFUSED/);
});

test('after a 401, the token file is read again', async () => {
  const tokenFile = join(tempDir(), 'token');
  writeFileSync(tokenFile, 'old');
  stub = await startHttpStub((request, response) =>
    request.headers.authorization === 'Bearer new' ? json(response, 200, {}) : json(response, 401, status(401, 'Unauthorized')),
  );
  const client = stub.client({ tokenFile });
  await expect(client.core.readNamespacedSecret({ name: 'a', namespace: 'ns' })).rejects.toThrow('HTTP 401: Unauthorized');
  writeFileSync(tokenFile, 'new');
  await expect(client.core.readNamespacedSecret({ name: 'a', namespace: 'ns' })).resolves.toEqual({});
});

test('a rotated client certificate file is used from the next connection on, the old one closing', async () => {
  stub = await startHttpStub((_request, response) => json(response, 200, {}));
  const [first, second] = [await stub.ca.clientCertFor('operator-1', []), await stub.ca.clientCertFor('operator-2', [])];
  const [certFile, keyFile] = [join(tempDir(), 'client.crt'), join(tempDir(), 'client.key')];
  writeFileSync(certFile, first.certPem);
  writeFileSync(keyFile, first.keyPem);
  const client = stub.client({ clientCertificate: { file: certFile }, clientKey: { file: keyFile } });
  await client.core.readNamespacedSecret({ name: 'a', namespace: 'ns' });
  await client.core.readNamespacedSecret({ name: 'a', namespace: 'ns' });
  writeFileSync(certFile, second.certPem);
  writeFileSync(keyFile, second.keyPem);
  // A 401 (or a minute) reads the files again.
  client.transport['credentials'].invalidate();
  await client.core.readNamespacedSecret({ name: 'a', namespace: 'ns' });
  await client.core.readNamespacedSecret({ name: 'a', namespace: 'ns' });
  expect(stub.requests.map((request) => request.clientName)).toEqual(['operator-1', 'operator-1', 'operator-2', 'operator-2']);
  expect(stub.connections()).toBe(2);
});

describe('watch responses', () => {
  test('lines are whole however the chunks cut them', () => {
    const lines: string[] = [];
    let pending = '';
    for (const chunk of ['{"type":"ADD', 'ED","object":{}}\n{"type":"BOOK', 'MARK","object":{}}\n\n{"ty', 'pe":"DELETED","object":{}}\n']) {
      pending = splitLines(pending, chunk, (line) => lines.push(line));
    }
    expect(pending).toBe('');
    expect(lines.map((line) => parseWatchEvent(line).type)).toEqual(['ADDED', 'BOOKMARK', 'DELETED']);
  });

  test('a line that is not an event is an error that does not quote it', () => {
    expect(() => parseWatchEvent('{"type":"ADDED","object":{"data":{"k":"secret')).toThrow('watch: a line of 45 characters is not JSON');
    expect(() => parseWatchEvent('{"type":"UPSERT","object":{}}')).toThrow('watch: unknown event type "UPSERT"');
    expect(() => parseWatchEvent('{"type":"ADDED"}')).toThrow('watch: a ADDED event without an object');
  });

  test('are streamed over the connection of the calls', async () => {
    stub = await startHttpStub((request, response) => {
      if (request.query.watch !== '1') return json(response, 200, {});
      response.writeHead(200, { 'content-type': 'application/json' });
      response.write('{"type":"ADDED","object":{"metadata":{"name":"a"}}}\n{"type":"MOD');
      setTimeout(() => response.end('IFIED","object":{"metadata":{"name":"a"}}}\n'), 20);
    });
    const client = stub.client();
    await client.core.readNamespacedSecret({ name: 'a', namespace: 'ns' });
    const types: string[] = [];
    await client.transport.stream('/api/v1/secrets', { watch: 1 }, { signal: new AbortController().signal, idleMs: 5000 }, (line) => types.push(parseWatchEvent(line).type));
    expect(types).toEqual(['ADDED', 'MODIFIED']);
    expect(stub.connections()).toBe(1);
  });
});
