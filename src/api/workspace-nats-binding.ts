// The WorkspaceNatsBinding kind: a rule that gives every workspace of one source in its namespace a
// WorkspaceNatsAccess of its own, and has the pod webhook mount the credentials into the
// workspace's pod. Namespaced, because owner references (workspace -> access) cannot cross
// namespaces, and so that RBAC can grant it per namespace of workspaces.

import type { FromSchema } from 'json-schema-to-ts';
import { conditionsSchema, labelSelectorSchema, observedGenerationSchema } from './common-schemas.ts';
import type { ObjectMeta } from './object-meta.ts';
import { renewalMarginRule, workspaceNatsAccessSpecSchema } from './workspace-nats-access.ts';

const LABEL_KEY_PATTERN = String.raw`^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*/)?[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$`;

const labelKey = (description: string) => ({ type: 'string', description, maxLength: 317, pattern: LABEL_KEY_PATTERN }) as const;

/** Pod label conventions of the workspace products the README describes. */
export const POD_PRESETS = ['GitPod', 'Coder', 'DevPod'] as const;

const access = workspaceNatsAccessSpecSchema.properties;

export const workspaceNatsBindingSpecSchema = {
  type: 'object',
  description: 'Which workspaces get NATS credentials, and what each one gets.',
  additionalProperties: false,
  required: ['source', 'template'],
  properties: {
    source: {
      type: 'object',
      description: 'Where workspaces come from: GitPod Workspace objects, or pods. Exactly one.',
      additionalProperties: false,
      'x-kubernetes-validations': [
        { rule: 'has(self.gitpod) != has(self.pods)', message: 'set exactly one of source.gitpod and source.pods' },
      ],
      properties: {
        gitpod: {
          type: 'object',
          description:
            'GitPod (ws-manager-mk2) Workspace objects (workspace.gitpod.io/v1) in this namespace, one ' +
            'access per instance; their pods ws-<instance id> get the credentials mounted.',
          additionalProperties: false,
          properties: {
            types: {
              type: 'array',
              description: 'Workspace types to bind (spec.type; default: all).',
              'x-kubernetes-list-type': 'set',
              maxItems: 3,
              items: { type: 'string', description: 'A workspace type.', enum: ['Regular', 'Prebuild', 'ImageBuild'] },
            },
          },
        },
        pods: {
          type: 'object',
          description:
            'Pods in this namespace, matched by labels: one access per value of the key label, ' +
            'while a pod with it exists. A preset sets the selector and labels of a product; ' +
            'fields set here override it.',
          additionalProperties: false,
          'x-kubernetes-validations': [
            {
              rule: 'has(self.preset) || (has(self.selector) && has(self.workspaceIdLabel))',
              message: 'without a preset, set selector and workspaceIdLabel',
            },
          ],
          properties: {
            preset: {
              type: 'string',
              description:
                'GitPod: labels component=workspace, workspaceID (key), metaID (id), owner. Coder: ' +
                'com.coder.workspace.id (key and id), com.coder.user.id (owner). DevPod: ' +
                'devpod.sh/workspace-uid (key and id).',
              enum: POD_PRESETS,
            },
            selector: labelSelectorSchema('The pods to bind.', 'pod'),
            keyLabel: labelKey(
              'Label whose value identifies one run of a workspace: a new value means new credentials (default: workspaceIdLabel).',
            ),
            workspaceIdLabel: labelKey('Label holding the workspace id ({{workspace.id}}).'),
            ownerLabel: labelKey('Label holding the owner ({{workspace.owner}}); optional.'),
          },
        },
      },
    },
    template: {
      type: 'object',
      description: 'The WorkspaceNatsAccess made for each workspace (workspace id, owner and ref come from it).',
      additionalProperties: false,
      required: ['issuerRef'],
      'x-kubernetes-validations': [renewalMarginRule('spec.template')],
      properties: {
        issuerRef: access.issuerRef,
        authCalloutRef: access.authCalloutRef,
        permissions: access.permissions,
        limits: access.limits,
        ttl: access.ttl,
        renewBefore: access.renewBefore,
      },
    },
    mount: {
      type: 'object',
      description: 'How the pod webhook mounts the Secret into the workspace pod.',
      additionalProperties: false,
      properties: {
        path: {
          type: 'string',
          description: 'Directory the whole Secret is mounted at, read-only (default /var/run/secrets/nats).',
          minLength: 2,
          maxLength: 256,
          pattern: '^/[^:]*$',
        },
        serviceAccountToken: {
          type: 'object',
          description:
            'Also project a ServiceAccount token for this audience into the directory (file `token`, ' +
            'NATS_TOKEN_FILE), rotated by the kubelet: for logins through an auth callout provider of ' +
            'kind KubernetesServiceAccount, so that the workspace holds no secret of its own.',
          additionalProperties: false,
          required: ['audience'],
          properties: {
            audience: { type: 'string', description: 'The token audience, e.g. nats.', minLength: 1, maxLength: 256 },
            expirationSeconds: {
              type: 'integer',
              description: 'Requested lifetime (default 3600; the kubelet renews at 80%).',
              minimum: 600,
              maximum: 86400,
            },
          },
        },
      },
    },
  },
} as const;

export const workspaceNatsBindingStatusSchema = {
  type: 'object',
  description: 'What the binder observed.',
  additionalProperties: false,
  properties: {
    conditions: conditionsSchema,
    observedGeneration: observedGenerationSchema,
    workspaces: { type: 'integer', description: 'Workspaces bound now (each with its WorkspaceNatsAccess).' },
  },
} as const;

export type WorkspaceNatsBindingSpec = FromSchema<typeof workspaceNatsBindingSpecSchema>;
export type WorkspaceNatsBindingStatus = FromSchema<typeof workspaceNatsBindingStatusSchema>;

export interface WorkspaceNatsBinding {
  apiVersion: string;
  kind: string;
  metadata: ObjectMeta;
  spec: WorkspaceNatsBindingSpec;
  status?: WorkspaceNatsBindingStatus;
}
