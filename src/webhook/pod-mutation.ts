// What the pod webhook does to a workspace pod: mounts its credentials Secret as a directory
// (GitPod passes only whole-Secret volumes into the workspace, not subPath mounts), read-only, into
// every container, with NATS_URL (from the Secret) and NATS_CREDS (the creds file's path); and, when
// the binding asks, a projected ServiceAccount token beside it for an auth callout (NATS_TOKEN_FILE). Both
// references to the Secret are optional, so a pod never waits on a Secret that does not come (the
// kubelet fills the volume in once it exists). Pure, and idempotent: a pod that already has the
// volume gets no patch.

import type { V1Container, V1Pod } from '@kubernetes/client-node';
import { CREDS_KEY, MOUNTED_SECRET_ANNOTATION, URL_KEY } from '../api/constants.ts';
import type { WorkspaceNatsBinding } from '../api/workspace-nats-binding.ts';
import { gitpodWorkspaces, podKey, secretNameFor, type GitpodWorkspace } from '../policy/bound-workspaces.ts';
import { byCodeUnits } from '../api/order.ts';

export const VOLUME_NAME = 'nats-credentials';
export const DEFAULT_MOUNT_PATH = '/var/run/secrets/nats';

export interface PatchOperation {
  op: 'add';
  path: string;
  value: unknown;
}

export interface PodMount {
  secretName: string;
  mountPath: string;
  /** Also project a ServiceAccount token with this audience and lifetime. */
  serviceAccountToken?: { audience: string; expirationSeconds?: number | undefined } | undefined;
}

/** The projected token's file in the mounted directory. */
export const TOKEN_FILE = 'token';

/**
 * The Secret a pod in the bindings' namespace gets, from the first binding (by name) that covers
 * it: a pod-source binding whose labels match, or a GitPod binding whose Workspace (named by the
 * pod's workspaceID label) is bound and running. `workspace` looks a GitPod Workspace up by name.
 */
export function mountFor(
  pod: V1Pod,
  bindings: readonly WorkspaceNatsBinding[],
  workspace: (name: string) => GitpodWorkspace | undefined,
): PodMount | undefined {
  const labels = pod.metadata?.labels ?? {};
  for (const binding of [...bindings].sort((a, b) => byCodeUnits(a.metadata.name, b.metadata.name))) {
    const mountPath = binding.spec.mount?.path ?? DEFAULT_MOUNT_PATH;
    const token = binding.spec.mount?.serviceAccountToken;
    const extra = token ? { serviceAccountToken: token } : {};
    if (binding.spec.source.pods) {
      const key = podKey(binding, pod);
      if (key) return { secretName: secretNameFor(binding, key), mountPath, ...extra };
      continue;
    }
    const instance = labels.workspaceID;
    const found = instance && labels.component === 'workspace' ? workspace(instance) : undefined;
    // Only a bound, running Workspace: a Secret that never comes would keep the pod from starting.
    if (found && gitpodWorkspaces(binding, [found]).some((bound) => bound.active)) {
      return { secretName: secretNameFor(binding, instance ?? ''), mountPath, ...extra };
    }
  }
  return undefined;
}

/** JSON Pointer escaping of one path token. */
const pointerToken = (text: string) => text.replace(/~/g, '~0').replace(/\//g, '~1');

/** The JSON patch that mounts `mount` into `pod`; empty when it is mounted already. */
export function mountPatch(pod: V1Pod, mount: PodMount): PatchOperation[] {
  if (pod.spec?.volumes?.some((volume) => volume.name === VOLUME_NAME)) return [];
  const ops: PatchOperation[] = [];
  const token = mount.serviceAccountToken;
  const volume = token
    ? {
        name: VOLUME_NAME,
        projected: {
          sources: [
            { secret: { name: mount.secretName, optional: true } },
            { serviceAccountToken: { audience: token.audience, expirationSeconds: token.expirationSeconds ?? 3600, path: TOKEN_FILE } },
          ],
        },
      }
    : { name: VOLUME_NAME, secret: { secretName: mount.secretName, optional: true } };
  ops.push(pod.spec?.volumes ? { op: 'add', path: '/spec/volumes/-', value: volume } : { op: 'add', path: '/spec/volumes', value: [volume] });
  const env = [
    { name: URL_KEY, valueFrom: { secretKeyRef: { name: mount.secretName, key: URL_KEY, optional: true } } },
    { name: 'NATS_CREDS', value: `${mount.mountPath.replace(/\/+$/, '')}/${CREDS_KEY}` },
    ...(token ? [{ name: 'NATS_TOKEN_FILE', value: `${mount.mountPath.replace(/\/+$/, '')}/${TOKEN_FILE}` }] : []),
  ];
  (pod.spec?.containers ?? []).forEach((container: V1Container, i) => {
    const volumeMount = { name: VOLUME_NAME, mountPath: mount.mountPath, readOnly: true };
    const base = `/spec/containers/${i}`;
    ops.push(
      container.volumeMounts
        ? { op: 'add', path: `${base}/volumeMounts/-`, value: volumeMount }
        : { op: 'add', path: `${base}/volumeMounts`, value: [volumeMount] },
    );
    // Variables the pod sets itself win.
    const missing = env.filter((variable) => !container.env?.some((existing) => existing.name === variable.name));
    if (missing.length === 0) return;
    if (!container.env) ops.push({ op: 'add', path: `${base}/env`, value: missing });
    else for (const variable of missing) ops.push({ op: 'add', path: `${base}/env/-`, value: variable });
  });
  ops.push(
    pod.metadata?.annotations
      ? { op: 'add', path: `/metadata/annotations/${pointerToken(MOUNTED_SECRET_ANNOTATION)}`, value: mount.secretName }
      : { op: 'add', path: '/metadata/annotations', value: { [MOUNTED_SECRET_ANNOTATION]: mount.secretName } },
  );
  return ops;
}
