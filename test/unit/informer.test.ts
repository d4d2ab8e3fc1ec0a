// ResilientInformer against a stand-in API server: lists in pages and watches from the list, resumes
// a watch where the last one stopped (bookmarks included), lists again on 410 Gone and reports only
// what changed, restarts a list whose continue token expired, and backs off after errors. The
// relist diff itself (ObjectCache, Relist) is checked on its own first.

import type { KubernetesObject } from '@kubernetes/client-node';
import type { Logger } from '../../src/log.ts';
import { PAGE_SIZE, ResilientInformer, type ChangeType } from '../../src/kube/informer.ts';
import { ObjectCache, Relist } from '../../src/kube/object-cache.ts';
import { json, startHttpStub, type HttpStub, type StubRequest, type StubResponse } from './http-stub.ts';

const object = (name: string, resourceVersion: string, namespace = 'ns'): KubernetesObject => ({
  metadata: { name, namespace, resourceVersion, managedFields: [{ manager: 'kubectl' }] },
});

describe('the cache', () => {
  test('a watch event is an add, an update, or nothing at the same resourceVersion', () => {
    const cache = new ObjectCache<KubernetesObject>();
    expect(cache.put(object('a', '1'))).toBe('add');
    expect(cache.put(object('a', '1'))).toBeUndefined();
    expect(cache.put(object('a', '2'))).toBe('update');
    expect(cache.put(object('a', '1', 'other'))).toBe('add');
    expect(cache.get('a', 'ns')?.metadata?.resourceVersion).toBe('2');
    expect(cache.list('other')).toHaveLength(1);
    expect(cache.list()).toHaveLength(2);
    expect(cache.remove(object('a', '9'))).toBe(true);
    expect(cache.get('a', 'ns')).toBeUndefined();
  });

  test('a relist updates what changed, adds what is new, and then removes what it did not list', () => {
    const cache = new ObjectCache<KubernetesObject>();
    for (const name of ['same', 'changed', 'vanished']) cache.put(object(name, '1'));
    const relist = new Relist(cache);
    expect([relist.see(object('same', '1')), relist.see(object('changed', '2')), relist.see(object('new', '3'))]).toEqual([undefined, 'update', 'add']);
    expect(relist.vanished().map((gone) => gone.metadata?.name)).toEqual(['vanished']);
    expect(cache.list().map((kept) => kept.metadata?.name).sort()).toEqual(['changed', 'new', 'same']);
  });
});

/** A collection on the stand-in API server: list pages with continue tokens, and open watches. */
class FakeCollection {
  readonly objects = new Map<string, KubernetesObject>();
  private version = 100;
  readonly watches: StubResponse[] = [];
  /** Continue tokens the server refuses as expired (410). */
  readonly expired = new Set<string>();
  /** Answers to give list requests before serving them (status codes). */
  readonly listFailures: number[] = [];

  put(name: string): KubernetesObject {
    const stored = object(name, String(++this.version));
    this.objects.set(name, stored);
    return stored;
  }

  get resourceVersion(): string {
    return String(this.version);
  }

  send(type: string, sent: unknown): void {
    for (const watch of this.watches) watch.write(`${JSON.stringify({ type, object: sent })}\n`);
  }

  endWatches(): void {
    for (const watch of this.watches.splice(0)) watch.end();
  }

  handle(request: StubRequest, response: StubResponse): void {
    if (request.query.watch === '1') {
      response.writeHead(200, { 'content-type': 'application/json' });
      this.watches.push(response);
      return;
    }
    const failure = this.listFailures.shift();
    if (failure) return json(response, failure, { kind: 'Status', code: failure, message: `fake ${failure}` });
    const token = request.query.continue;
    if (token && this.expired.delete(token)) return json(response, 410, { kind: 'Status', code: 410, reason: 'Expired', message: 'continue token expired' });
    const offset = token ? Number(token.split(':')[1]) : 0;
    const limit = Number(request.query.limit);
    const all = [...this.objects.values()].sort((a, b) => (a.metadata?.name ?? '').localeCompare(b.metadata?.name ?? ''));
    const items = all.slice(offset, offset + limit).map((item) => ({ ...item, metadata: { ...item.metadata } }));
    const next = offset + limit < all.length ? `${this.resourceVersion}:${offset + limit}` : undefined;
    json(response, 200, { kind: 'SecretList', apiVersion: 'v1', metadata: { resourceVersion: this.resourceVersion, ...(next ? { continue: next } : {}) }, items });
  }
}

const until = async (condition: () => boolean, what: string) => {
  for (let waited = 0; !condition(); waited += 10) {
    if (waited > 5000) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
};

describe('ResilientInformer', () => {
  let stub: HttpStub | undefined;
  let informer: ResilientInformer<KubernetesObject> | undefined;
  afterEach(async () => {
    await informer?.stop();
    await stub?.close();
    [informer, stub] = [undefined, undefined];
  });

  async function started(collection: FakeCollection, options: { minRestartDelayMs?: number } = {}) {
    stub = await startHttpStub((request, response) => collection.handle(request, response));
    const changes: string[] = [];
    const warnings: unknown[] = [];
    const log = { warn: (fields: unknown) => warnings.push(fields) } as unknown as Logger;
    informer = new ResilientInformer<KubernetesObject>(stub.client(), {
      name: 'secrets',
      path: '/api/v1/namespaces/ns/secrets',
      labelSelector: 'app=wno',
      log,
      onChange: (changed, type: ChangeType) => changes.push(`${type} ${changed.metadata?.name}`),
      ...options,
    });
    await informer.start();
    const requests = () => stub?.requests ?? [];
    const lists = () => requests().filter((request) => request.query.watch === undefined);
    const watches = () => requests().filter((request) => request.query.watch === '1');
    return { informer, changes, warnings, lists, watches };
  }

  test('lists in pages, without managedFields, then watches from the list with bookmarks', async () => {
    const collection = new FakeCollection();
    for (let i = 0; i < 1200; i++) collection.put(`s-${String(i).padStart(4, '0')}`);
    const { informer: running, changes, lists, watches } = await started(collection);
    expect(lists().map((request) => request.query)).toEqual([
      { limit: String(PAGE_SIZE), labelSelector: 'app=wno' },
      { limit: String(PAGE_SIZE), labelSelector: 'app=wno', continue: '1300:500' },
      { limit: String(PAGE_SIZE), labelSelector: 'app=wno', continue: '1300:1000' },
    ]);
    expect(changes).toHaveLength(1200);
    expect(running.list('ns')).toHaveLength(1200);
    const cached = running.get('s-0000', 'ns');
    expect(cached?.metadata?.managedFields).toBeUndefined();
    // Items of a list get the kind and apiVersion that watch events carry.
    expect([cached?.kind, cached?.apiVersion]).toEqual(['Secret', 'v1']);
    await until(() => watches().length === 1, 'the watch');
    expect(watches()[0]?.query).toMatchObject({ watch: '1', resourceVersion: '1300', allowWatchBookmarks: 'true', labelSelector: 'app=wno' });
  });

  test('watch events change the cache; a watch that ends resumes from the last resourceVersion seen, a bookmark included', async () => {
    const collection = new FakeCollection();
    collection.put('a');
    collection.put('b');
    const { informer: running, changes, lists, watches } = await started(collection);
    changes.length = 0;
    await until(() => collection.watches.length === 1, 'the watch');
    collection.send('MODIFIED', collection.put('a'));
    collection.send('ADDED', collection.put('c'));
    collection.objects.delete('b');
    collection.send('DELETED', object('b', '105'));
    collection.send('BOOKMARK', { metadata: { resourceVersion: '200' } });
    await until(() => changes.length === 3, 'the events');
    expect(changes).toEqual(['update a', 'add c', 'delete b']);
    expect(running.list().map((kept) => `${kept.metadata?.name}@${kept.metadata?.resourceVersion}`).sort()).toEqual(['a@103', 'c@104']);
    collection.endWatches();
    await until(() => watches().length === 2, 'the resumed watch');
    expect(watches()[1]?.query.resourceVersion).toBe('200');
    expect(lists()).toHaveLength(1);
  });

  const gone = { kind: 'Status', code: 410, reason: 'Expired', message: 'too old resource version' };

  test('410 Gone lists again at once, and reports only what changed meanwhile', async () => {
    const collection = new FakeCollection();
    for (const name of ['same', 'changed', 'vanished']) collection.put(name);
    const { changes, lists, warnings } = await started(collection);
    changes.length = 0;
    await until(() => collection.watches.length === 1, 'the watch');
    collection.send('BOOKMARK', { metadata: { resourceVersion: collection.resourceVersion } });
    // Missed while the watch was away: only a relist sees these.
    collection.put('changed');
    collection.put('new');
    collection.objects.delete('vanished');
    collection.send('ERROR', gone);
    await until(() => changes.length === 3, 'the relist');
    expect(changes).toEqual(['update changed', 'add new', 'delete vanished']);
    expect(lists()).toHaveLength(2);
    expect(warnings).toEqual([]);
  });

  test('a watch refused with 410 before it delivered anything lists again only after a pause', async () => {
    const collection = new FakeCollection();
    collection.put('a');
    const { lists, warnings } = await started(collection, { minRestartDelayMs: 10 });
    await until(() => collection.watches.length === 1, 'the watch');
    collection.send('ERROR', gone);
    await until(() => lists().length === 2, 'the relist');
    expect(warnings).toEqual([{ informer: 'secrets', error: 'HTTP 410: too old resource version', retryInMs: 10 }]);
  });

  test('a dropped connection resumes the watch where it was, after a pause, without listing again', async () => {
    const collection = new FakeCollection();
    collection.put('a');
    const { changes, lists, watches, warnings } = await started(collection, { minRestartDelayMs: 10 });
    await until(() => collection.watches.length === 1, 'the watch');
    collection.send('MODIFIED', collection.put('a'));
    await until(() => changes.length === 2, 'the event');
    collection.watches.length = 0;
    stub?.dropConnections();
    await until(() => watches().length === 2, 'the resumed watch');
    expect(watches()[1]?.query.resourceVersion).toBe('102');
    expect(lists()).toHaveLength(1);
    expect(warnings).toHaveLength(1);
  });

  test('a continue token that expired restarts the list from the start', async () => {
    const collection = new FakeCollection();
    for (let i = 0; i < PAGE_SIZE + 10; i++) collection.put(`s-${String(i).padStart(4, '0')}`);
    collection.expired.add(`${collection.resourceVersion}:${PAGE_SIZE}`);
    const { informer: running, lists, warnings } = await started(collection);
    expect(lists().map((request) => request.query.continue)).toEqual([undefined, `${collection.resourceVersion}:${PAGE_SIZE}`, undefined, `${collection.resourceVersion}:${PAGE_SIZE}`]);
    expect(running.list()).toHaveLength(PAGE_SIZE + 10);
    expect(warnings).toEqual([]);
  });

  test('errors back off, doubling, and the informer keeps trying until it has listed', async () => {
    const collection = new FakeCollection();
    collection.put('a');
    collection.listFailures.push(503, 403, 500);
    const { informer: running, warnings } = await started(collection, { minRestartDelayMs: 10 });
    expect(warnings).toEqual([
      { informer: 'secrets', error: 'HTTP 503: fake 503', retryInMs: 10 },
      { informer: 'secrets', error: 'HTTP 403: fake 403', retryInMs: 20 },
      { informer: 'secrets', error: 'HTTP 500: fake 500', retryInMs: 40 },
    ]);
    expect(running.get('a', 'ns')).toBeDefined();
  });
});
