// What the callout decides from, watched by every replica: the accesses (indexed by workspace id
// and by the object they were bound to, counting only those that use a callout), the issuers and
// the namespaces' labels (for the issuers' namespace selectors). Started with the first callout.

import type { V1Namespace } from '@kubernetes/client-node';
import type { ClusterNatsIssuer } from '../api/cluster-nats-issuer.ts';
import { ACCESS_PLURAL, GROUP, ISSUER_PLURAL, VERSION } from '../api/constants.ts';
import type { WorkspaceNatsAccess } from '../api/workspace-nats-access.ts';
import { customResourcePath, type KubeClient } from '../kube/api.ts';
import { ResilientInformer } from '../kube/informer.ts';
import { customResourceInformers } from '../kube/merged-informers.ts';
import { ObjectIndex } from '../kube/object-index.ts';
import type { Logger } from '../log.ts';
import type { CalloutView } from './authorize.ts';

export class CalloutCaches {
  /** Resolves once every cache has synced. */
  readonly synced: Promise<void>;
  readonly #byWorkspace = new ObjectIndex<WorkspaceNatsAccess>((access) => (access.spec.authCalloutRef ? access.spec.workspace.id : undefined));
  readonly #byObject = new ObjectIndex<WorkspaceNatsAccess>((access) => (access.spec.authCalloutRef ? access.spec.workspace.ref?.uid : undefined));
  readonly #issuers: ResilientInformer<ClusterNatsIssuer>;
  readonly #namespaces: ResilientInformer<V1Namespace>;
  readonly #informers: { start(): Promise<void>; stop(): Promise<void> }[];

  /** `workspaceNamespaces`: the namespaces served, or none for all. */
  constructor(client: KubeClient, workspaceNamespaces: readonly string[], log: Logger) {
    const scopes = workspaceNamespaces.length > 0 ? workspaceNamespaces : [undefined];
    const accesses = customResourceInformers<WorkspaceNatsAccess>(client, { group: GROUP, version: VERSION, plural: ACCESS_PLURAL }, scopes, {
      log,
      onChange: (access, type) => {
        this.#byWorkspace.update(access, type);
        this.#byObject.update(access, type);
      },
    });
    this.#issuers = new ResilientInformer<ClusterNatsIssuer>(client, {
      name: `callout ${ISSUER_PLURAL}`,
      path: customResourcePath({ group: GROUP, version: VERSION, plural: ISSUER_PLURAL }, undefined),
      log,
      onChange: () => undefined,
    });
    this.#namespaces = new ResilientInformer<V1Namespace>(client, { name: 'callout namespaces', path: '/api/v1/namespaces', log, onChange: () => undefined });
    this.#informers = [...accesses.informers, this.#issuers, this.#namespaces];
    this.synced = Promise.all(this.#informers.map((informer) => informer.start())).then(() => undefined);
  }

  view(calloutName: string): CalloutView {
    return {
      calloutName,
      accessesOfWorkspace: (id) => this.#byWorkspace.get(id),
      accessesOfObject: (uid) => this.#byObject.get(uid),
      issuer: (name) => this.#issuers.get(name),
      namespaceLabels: (namespace) => this.#namespaces.get(namespace)?.metadata?.labels ?? {},
    };
  }

  async stop(): Promise<void> {
    await Promise.all(this.#informers.map((informer) => informer.stop()));
  }
}
