// When each access in a namespace became Ready, got its Secret, or was gone, as the API server
// reported it on watches. The same observer times the operator and the plain client, so the two are
// measured alike: only the writer differs. One observer per phase: the client library ends a watch
// after 30 s without data, and an observer whose watch ends fails every wait, so a broken run
// cannot pass for a slow one.

import { Watch, type KubeConfig } from '@kubernetes/client-node';
import { ACCESS_NAME_LABEL, ACCESS_PLURAL, GROUP, MANAGED_BY_LABEL, MANAGED_BY_VALUE, VERSION } from '../src/api/constants.ts';
import { READY } from '../src/api/reasons.ts';
import type { WorkspaceNatsAccess } from '../src/api/workspace-nats-access.ts';

/** First arrival time (performance.now()) per name; waits fail once `fail` was called. */
class Arrivals {
  private readonly entries = new Map<string, { at?: number; promise: Promise<number>; resolve: (at: number) => void }>();
  private readonly failed: Promise<never>;
  private rejectAll: (error: Error) => void = () => undefined;

  constructor() {
    this.failed = new Promise<never>((_, reject) => (this.rejectAll = reject));
    this.failed.catch(() => undefined); // reported through when()
  }

  mark(name: string, at: number): void {
    const entry = this.entry(name);
    if (entry.at !== undefined) return;
    entry.at = at;
    entry.resolve(at);
  }

  has(name: string): boolean {
    return this.entries.get(name)?.at !== undefined;
  }

  when(name: string): Promise<number> {
    return Promise.race([this.entry(name).promise, this.failed]);
  }

  fail(error: Error): void {
    this.rejectAll(error);
  }

  private entry(name: string) {
    let entry = this.entries.get(name);
    if (!entry) {
      let resolve: (at: number) => void = () => undefined;
      const promise = new Promise<number>((r) => (resolve = r));
      entry = { promise, resolve };
      this.entries.set(name, entry);
    }
    return entry;
  }
}

/** What the observer times: an access's Secret appearing; it being Ready=True with its Secret; it being deleted. */
export type Milestone = 'secret' | 'ready' | 'gone';

export interface Observer {
  /** When `name` reached `milestone` (performance.now()). */
  arrival(name: string, milestone: Milestone): Promise<number>;
  /** How many of `names` reached `milestone` so far. */
  count(names: readonly string[], milestone: Milestone): number;
  stop(): void;
}

export const isReady = (access: WorkspaceNatsAccess) =>
  access.status?.conditions?.some((c) => c.type === READY && c.status === 'True') ?? false;

/** Starts watching the accesses and the operator-labelled Secrets of `namespace`. */
export async function observe(kubeConfig: KubeConfig, namespace: string): Promise<Observer> {
  const [readyAt, secretAt, goneAt] = [new Arrivals(), new Arrivals(), new Arrivals()];
  let stopping = false;
  const ended = (what: string) => (error: unknown) => {
    if (stopping) return;
    const cause = error ? `: ${error instanceof Error ? error.message : String(error)}` : '';
    const failure = new Error(`the watch of ${what} in ${namespace} ended during the run${cause}`);
    for (const arrivals of [readyAt, secretAt, goneAt]) arrivals.fail(failure);
  };
  const watch = new Watch(kubeConfig);
  const watches = [
    await watch.watch(
      `/apis/${GROUP}/${VERSION}/namespaces/${namespace}/${ACCESS_PLURAL}`,
      {},
      (type: string, access: WorkspaceNatsAccess) => {
        const at = performance.now();
        if (type === 'DELETED') goneAt.mark(access.metadata.name, at);
        else if (isReady(access)) readyAt.mark(access.metadata.name, at);
      },
      ended('accesses'),
    ),
    await watch.watch(
      `/api/v1/namespaces/${namespace}/secrets`,
      { labelSelector: `${MANAGED_BY_LABEL}=${MANAGED_BY_VALUE}` },
      (type: string, secret: { metadata?: { labels?: Record<string, string> } }) => {
        const name = secret.metadata?.labels?.[ACCESS_NAME_LABEL];
        if (type === 'ADDED' && name) secretAt.mark(name, performance.now());
      },
      ended('Secrets'),
    ),
  ];
  const reached = (name: string, milestone: Milestone) =>
    milestone === 'ready' ? readyAt.has(name) && secretAt.has(name) : (milestone === 'gone' ? goneAt : secretAt).has(name);
  return {
    arrival: async (name, milestone) => {
      if (milestone === 'gone') return goneAt.when(name);
      if (milestone === 'secret') return secretAt.when(name);
      return Math.max(...(await Promise.all([readyAt.when(name), secretAt.when(name)])));
    },
    count: (names, milestone) => names.filter((name) => reached(name, milestone)).length,
    stop: () => {
      stopping = true;
      for (const controller of watches) controller.abort();
    },
  };
}
