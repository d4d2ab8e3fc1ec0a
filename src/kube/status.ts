// Writing the status of this operator's own kinds: the next status from a Ready condition and
// fields, written through the status subresource only when it differs from what is stored, so that
// a reconcile that changes nothing writes nothing.

import type { CustomObjectsApi } from './api.ts';
import { isDeepStrictEqual } from 'node:util';
import { GROUP, VERSION } from '../api/constants.ts';
import type { ObjectMeta } from '../api/object-meta.ts';
import type { Condition } from '../api/workspace-nats-access.ts';
import { nextStatus, type ConditionUpdate, type StatusFields } from './conditions.ts';

export interface StatusWriter {
  customObjects: CustomObjectsApi;
  /** Plural of the kind (natsaccess.io/v1alpha1). */
  plural: string;
  fieldManager: string;
}

interface WithStatus<S> {
  metadata: ObjectMeta;
  status?: S;
}

/**
 * Writes `object`'s status with `ready` and `fields` at its generation, if that changes it, and
 * returns the object the API server stored (undefined when nothing was written).
 */
export async function updateStatus<S extends { conditions?: Condition[]; observedGeneration?: number }>(
  writer: StatusWriter,
  object: WithStatus<S>,
  ready: ConditionUpdate,
  fields: StatusFields<S>,
  now: Date,
): Promise<WithStatus<S> | undefined> {
  const current = object.status ?? ({} as S);
  const status = nextStatus(current, ready, fields, object.metadata.generation ?? 0, now);
  if (isDeepStrictEqual(status, current)) return undefined;
  const { name, namespace } = object.metadata;
  const request = { group: GROUP, version: VERSION, plural: writer.plural, name, body: { ...object, status }, fieldManager: writer.fieldManager };
  return (await (namespace
    ? writer.customObjects.replaceNamespacedCustomObjectStatus({ ...request, namespace })
    : writer.customObjects.replaceClusterCustomObjectStatus(request))) as WithStatus<S>;
}
