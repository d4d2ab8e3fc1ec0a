// When each access in a namespace became Ready, got its Secret, or was gone, as the API server
// reported it, through the operator's own informers (which resume after a watch ends, as one does
// when the API server reinitialises a new CRD's storage, or after 30 s without data). The same
// observer times the operator and the plain client, so the two are measured alike: only the
// writer differs.

import type { V1Secret } from '@kubernetes/client-node';
import { ACCESS_NAME_LABEL, ACCESS_PLURAL, GROUP, MANAGED_BY_LABEL, MANAGED_BY_VALUE, VERSION } from '../src/api/constants.ts';
import { READY } from '../src/api/reasons.ts';
import type { WorkspaceNatsAccess } from '../src/api/workspace-nats-access.ts';
import { KubeClient } from '../src/kube/api.ts';
import { ResilientInformer } from '../src/kube/informer.ts';
import { kubeconfigFromFiles } from '../src/kube/kubeconfig.ts';
import { customResourcePath } from '../src/kube/api.ts';
import { benchLog } from './benchmark-setup.ts';

/** First arrival time (performance.now()) per name. */
class Arrivals {
  private readonly entries = new Map<string, { at?: number; promise: Promise<number>; resolve: (at: number) => void }>();

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
    return this.entry(name).promise;
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

export type Milestone = 'secret' | 'ready' | 'gone';

export interface Observer {
  /** When `name` reached `milestone` (performance.now()). */
  arrival(name: string, milestone: Milestone): Promise<number>;
  /** How many of `names` reached `milestone` so far. */
  count(names: readonly string[], milestone: Milestone): number;
  stop(): Promise<void>;
}

export const isReady = (access: WorkspaceNatsAccess) =>
  access.status?.conditions?.some((c) => c.type === READY && c.status === 'True') ?? false;

/** Starts watching the accesses and the operator-labelled Secrets of `namespace`. */
export async function observe(kubeconfigPath: string, namespace: string): Promise<Observer> {
  const [readyAt, secretAt, goneAt] = [new Arrivals(), new Arrivals(), new Arrivals()];
  const client = new KubeClient(kubeconfigFromFiles([kubeconfigPath]));
  const labelSelector = `${MANAGED_BY_LABEL}=${MANAGED_BY_VALUE}`;
  const informers = [
    new ResilientInformer<WorkspaceNatsAccess>(client, {
      name: `benchmark: accesses in ${namespace}`,
      path: customResourcePath({ group: GROUP, version: VERSION, plural: ACCESS_PLURAL }, namespace),
      log: benchLog,
      onChange: (access, type) => {
        const at = performance.now();
        if (type === 'delete') goneAt.mark(access.metadata.name, at);
        else if (isReady(access)) readyAt.mark(access.metadata.name, at);
      },
    }),
    new ResilientInformer<V1Secret>(client, {
      name: `benchmark: Secrets in ${namespace}`,
      path: `/api/v1/namespaces/${namespace}/secrets`,
      labelSelector,
      log: benchLog,
      onChange: (secret, type) => {
        const name = secret.metadata?.labels?.[ACCESS_NAME_LABEL];
        if (type !== 'delete' && name) secretAt.mark(name, performance.now());
      },
    }),
  ];
  await Promise.all(informers.map((informer) => informer.start()));
  const reached = (name: string, milestone: Milestone) =>
    milestone === 'ready' ? readyAt.has(name) && secretAt.has(name) : (milestone === 'gone' ? goneAt : secretAt).has(name);
  return {
    arrival: async (name, milestone) => {
      if (milestone === 'gone') return goneAt.when(name);
      if (milestone === 'secret') return secretAt.when(name);
      return Math.max(...(await Promise.all([readyAt.when(name), secretAt.when(name)])));
    },
    count: (names, milestone) => names.filter((name) => reached(name, milestone)).length,
    stop: async () => {
      await Promise.all(informers.map((informer) => informer.stop()));
      await client.transport.close();
    },
  };
}
