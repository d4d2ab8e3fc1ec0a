// The WorkspaceNatsAccess kind: one workspace's request for NATS credentials. Its schema is the
// source of the CRD (crds/) and of the TypeScript type used by the controller.

import type { FromSchema } from 'json-schema-to-ts';
import { connectionsStatusSchema } from './connections-status.ts';
import {
  conditionsSchema,
  connectionTypes,
  durationSchema,
  observedGenerationSchema,
  subjectPermissionSchema,
} from './common-schemas.ts';
import { DURATION_PATTERN, OBJECT_NAME_PATTERN } from './patterns.ts';
import type { ObjectMeta } from './object-meta.ts';


/** renewBefore must leave 5s of the ttl (on an access's spec, or a binding's template). */
export const renewalMarginRule = (path: string) =>
  ({
    rule:
      `!has(self.ttl) || !has(self.renewBefore) || !self.ttl.matches('${DURATION_PATTERN}') || ` +
      `!self.renewBefore.matches('${DURATION_PATTERN}') || ` +
      "duration(self.ttl) - duration(self.renewBefore) >= duration('5s')",
    message: `${path}.renewBefore must leave at least 5s of ${path}.ttl before renewal`,
    fieldPath: '.renewBefore',
  }) as const;

export const workspaceNatsAccessSpecSchema = {
  type: 'object',
  description: 'What the workspace asks for. The issuer decides what it may get.',
  additionalProperties: false,
  required: ['issuerRef', 'workspace'],
  'x-kubernetes-validations': [
    renewalMarginRule('spec'),
    {
      rule: 'self.workspace.id == oldSelf.workspace.id',
      message: 'spec.workspace.id is immutable: another workspace needs its own WorkspaceNatsAccess',
      fieldPath: '.workspace.id',
    },
    {
      // Switching ways in would leave minted users unrevoked, or callout logins uncut.
      rule: 'has(self.authCalloutRef) == has(oldSelf.authCalloutRef) && (!has(self.authCalloutRef) || self.authCalloutRef.name == oldSelf.authCalloutRef.name)',
      message: 'spec.authCalloutRef is immutable: another way in needs a new WorkspaceNatsAccess',
      fieldPath: '.authCalloutRef',
    },
    {
      rule: 'self.issuerRef.name == oldSelf.issuerRef.name',
      message: 'spec.issuerRef is immutable: credentials of another issuer need a new WorkspaceNatsAccess',
      fieldPath: '.issuerRef.name',
    },
  ],
  properties: {
    issuerRef: {
      type: 'object',
      description: 'The ClusterNatsIssuer that mints the credentials.',
      additionalProperties: false,
      required: ['name'],
      properties: {
        name: {
          type: 'string',
          description: 'Name of the ClusterNatsIssuer.',
          minLength: 1,
          maxLength: 253,
          pattern: OBJECT_NAME_PATTERN,
        },
      },
    },
    authCalloutRef: {
      type: 'object',
      description:
        'When set, the workspace logs in with its own identity token through this ClusterNatsAuthCallout ' +
        'instead of a minted creds file: the Secret holds the callout\'s sentinel creds and NATS_URL, ' +
        'each login gets a user JWT with this access\'s grant, and deleting the access cuts those logins.',
      additionalProperties: false,
      required: ['name'],
      properties: {
        name: {
          type: 'string',
          description: 'Name of the ClusterNatsAuthCallout.',
          minLength: 1,
          maxLength: 253,
          pattern: OBJECT_NAME_PATTERN,
        },
      },
    },
    workspace: {
      type: 'object',
      description: 'The workspace the credentials belong to; its fields feed subject templates.',
      additionalProperties: false,
      required: ['id'],
      properties: {
        id: {
          type: 'string',
          description:
            'Stable workspace id, available to subject templates as `{{workspace.id}}`. ' +
            'Letters, digits, `-` and `_` only, so that it is always one subject token.',
          minLength: 1,
          maxLength: 128,
          pattern: '^[A-Za-z0-9_-]+$',
        },
        owner: {
          type: 'string',
          description:
            'The user who owns the workspace, available as `{{workspace.owner}}` (same characters as id).',
          minLength: 1,
          maxLength: 128,
          pattern: '^[A-Za-z0-9_-]+$',
        },
        ref: {
          type: 'object',
          description: 'The object that represents the workspace (a GitPod Workspace, a Pod, ...).',
          additionalProperties: false,
          required: ['apiVersion', 'kind', 'name'],
          properties: {
            apiVersion: { type: 'string', description: 'API version of the object.', maxLength: 253 },
            kind: { type: 'string', description: 'Kind of the object.', maxLength: 63 },
            name: { type: 'string', description: 'Name of the object.', maxLength: 253 },
            uid: { type: 'string', description: 'UID of the object.', maxLength: 64 },
          },
        },
      },
    },
    permissions: {
      type: 'object',
      description:
        'Subjects the user may use. Omitted lists fall back to the issuer’s default permissions.',
      additionalProperties: false,
      properties: {
        publish: subjectPermissionSchema('Subjects the user may publish to.'),
        subscribe: subjectPermissionSchema('Subjects the user may subscribe to.'),
        allowResponses: {
          type: 'object',
          description:
            'When present, the user may publish one reply (or maxMessages) to the reply subject ' +
            'of each request it received, even outside its publish permissions.',
          additionalProperties: false,
          properties: {
            maxMessages: {
              type: 'integer',
              description: 'Replies allowed per request (default 1).',
              minimum: 1,
              maximum: 10000,
            },
            ttl: durationSchema(
              "How long after the request a reply is allowed (default: the server's, 2m).",
            ),
          },
        },
      },
    },
    limits: {
      type: 'object',
      description: 'Connection limits enforced by the NATS server. Omitted means unlimited.',
      additionalProperties: false,
      properties: {
        subscriptions: {
          type: 'integer',
          description: 'Maximum number of subscriptions.',
          minimum: 0,
          maximum: 1000000,
        },
        payload: {
          type: 'integer',
          description: 'Maximum message payload in bytes.',
          minimum: 0,
          maximum: 67108864,
        },
        data: {
          type: 'integer',
          format: 'int64',
          description: 'Maximum bytes in flight for the connection.',
          minimum: 0,
          maximum: 1099511627776,
        },
        connectionTypes: {
          type: 'array',
          description: 'Connection types allowed (default: all).',
          'x-kubernetes-list-type': 'set',
          maxItems: connectionTypes.length,
          items: { type: 'string', description: 'A NATS connection type.', enum: connectionTypes },
        },
        sourceCIDRs: {
          type: 'array',
          description: 'Client addresses allowed to connect, as CIDRs (default: any).',
          'x-kubernetes-list-type': 'set',
          maxItems: 32,
          items: {
            type: 'string',
            description: 'An IPv4 or IPv6 CIDR.',
            maxLength: 43,
            'x-kubernetes-validations': [
              { rule: 'isCIDR(self)', message: 'must be an IPv4 or IPv6 CIDR such as 10.0.0.0/8' },
            ],
          },
        },
      },
    },
    ttl: durationSchema(
      'Lifetime of each user JWT, at least 10s. Default and maximum come from the issuer (for example `1h`).',
      '10s',
    ),
    renewBefore: durationSchema(
      'Renew this long before expiry, at least 5s. Default: a third of the ttl (at least 5s).',
      '5s',
    ),
    secret: {
      type: 'object',
      description: 'The Secret the credentials are written to.',
      additionalProperties: false,
      properties: {
        name: {
          type: 'string',
          description: 'Name of the Secret (default `<name>-nats`).',
          minLength: 1,
          maxLength: 253,
          pattern: OBJECT_NAME_PATTERN,
        },
        labels: {
          type: 'object',
          description: 'Extra labels for the Secret.',
          additionalProperties: { type: 'string' },
          maxProperties: 32,
        },
        annotations: {
          type: 'object',
          description: 'Extra annotations for the Secret.',
          additionalProperties: { type: 'string' },
          maxProperties: 32,
        },
      },
    },
  },
} as const;

export const workspaceNatsAccessStatusSchema = {
  type: 'object',
  description: 'What the operator observed and issued. Never contains a secret.',
  additionalProperties: false,
  properties: {
    conditions: conditionsSchema,
    observedGeneration: observedGenerationSchema,
    userPublicKey: { type: 'string', description: 'Public nkey of the current NATS user (safe to show).' },
    secretName: { type: 'string', description: 'Name of the Secret holding the credentials.' },
    issuedAt: {
      type: 'string',
      format: 'date-time',
      description: 'When the current user JWT was issued.',
    },
    expiresAt: {
      type: 'string',
      format: 'date-time',
      description: 'When the current user JWT expires.',
    },
    renewAt: {
      type: 'string',
      format: 'date-time',
      description: 'When the operator will issue the next JWT.',
    },
    connections: connectionsStatusSchema,
    retiredUsers: {
      type: 'array',
      description:
        'Earlier users of this access whose JWTs have not expired yet. Users replaced by a renewal ' +
        'stay valid until they expire, so that a client can switch to the renewed creds; the others ' +
        '(revoke: true) are revoked on the NATS servers. Deleting the access revokes all of them.',
      'x-kubernetes-list-type': 'atomic',
      items: {
        type: 'object',
        description: 'A user issued earlier.',
        additionalProperties: false,
        required: ['publicKey', 'expiresAt'],
        properties: {
          publicKey: { type: 'string', description: 'Public nkey of the user (safe to show).' },
          expiresAt: { type: 'string', format: 'date-time', description: "When the user's JWT expires." },
          revoke: {
            type: 'boolean',
            description:
              'True when the user was replaced for another reason than renewal (the spec, the ' +
              'policy or the Secret changed): it is revoked at once, and dropped from this list ' +
              'once the revocation is on the NATS servers.',
          },
        },
      },
    },
  },
} as const;

export type WorkspaceNatsAccessSpec = FromSchema<typeof workspaceNatsAccessSpecSchema>;
export type WorkspaceNatsAccessStatus = FromSchema<typeof workspaceNatsAccessStatusSchema>;
export type Condition = NonNullable<WorkspaceNatsAccessStatus['conditions']>[number];

export interface WorkspaceNatsAccess {
  apiVersion: string;
  kind: string;
  metadata: ObjectMeta;
  spec: WorkspaceNatsAccessSpec;
  status?: WorkspaceNatsAccessStatus;
}
