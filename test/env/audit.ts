// Counting what a client (the operator, or the benchmark's plain client) wrote to the API server:
// from the audit log of the API server the test environment starts (every write request, even one
// that changed nothing), and, on any cluster, from the resourceVersions of the objects it manages.
// Used by the e2e tests and `npm run benchmark`.

import type { CoreV1Api, CustomObjectsApi } from '@kubernetes/client-node';
import { readFileSync, statSync } from 'node:fs';
import { ACCESS_PLURAL, GROUP, VERSION } from '../../src/api/constants.ts';

const WRITE_VERBS = new Set(['create', 'update', 'patch', 'delete', 'deletecollection']);

interface AuditEvent {
  stage: string;
  verb: string;
  user: { username: string };
  objectRef?: { resource?: string; subresource?: string; namespace?: string; name?: string };
  responseStatus?: { code?: number };
}

/** The current end of the audit log: pass it to writesSince() to count what came after. */
export function auditOffset(path: string): number {
  return statSync(path).size;
}

/**
 * Write requests by `username` to objects in `namespace` (in any namespace, or none, when it is
 * omitted), logged after `offset`, as "verb resource/subresource ns/name code" (a refused write,
 * such as a conflict, counts too).
 */
export function writesSince(path: string, offset: number, username: string, namespace?: string): string[] {
  return writesBetween(path, offset, auditOffset(path), username, namespace);
}

/** As writesSince(), for the requests logged between offsets `from` and `to`. */
export function writesBetween(path: string, from: number, to: number, username: string, namespace?: string): string[] {
  const text = readFileSync(path).subarray(from, to).toString('utf8');
  return text
    .split('\n')
    .filter((line) => line.trim() !== '')
    .map((line) => JSON.parse(line) as AuditEvent)
    .filter(
      (e) =>
        e.stage === 'ResponseComplete' &&
        e.user.username === username &&
        (namespace === undefined || e.objectRef?.namespace === namespace) &&
        WRITE_VERBS.has(e.verb),
    )
    .map((e) => {
      const ref = e.objectRef ?? {};
      const resource = ref.subresource ? `${ref.resource}/${ref.subresource}` : ref.resource;
      return `${e.verb} ${resource} ${ref.namespace ?? ''}/${ref.name ?? ''} ${e.responseStatus?.code ?? '?'}`;
    });
}

/** "kind/name" to resourceVersion of the accesses, Secrets and Events in `namespace`. */
export async function objectVersions(
  core: CoreV1Api,
  custom: CustomObjectsApi,
  namespace: string,
): Promise<Map<string, string>> {
  const accesses = (await custom.listNamespacedCustomObject({ group: GROUP, version: VERSION, plural: ACCESS_PLURAL, namespace })) as {
    items: { metadata: { name: string; resourceVersion: string } }[];
  };
  const secrets = await core.listNamespacedSecret({ namespace });
  const events = await core.listNamespacedEvent({ namespace });
  const versions = new Map<string, string>();
  for (const a of accesses.items) versions.set(`access/${a.metadata.name}`, a.metadata.resourceVersion);
  for (const s of secrets.items) versions.set(`secret/${s.metadata?.name}`, s.metadata?.resourceVersion ?? '');
  for (const e of events.items) versions.set(`event/${e.metadata?.name}`, e.metadata?.resourceVersion ?? '');
  return versions;
}
