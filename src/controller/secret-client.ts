// The access controller's calls on Secrets: read one by name, list an access's Secrets as the API
// server has them, write one (create, replace, or delete-and-create when someone made it
// immutable) and delete one guarded by its uid. No decisions: the plan says what to write.

import type { V1Secret } from '@kubernetes/client-node';
import { ACCESS_NAME_LABEL } from '../api/constants.ts';
import { Failure } from '../api/failure.ts';
import { Reason } from '../api/reasons.ts';
import type { WorkspaceNatsAccess } from '../api/workspace-nats-access.ts';
import type { CoreApi } from '../kube/api.ts';
import { describeError, statusCode, succeeded, unlessNotFound } from '../kube/errors.ts';
import { secretNameOf } from './access-secret.ts';

export class SecretClient {
  private readonly core: CoreApi;
  private readonly fieldManager: string;

  constructor(core: CoreApi, fieldManager: string) {
    this.core = core;
    this.fieldManager = fieldManager;
  }

  read(name: string, namespace: string): Promise<V1Secret | undefined> {
    return unlessNotFound(this.core.readNamespacedSecret({ name, namespace }));
  }

  /** The access's Secrets as the API server has them: by label, and by name (labels can go). */
  async liveOf(access: WorkspaceNatsAccess): Promise<V1Secret[]> {
    const namespace = access.metadata.namespace ?? '';
    const [{ items }, byName] = await Promise.all([
      this.core.listNamespacedSecret({ namespace, labelSelector: `${ACCESS_NAME_LABEL}=${access.metadata.name}` }),
      this.read(secretNameOf(access), namespace),
    ]);
    return byName && !items.some((secret) => secret.metadata?.uid === byName.metadata?.uid) ? [...items, byName] : items;
  }

  /**
   * Creates `wanted`, or replaces `existing` with it (guarded by its resourceVersion). A Secret the
   * API server refuses (a bad extra label, say) is an InvalidSpec Failure, with the API server's
   * message naming the field.
   */
  async write(wanted: V1Secret, existing: V1Secret | undefined): Promise<V1Secret> {
    const namespace = wanted.metadata?.namespace ?? '';
    const name = wanted.metadata?.name ?? '';
    try {
      if (existing?.immutable) {
        // Someone made it immutable: it can only be replaced by deleting it first.
        await this.delete(existing);
      } else if (existing) {
        return await this.core.replaceNamespacedSecret({ name, namespace, body: wanted, fieldManager: this.fieldManager });
      }
      const { resourceVersion: _ignored, ...metadata } = wanted.metadata ?? {};
      return await this.core.createNamespacedSecret({ namespace, body: { ...wanted, metadata }, fieldManager: this.fieldManager });
    } catch (error) {
      if (statusCode(error) !== 422) throw error;
      throw new Failure(Reason.InvalidSpec, `Secret ${name}: ${describeError(error)}`);
    }
  }

  /** Deletes `secret` if it is still the same object; false when it was gone already. */
  delete(secret: V1Secret): Promise<boolean> {
    const { name = '', namespace = '', uid } = secret.metadata ?? {};
    return succeeded(this.core.deleteNamespacedSecret({ name, namespace, body: { preconditions: { uid } } }), [404]);
  }
}
