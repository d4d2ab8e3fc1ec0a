// Writes of this operator's own namespaced kinds (natsaccess.io/v1alpha1) through the
// custom-objects API: the group, version, plural and field manager said once, not at every call.
// Status writes go through status.ts.

import type { CustomObjectsApi } from './api.ts';
import { GROUP, VERSION } from '../api/constants.ts';
import type { ObjectMeta } from '../api/object-meta.ts';
import { succeeded } from './errors.ts';

interface Namespaced {
  metadata: ObjectMeta;
}

export class OwnObjects<T extends Namespaced> {
  private readonly customObjects: CustomObjectsApi;
  private readonly plural: string;
  private readonly fieldManager: string;

  constructor(customObjects: CustomObjectsApi, plural: string, fieldManager: string) {
    this.customObjects = customObjects;
    this.plural = plural;
    this.fieldManager = fieldManager;
  }

  async create(object: T): Promise<T> {
    return (await this.customObjects.createNamespacedCustomObject({ ...this.scope(object), body: object, fieldManager: this.fieldManager })) as T;
  }

  /** Replaces `object`, guarded by its resourceVersion when it carries one. */
  async replace(object: T): Promise<T> {
    return (await this.customObjects.replaceNamespacedCustomObject({
      ...this.scope(object),
      name: object.metadata.name,
      body: object,
      fieldManager: this.fieldManager,
    })) as T;
  }

  /** Deletes `object` if it is still the same one (uid); false when it was gone or replaced. */
  delete(object: T): Promise<boolean> {
    const body = { preconditions: { uid: object.metadata.uid } };
    return succeeded(this.customObjects.deleteNamespacedCustomObject({ ...this.scope(object), name: object.metadata.name, body }), [404, 409]);
  }

  private scope(object: T) {
    return { group: GROUP, version: VERSION, plural: this.plural, namespace: object.metadata.namespace ?? '' };
  }
}
