// The workspace binder: for each WorkspaceNatsBinding, one WorkspaceNatsAccess per running
// workspace of its source, owned by the workspace object; deleted (and so revoked) when the
// workspace stops or goes, when it no longer matches, or when the binding goes. Level-triggered per
// binding: it lists the source and the binding's accesses from caches and writes the difference,
// so workspaces that vanished while the operator was down are found on its first pass.

import type { CustomObjectsApi, V1Pod } from '@kubernetes/client-node';
import { isDeepStrictEqual } from 'node:util';
import { ACCESS_PLURAL, BINDING_LABEL, BINDING_PLURAL, GROUP, VERSION } from '../api/constants.ts';
import { READY } from '../api/reasons.ts';
import type { WorkspaceNatsAccess } from '../api/workspace-nats-access.ts';
import type { WorkspaceNatsBinding } from '../api/workspace-nats-binding.ts';
import type { Lister, OnDemandLister } from '../kube/lister.ts';
import { updateStatus } from '../kube/status.ts';
import { describeError, isConflict, isNotFound, statusCode } from '../kube/errors.ts';
import type { ReconcileResult } from '../kube/workqueue.ts';
import type { Logger } from '../log.ts';
import { desiredAccess, gitpodWorkspaces, podWorkspaces, type GitpodWorkspace } from '../policy/bound-workspaces.ts';

export interface BinderDeps {
  customObjects: CustomObjectsApi;
  bindings: Lister<WorkspaceNatsBinding>;
  accesses: Lister<WorkspaceNatsAccess>;
  gitpodWorkspaces: OnDemandLister<GitpodWorkspace>;
  pods: OnDemandLister<V1Pod>;
  log: Logger;
  fieldManager: string;
}

/** What the binder may change on an existing access (its issuer and workspace id are immutable). */
const mutable = (access: WorkspaceNatsAccess) => ({
  owners: (access.metadata.ownerReferences ?? []).map((ref) => ref.uid).sort(),
  workspace: access.spec.workspace,
  permissions: access.spec.permissions,
  limits: access.spec.limits,
  ttl: access.spec.ttl,
  renewBefore: access.spec.renewBefore,
});

export class Binder {
  private readonly deps: BinderDeps;

  constructor(deps: BinderDeps) {
    this.deps = deps;
  }

  /** Reconciles the binding `namespace/name` (which may be gone: then its accesses go). */
  async reconcile(key: string): Promise<ReconcileResult> {
    const [namespace = '', name = ''] = key.split('/');
    const binding = this.deps.bindings.get(name, namespace);
    const owned = this.deps.accesses.list(namespace).filter((access) => access.metadata.labels?.[BINDING_LABEL] === name);
    if (!binding || binding.metadata.deletionTimestamp) {
      for (const access of owned) await this.deleteAccess(access, `its WorkspaceNatsBinding ${name} is gone`);
      return {};
    }
    const source = binding.spec.source.gitpod ? this.deps.gitpodWorkspaces.ready() : this.deps.pods.ready();
    // The source's cache starts on first use; its sync wakes every binding again.
    if (!source) {
      const what = binding.spec.source.gitpod ? 'GitPod Workspaces (workspace.gitpod.io/v1; is its CRD installed?)' : 'pods';
      await this.writeStatus(binding, {
        status: 'False',
        reason: 'SourceNotReady',
        message: `Waiting for the first list of ${what}; the operator log says why if it fails`,
      });
      return {};
    }
    const workspaces = binding.spec.source.gitpod
      ? gitpodWorkspaces(binding, source.list(namespace) as GitpodWorkspace[])
      : podWorkspaces(binding, source.list(namespace) as V1Pod[]);
    const wanted = new Map(
      workspaces.filter((workspace) => workspace.active).map((workspace) => {
        const access = desiredAccess(binding, workspace);
        return [access.metadata.name, access] as const;
      }),
    );

    // What the API server refused to store (a template it rejects, say), for the status.
    const refused: string[] = [];
    for (const access of owned) {
      const desired = wanted.get(access.metadata.name);
      if (!desired) {
        await this.deleteAccess(access, 'its workspace stopped or is gone');
      } else if (access.spec.issuerRef.name !== desired.spec.issuerRef.name || access.spec.workspace.id !== desired.spec.workspace.id) {
        // Immutable fields: replaced on the next pass.
        await this.deleteAccess(access, 'its binding or workspace changed what cannot be changed in place');
      } else if (!isDeepStrictEqual(mutable(access), mutable(desired))) {
        const { issuerRef: _issuer, ...changes } = desired.spec;
        refused.push(
          ...(await this.write(access.metadata.name, () =>
            this.deps.customObjects.replaceNamespacedCustomObject({
              group: GROUP,
              version: VERSION,
              plural: ACCESS_PLURAL,
              namespace,
              name: access.metadata.name,
              body: {
                ...access,
                metadata: { ...access.metadata, ownerReferences: desired.metadata.ownerReferences },
                spec: { issuerRef: access.spec.issuerRef, ...changes, ...(access.spec.secret ? { secret: access.spec.secret } : {}) },
              },
              fieldManager: this.deps.fieldManager,
            }),
          )),
        );
      }
    }
    const existing = new Set(owned.map((access) => access.metadata.name));
    for (const [accessName, desired] of wanted) {
      if (existing.has(accessName)) continue;
      const problems = await this.write(accessName, () =>
        this.deps.customObjects.createNamespacedCustomObject({
          group: GROUP,
          version: VERSION,
          plural: ACCESS_PLURAL,
          namespace,
          body: desired,
          fieldManager: this.deps.fieldManager,
        }),
      );
      refused.push(...problems);
      if (problems.length === 0) this.deps.log.info({ binding: key, access: accessName }, 'created WorkspaceNatsAccess for workspace');
    }
    const count = wanted.size - refused.length;
    if (refused.length > 0) {
      await this.writeStatus(binding, { status: 'False', reason: 'AccessRefused', message: refused.join('; ') }, count);
      return { retry: true };
    }
    await this.writeStatus(binding, { status: 'True', reason: 'Bound', message: `${count} workspace${count === 1 ? '' : 's'} bound` }, count);
    return {};
  }

  private async deleteAccess(access: WorkspaceNatsAccess, why: string) {
    if (access.metadata.deletionTimestamp) return;
    try {
      await this.deps.customObjects.deleteNamespacedCustomObject({
        group: GROUP,
        version: VERSION,
        plural: ACCESS_PLURAL,
        namespace: access.metadata.namespace ?? '',
        name: access.metadata.name,
        body: { preconditions: { uid: access.metadata.uid } },
      });
      this.deps.log.info({ access: `${access.metadata.namespace}/${access.metadata.name}` }, `deleted WorkspaceNatsAccess: ${why}`);
    } catch (error) {
      if (!isNotFound(error) && !isConflict(error)) throw error;
    }
  }

  /**
   * Runs a write of access `name`. One that raced another (409) or whose object is gone (404) is
   * left to the next pass; one the API server refuses (422) is returned as a problem to report.
   */
  private async write(name: string, call: () => Promise<unknown>): Promise<string[]> {
    try {
      await call();
    } catch (error) {
      if (statusCode(error) === 422) return [`WorkspaceNatsAccess ${name}: ${describeError(error)}`];
      if (!isConflict(error) && !isNotFound(error)) throw error;
      this.deps.log.debug({ error: describeError(error) }, 'binder write raced another');
    }
    return [];
  }

  private async writeStatus(
    binding: WorkspaceNatsBinding,
    ready: { status: 'True' | 'False'; reason: string; message: string },
    workspaces?: number,
  ) {
    await updateStatus(
      { customObjects: this.deps.customObjects, plural: BINDING_PLURAL, fieldManager: this.deps.fieldManager },
      binding,
      { type: READY, ...ready },
      workspaces === undefined ? {} : { workspaces },
      new Date(),
    );
  }
}
