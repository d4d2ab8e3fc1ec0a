// Creating an object, or replacing it if it exists: a small `kubectl apply` for objects this
// process owns entirely (no merging with fields others set). Generic: any kind, by its API path.

import { isNotFound } from './errors.ts';
import { resourcePath } from './api.ts';
import type { KubeTransport } from './transport.ts';

export interface AppliedObject {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string; resourceVersion?: string };
}

export type ApplyOutcome = 'created' | 'replaced' | 'unchanged';

/**
 * Creates `object` or replaces the one of its name, keeping what the API server needs to accept
 * a replacement (resourceVersion). `plural` is its resource name (`secrets`, `clusternatsissuers`).
 * A Namespace that exists is left as it is: it holds nothing to replace.
 */
export async function createOrReplace(transport: KubeTransport, object: AppliedObject, plural: string, fieldManager: string): Promise<ApplyOutcome> {
  const base = object.apiVersion.includes('/') ? `/apis/${object.apiVersion}` : `/api/${object.apiVersion}`;
  const { name, namespace } = object.metadata;
  const path = resourcePath(base, plural, namespace, name);
  let existing: AppliedObject | undefined;
  try {
    existing = await transport.request<AppliedObject>('GET', path);
  } catch (error) {
    if (!isNotFound(error)) throw error;
  }
  const query = { fieldManager };
  if (!existing) {
    await transport.request('POST', resourcePath(base, plural, namespace), { query, body: object });
    return 'created';
  }
  if (object.kind === 'Namespace') return 'unchanged';
  const body = { ...object, metadata: { ...object.metadata, resourceVersion: existing.metadata.resourceVersion } };
  await transport.request('PUT', path, { query, body });
  return 'replaced';
}
