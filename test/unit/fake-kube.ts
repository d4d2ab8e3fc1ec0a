// Stand-ins for unit tests of the controllers: in-memory listers in place of informer caches, and a
// recording fake of the Kubernetes client APIs that answers every call the way an empty API server
// would (creates and replaces echo the body with a new resourceVersion, reads are 404, lists are
// empty) unless a test says otherwise. Tests assert the recorded calls: what a reconcile writes.

import { ApiError } from '../../src/kube/transport.ts';
import type { Lister } from '../../src/kube/lister.ts';

/** A cache holding `objects`, looked up by name and namespace. */
export class MemoryLister<T extends { metadata?: { name?: string; namespace?: string } }> implements Lister<T> {
  objects: T[];

  constructor(objects: T[] = []) {
    this.objects = objects;
  }

  get(name: string, namespace?: string): T | undefined {
    return this.objects.find((object) => object.metadata?.name === name && (namespace === undefined || object.metadata?.namespace === namespace));
  }

  list(namespace?: string): readonly T[] {
    return this.objects.filter((object) => namespace === undefined || object.metadata?.namespace === namespace);
  }

  /** Stores `object` in place of the one with its name and namespace, as a watch event would. */
  put(object: T): void {
    this.remove(object.metadata?.name ?? '', object.metadata?.namespace);
    this.objects.push(object);
  }

  remove(name: string, namespace?: string): void {
    this.objects = this.objects.filter((object) => object.metadata?.name !== name || object.metadata?.namespace !== namespace);
  }
}

export interface RecordedCall {
  method: string;
  args: Record<string, unknown>;
}

type Handler = (args: Record<string, unknown>) => unknown;

/** An API error as the operator's client throws it: the HTTP status, and the API server's Status. */
export const apiError = (code: number, message = `HTTP ${code}`) => new ApiError('GET /fake', code, { kind: 'Status', code, message });

export class RecordingApi {
  readonly calls: RecordedCall[] = [];
  private readonly handlers = new Map<string, Handler>();
  private version = 100;

  /** Answers `method` with `handler` (which may throw) instead of the default. */
  on(method: string, handler: Handler): this {
    this.handlers.set(method, handler);
    return this;
  }

  /** The client API, typed as `T` (CoreApi, CustomObjectsApi, ...). */
  client<T>(): T {
    return new Proxy(
      {},
      {
        get: (_target, method) => async (args: Record<string, unknown> = {}) => {
          const name = String(method);
          this.calls.push({ method: name, args });
          const handler = this.handlers.get(name);
          return handler ? handler(args) : this.answer(name, args);
        },
      },
    ) as T;
  }

  /** The recorded calls as `method name` lines, the shape most assertions want. */
  summary(): string[] {
    return this.calls.map(({ method, args }) => {
      const body = args.body as { metadata?: { name?: string; generateName?: string } } | undefined;
      const name = (args.name as string | undefined) ?? body?.metadata?.name ?? body?.metadata?.generateName ?? '';
      return `${method} ${name}`.trim();
    });
  }

  /** The bodies sent to `method`, in order: what a test feeds back into its listers. */
  bodies<T>(method: string): T[] {
    return this.calls.filter((call) => call.method === method).map((call) => call.args.body as T);
  }

  /** Calls that change something (everything but reads and lists). */
  writes(): string[] {
    return this.summary().filter((line) => !/^(read|list|get)/.test(line));
  }

  private answer(method: string, args: Record<string, unknown>): unknown {
    if (/^(read|get)/.test(method)) throw apiError(404);
    if (method.startsWith('list')) return { items: [] };
    if (method.startsWith('delete')) return {};
    const body = args.body as { metadata?: Record<string, unknown> } | undefined;
    return { ...body, metadata: { ...body?.metadata, resourceVersion: String(++this.version) } };
  }
}
