// What a WorkspaceNatsBinding binds: the workspaces its source describes (GitPod Workspace objects
// or labelled pods), the access each one should have, and which Secret a workspace pod gets. Pure.

import type { V1ObjectMeta, V1Pod } from '@kubernetes/client-node';
import { createHash } from 'node:crypto';
import {
  API_VERSION,
  ACCESS_KIND,
  BINDING_LABEL,
  MANAGED_BY_LABEL,
  MANAGED_BY_VALUE,
} from '../api/constants.ts';
import type { WorkspaceNatsAccess } from '../api/workspace-nats-access.ts';
import type { WorkspaceNatsBinding } from '../api/workspace-nats-binding.ts';
import { labelsMatch } from './issuer-policy.ts';
import { byCodeUnits } from '../api/order.ts';

/** A GitPod (ws-manager-mk2) Workspace object, as far as the binder reads it. */
export interface GitpodWorkspace {
  apiVersion?: string;
  kind?: string;
  metadata: V1ObjectMeta;
  spec?: { type?: string; ownership?: { workspaceID?: string; owner?: string } };
  status?: { phase?: string };
}

export interface ObjectRef {
  apiVersion: string;
  kind: string;
  name: string;
  uid: string;
}

/** One run of a workspace, which gets one access. */
export interface BoundWorkspace {
  /** Identifies the run (GitPod instance id, or the pod key label's value). */
  key: string;
  id: string;
  owner?: string;
  /** The object that represents the run: the Workspace, or its oldest live pod. */
  ref: ObjectRef;
  /** Every object the run lives in (its live pods), each an owner of the access. */
  owners: ObjectRef[];
  /** False once it stops (or is being deleted): its access is deleted. */
  active: boolean;
}

interface PodRules {
  selector: NonNullable<NonNullable<WorkspaceNatsBinding['spec']['source']['pods']>['selector']>;
  keyLabel: string;
  workspaceIdLabel: string;
  ownerLabel?: string;
}

const PRESETS: Record<string, PodRules> = {
  GitPod: {
    selector: { matchLabels: { component: 'workspace' }, matchExpressions: [{ key: 'workspaceID', operator: 'Exists' }] },
    keyLabel: 'workspaceID',
    workspaceIdLabel: 'metaID',
    ownerLabel: 'owner',
  },
  Coder: {
    selector: { matchExpressions: [{ key: 'com.coder.workspace.id', operator: 'Exists' }] },
    keyLabel: 'com.coder.workspace.id',
    workspaceIdLabel: 'com.coder.workspace.id',
    ownerLabel: 'com.coder.user.id',
  },
  DevPod: {
    selector: { matchExpressions: [{ key: 'devpod.sh/workspace-uid', operator: 'Exists' }] },
    keyLabel: 'devpod.sh/workspace-uid',
    workspaceIdLabel: 'devpod.sh/workspace-uid',
  },
};

/** The pod source's rules: its preset, overridden by what the binding sets. */
export function podRules(binding: WorkspaceNatsBinding): PodRules | undefined {
  const pods = binding.spec.source.pods;
  if (!pods) return undefined;
  const preset = pods.preset ? PRESETS[pods.preset] : undefined;
  const workspaceIdLabel = pods.workspaceIdLabel ?? preset?.workspaceIdLabel ?? '';
  const ownerLabel = pods.ownerLabel ?? preset?.ownerLabel;
  return {
    selector: pods.selector ?? preset?.selector ?? {},
    keyLabel: pods.keyLabel ?? (pods.workspaceIdLabel ? workspaceIdLabel : (preset?.keyLabel ?? workspaceIdLabel)),
    workspaceIdLabel,
    ...(ownerLabel ? { ownerLabel } : {}),
  };
}

/** A value fit for `{{workspace.id}}` and `{{workspace.owner}}`: anything else becomes `-`. */
const asId = (value: string) => value.replace(/[^A-Za-z0-9_-]/g, '-').slice(0, 128);

const STOPPED_PHASES = new Set(['stopping', 'stopped']);

/** The runs of GitPod workspaces the binding covers. */
export function gitpodWorkspaces(binding: WorkspaceNatsBinding, workspaces: readonly GitpodWorkspace[]): BoundWorkspace[] {
  const gitpod = binding.spec.source.gitpod;
  if (!gitpod) return [];
  const types = gitpod.types;
  const out: BoundWorkspace[] = [];
  for (const workspace of workspaces) {
    const { name, uid } = workspace.metadata;
    const id = workspace.spec?.ownership?.workspaceID;
    if (!name || !uid || !id) continue;
    if (types && !types.some((type) => type.toLowerCase() === workspace.spec?.type?.toLowerCase())) continue;
    const owner = workspace.spec?.ownership?.owner;
    const ref = { apiVersion: workspace.apiVersion ?? 'workspace.gitpod.io/v1', kind: workspace.kind ?? 'Workspace', name, uid };
    out.push({
      key: name,
      id: asId(id),
      ...(owner ? { owner: asId(owner) } : {}),
      ref,
      owners: [ref],
      active: !workspace.metadata.deletionTimestamp && !STOPPED_PHASES.has((workspace.status?.phase ?? '').toLowerCase()),
    });
  }
  return out;
}

/** The pod's key label value, when the binding's pod rules match it. */
export function podKey(binding: WorkspaceNatsBinding, pod: V1Pod): string | undefined {
  const rules = podRules(binding);
  const labels = pod.metadata?.labels ?? {};
  if (!rules || !labelsMatch(rules.selector, labels)) return undefined;
  const key = labels[rules.keyLabel];
  return key && labels[rules.workspaceIdLabel] ? key : undefined;
}

/**
 * The runs the binding's pod rules cover: one per key, active while a live pod has it, represented
 * by its oldest live pod and owned by all of them (so a pod replaced in a rolling update keeps the
 * access, and garbage collection acts only when the last one goes).
 */
export function podWorkspaces(binding: WorkspaceNatsBinding, pods: readonly V1Pod[]): BoundWorkspace[] {
  const rules = podRules(binding);
  if (!rules) return [];
  const byKey = new Map<string, V1Pod[]>();
  for (const pod of pods) {
    const key = podKey(binding, pod);
    if (!key || !pod.metadata?.name || !pod.metadata.uid) continue;
    byKey.set(key, [...(byKey.get(key) ?? []), pod]);
  }
  const isLive = (pod: V1Pod) => !pod.metadata?.deletionTimestamp && !['Succeeded', 'Failed'].includes(pod.status?.phase ?? '');
  const age = (pod: V1Pod) => `${new Date(pod.metadata?.creationTimestamp ?? 0).toISOString()}/${pod.metadata?.name}`;
  const refOf = (pod: V1Pod): ObjectRef => ({ apiVersion: 'v1', kind: 'Pod', name: pod.metadata?.name ?? '', uid: pod.metadata?.uid ?? '' });
  return [...byKey].map(([key, group]) => {
    const live = group.filter(isLive).sort((a, b) => byCodeUnits(age(a), age(b)));
    const first = live[0] ?? group[0]!;
    const labels = first.metadata?.labels ?? {};
    const owner = rules.ownerLabel ? labels[rules.ownerLabel] : undefined;
    return {
      key,
      id: asId(labels[rules.workspaceIdLabel] ?? key),
      ...(owner ? { owner: asId(owner) } : {}),
      ref: refOf(first),
      owners: (live.length > 0 ? live : [first]).map(refOf),
      active: live.length > 0,
    };
  });
}

/**
 * The access's name for run `key`: `<binding>-<key>-<hash>`, a DNS label of at most 63 characters.
 * The hash (of binding and key) keeps names apart where the readable part cannot: binding `a` with
 * key `b-c`, and binding `a-b` with key `c`, or keys that differ in case or in characters a name
 * cannot hold.
 */
export function accessNameFor(binding: WorkspaceNatsBinding, key: string): string {
  const hash = createHash('sha256').update(`${binding.metadata.name}/${key}`).digest('hex').slice(0, 8);
  const clean = key.toLowerCase().replace(/[^a-z0-9-]/g, '-');
  const readable = `${binding.metadata.name}-${clean}`.slice(0, 63 - hash.length - 1).replace(/-+$/, '');
  return `${readable}-${hash}`;
}

/** The Secret the access for run `key` writes (the access's default Secret name). */
export const secretNameFor = (binding: WorkspaceNatsBinding, key: string) => `${accessNameFor(binding, key)}-nats`;

/** The access the binding wants for `workspace`. */
export function desiredAccess(binding: WorkspaceNatsBinding, workspace: BoundWorkspace): WorkspaceNatsAccess {
  const { issuerRef, ...grant } = binding.spec.template;
  return {
    apiVersion: API_VERSION,
    kind: ACCESS_KIND,
    metadata: {
      name: accessNameFor(binding, workspace.key),
      namespace: binding.metadata.namespace ?? '',
      labels: {
        [MANAGED_BY_LABEL]: MANAGED_BY_VALUE,
        [BINDING_LABEL]: binding.metadata.name,
      },
      // The API server's garbage collector is the backstop should the binder miss a deletion.
      ownerReferences: workspace.owners.map((owner) => ({ ...owner, blockOwnerDeletion: false, controller: false })),
    },
    spec: {
      issuerRef,
      workspace: { id: workspace.id, ...(workspace.owner ? { owner: workspace.owner } : {}), ref: workspace.ref },
      ...grant,
    },
  };
}
