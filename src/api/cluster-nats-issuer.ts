// The ClusterNatsIssuer kind: a platform team's NATS account, the keys that sign for it and the
// policy that bounds what workspaces may get. Cluster-scoped, like cert-manager's ClusterIssuer.

import type { FromSchema } from 'json-schema-to-ts';
import {
  conditionsSchema,
  connectionTypes,
  durationSchema,
  labelSelectorSchema,
  subjectListSchema,
  observedGenerationSchema,
  secretKeyRefSchema,
  subjectPermissionSchema,
  urlListSchema,
} from './common-schemas.ts';
import { ACCOUNT_PUBLIC_KEY_PATTERN, DURATION_PATTERN, USER_TAG_PATTERN } from './patterns.ts';
import type { ObjectMeta } from './object-meta.ts';
import { byCodeUnits } from './order.ts';

export const clusterNatsIssuerSpecSchema = {
  type: 'object',
  description: 'Where NATS is, which account workspace users live in, and what they may get.',
  additionalProperties: false,
  required: ['nats', 'operator', 'account'],
  'x-kubernetes-validations': [
    {
      // Users revoked later must be revoked in the account they were minted in.
      rule: 'self.account.publicKey == oldSelf.account.publicKey',
      message: 'spec.account.publicKey is immutable: another account needs its own ClusterNatsIssuer',
      fieldPath: '.account.publicKey',
    },
  ],
  properties: {
    nats: {
      type: 'object',
      description: 'How workspaces and the operator reach NATS.',
      additionalProperties: false,
      required: ['urls', 'systemCredentialsSecretRef'],
      properties: {
        urls: urlListSchema('Server URLs handed to workspaces (NATS_URL in the Secret).'),
        operatorUrls: urlListSchema(
          'Server URLs the operator connects to with the system account credentials (default: urls).',
        ),
        systemCredentialsSecretRef: secretKeyRefSchema(
          'Secret holding a creds file of a user in the system account: the operator uses it to ' +
            'look up the account JWT and push revocations ($SYS.REQ.CLAIMS.UPDATE).',
          'nats.creds',
        ),
      },
    },
    operator: {
      type: 'object',
      description: 'The NATS operator that signs account JWTs.',
      additionalProperties: false,
      required: ['signingKeySecretRef'],
      properties: {
        signingKeySecretRef: secretKeyRefSchema(
          'Secret holding the seed (SO...) of an operator signing key listed in the operator JWT: ' +
            'the operator re-signs the account JWT with it to add and prune revocations.',
          'seed',
        ),
      },
    },
    account: {
      type: 'object',
      description: 'The NATS account that workspace users belong to.',
      additionalProperties: false,
      required: ['publicKey', 'signingKeySecretRef'],
      properties: {
        publicKey: {
          type: 'string',
          description: 'Public nkey of the account (starts with A).',
          pattern: ACCOUNT_PUBLIC_KEY_PATTERN,
        },
        signingKeySecretRef: secretKeyRefSchema(
          'Secret holding the seed (SA...) of a signing key listed in the account JWT.',
          'seed',
        ),
        scoped: {
          type: 'object',
          description:
            'Set when the signing key is a scoped signing key of the account: its template in the ' +
            'account JWT, enforced by nats-server, sets what users may do, and users minted here ' +
            'carry only these tags (accesses may then set no permissions or limits).',
          additionalProperties: false,
          required: ['userTags'],
          properties: {
            userTags: {
              type: 'array',
              description:
                'Tags of each user, which the template reads as {{tag(name)}}: for example ' +
                'ws:{{workspace.id}} with the template subject ws.{{tag(ws)}}.>.',
              minItems: 1,
              maxItems: 16,
              'x-kubernetes-list-type': 'atomic',
              items: {
                type: 'string',
                description: 'A tag, name:value, where the value may hold placeholders.',
                maxLength: 128,
                pattern: USER_TAG_PATTERN,
              },
            },
          },
        },
      },
    },
    policy: {
      type: 'object',
      description: 'Defaults and bounds for the credentials this issuer mints.',
      additionalProperties: false,
      'x-kubernetes-validations': [
        {
          // Malformed durations are the pattern's to report; the guards keep this rule quiet then.
          rule:
            `!has(self.defaultTTL) || !self.defaultTTL.matches('${DURATION_PATTERN}') || ` +
            `(has(self.maxTTL) && !self.maxTTL.matches('${DURATION_PATTERN}')) || ` +
            `duration(self.defaultTTL) <= duration(has(self.maxTTL) ? self.maxTTL : '24h')`,
          message: 'policy.defaultTTL may not exceed policy.maxTTL (default 24h)',
          fieldPath: '.defaultTTL',
        },
      ],
      properties: {
        defaultTTL: durationSchema('Lifetime of a user JWT when the access sets none (default 1h).', '10s'),
        maxTTL: durationSchema('Longest lifetime an access may ask for (default 24h).', '10s'),
        defaultPermissions: {
          type: 'object',
          description: 'Subject lists for what accesses leave out: each list an access omits (publish.allow, publish.deny, subscribe.allow, subscribe.deny) is taken from here.',
          additionalProperties: false,
          properties: {
            publish: subjectPermissionSchema('Subjects a workspace may publish to by default.'),
            subscribe: subjectPermissionSchema(
              'Subjects a workspace may subscribe to by default.',
            ),
          },
        },
        allowedSubjects: {
          type: 'object',
          description:
            'The most a workspace may ever get: every subject an access is granted (its own or the ' +
            'defaults) must lie within one of these templates, or the access fails with ' +
            'PolicyViolation. Omitted directions are not bounded.',
          additionalProperties: false,
          properties: {
            publish: subjectListSchema('Subjects workspaces may be allowed to publish to, e.g. ws.{{workspace.id}}.>.'),
            subscribe: subjectListSchema('Subjects workspaces may be allowed to subscribe to.'),
          },
        },
        allowResponses: {
          type: 'boolean',
          description: 'Whether accesses may ask for permissions.allowResponses (default true).',
        },
        maxLimits: {
          type: 'object',
          description:
            'Caps on connection limits: an access asking for more fails with PolicyViolation, one ' +
            'asking for nothing gets the cap.',
          additionalProperties: false,
          properties: {
            subscriptions: { type: 'integer', description: 'Most subscriptions.', minimum: 0, maximum: 1000000 },
            payload: { type: 'integer', description: 'Largest message payload, in bytes.', minimum: 0, maximum: 67108864 },
            data: {
              type: 'integer',
              format: 'int64',
              description: 'Most bytes in flight per connection.',
              minimum: 0,
              maximum: 1099511627776,
            },
          },
        },
        connectionTypes: {
          type: 'array',
          description:
            'Connection types workspaces may use: an access asking for others fails with ' +
            'PolicyViolation, one asking for none gets these (default: all).',
          'x-kubernetes-list-type': 'set',
          maxItems: connectionTypes.length,
          items: { type: 'string', description: 'A NATS connection type.', enum: connectionTypes },
        },
        namespaceSelector: labelSelectorSchema('Namespaces whose accesses may use this issuer (default: all).', 'namespace'),
        enforcement: {
          type: 'string',
          enum: ['Report', 'Revoke'],
          description:
            "What the operator does about a connection to the issuer's account that no live access " +
            'accounts for (a user minted outside the operator, or one whose revocation did not reach a ' +
            'server), or whose user JWT grants more than this policy: Report (a Warning Event on the ' +
            'issuer and a metric) or Revoke (also revoke the user in the account JWT and close the ' +
            'connection). Default Report. Accesses that exceed a tightened policy are revoked either way.',
        },
      },
    },
  },
} as const;

export const clusterNatsIssuerStatusSchema = {
  type: 'object',
  description: 'What the operator observed of this issuer.',
  additionalProperties: false,
  properties: {
    conditions: conditionsSchema,
    observedGeneration: observedGenerationSchema,
    signingKeyPublicKey: {
      type: 'string',
      description: 'Public key of the account signing key the operator loaded (safe to show).',
    },
    revocation: {
      type: 'object',
      description: "Revocations in the account JWT that the operator keeps, and its last push of the JWT.",
      additionalProperties: false,
      properties: {
        active: {
          type: 'integer',
          description:
            'Users revoked by the operator whose JWTs have not expired yet (entries are pruned after that).',
        },
        lastPushTime: {
          type: 'string',
          format: 'date-time',
          description: 'When the operator last pushed the account JWT to the NATS servers.',
        },
        lastPushResult: {
          type: 'string',
          description: 'Succeeded when every server answered that it stored the JWT, else Failed.',
          enum: ['Succeeded', 'Failed'],
        },
        lastPushMessage: {
          type: 'string',
          description: 'Which servers confirmed the last push, or why it failed.',
        },
      },
    },
  },
} as const;

export type ClusterNatsIssuerSpec = FromSchema<typeof clusterNatsIssuerSpecSchema>;
export type ClusterNatsIssuerStatus = FromSchema<typeof clusterNatsIssuerStatusSchema>;

export interface ClusterNatsIssuer {
  apiVersion: string;
  kind: string;
  metadata: ObjectMeta;
  spec: ClusterNatsIssuerSpec;
  status?: ClusterNatsIssuerStatus;
}

/**
 * The issuers naming `account`, by name: issuers sharing an account share its revoker and its NATS
 * settings (the first one's whose Secrets load), and count its clients under the first.
 */
export function accountIssuers(issuers: readonly ClusterNatsIssuer[], account: string): ClusterNatsIssuer[] {
  return issuers.filter((issuer) => issuer.spec.account.publicKey === account).sort((a, b) => byCodeUnits(a.metadata.name, b.metadata.name));
}
