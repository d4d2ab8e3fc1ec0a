// Schema fragments used by both kinds. Written as `as const` JSON Schema so that the TypeScript
// types are derived from them (json-schema-to-ts) and the CRD YAML is generated from them: the
// schema is the single source of truth for the API.

import {
  DURATION_PATTERN,
  SUBJECT_MAX_LENGTH,
  SUBJECT_PATTERN,
  SUBJECTS_MAX_ITEMS,
} from './patterns.ts';

/** NATS connection types, as user JWTs name them. */
export const connectionTypes = [
  'STANDARD',
  'WEBSOCKET',
  'LEAFNODE',
  'LEAFNODE_WS',
  'MQTT',
  'MQTT_WS',
  'IN_PROCESS',
] as const;

/** A duration; with `atLeast` (such as '10s'), admission refuses shorter ones. */
export const durationSchema = (description: string, atLeast?: string) =>
  ({
    type: 'string',
    description,
    pattern: DURATION_PATTERN,
    maxLength: 32,
    // The rule runs even when the pattern fails; the guard keeps it from adding a second,
    // confusing error about converting a malformed duration.
    ...(atLeast
      ? {
          'x-kubernetes-validations': [
            {
              rule: `!self.matches('${DURATION_PATTERN}') || duration(self) >= duration('${atLeast}')`,
              message: `must be at least ${atLeast}`,
            },
          ],
        }
      : {}),
  }) as const;

export const subjectListSchema = (description: string) =>
  ({
    type: 'array',
    description,
    maxItems: SUBJECTS_MAX_ITEMS,
    'x-kubernetes-list-type': 'set',
    items: {
      type: 'string',
      description: 'A NATS subject; `*` matches one token, `>` (last token only) the rest.',
      minLength: 1,
      maxLength: SUBJECT_MAX_LENGTH,
      pattern: SUBJECT_PATTERN,
    },
  }) as const;

export const subjectPermissionSchema = (description: string) =>
  ({
    type: 'object',
    description,
    additionalProperties: false,
    properties: {
      allow: subjectListSchema(
        'Subjects allowed. Templates such as `ws.{{workspace.id}}.>` are expanded per workspace.',
      ),
      deny: subjectListSchema('Subjects denied, even where an allow entry matches.'),
    },
  }) as const;

export const secretKeyRefSchema = (description: string, defaultKey: string) =>
  ({
    type: 'object',
    description,
    additionalProperties: false,
    required: ['name'],
    properties: {
      name: {
        type: 'string',
        description: "Name of the Secret, in the operator's own namespace.",
        minLength: 1,
        maxLength: 253,
      },
      key: {
        type: 'string',
        description: `Key within the Secret holding the value (default \`${defaultKey}\`).`,
        minLength: 1,
        maxLength: 253,
      },
    },
  }) as const;

export const observedGenerationSchema = {
  type: 'integer',
  format: 'int64',
  description: 'The metadata.generation the status reflects.',
} as const;

export const conditionsSchema = {
  type: 'array',
  description: 'Current state, with the reason in CamelCase and a message for humans.',
  'x-kubernetes-list-type': 'map',
  'x-kubernetes-list-map-keys': ['type'],
  items: {
    type: 'object',
    description: 'One aspect of the current state.',
    additionalProperties: false,
    required: ['type', 'status', 'reason', 'message', 'lastTransitionTime'],
    properties: {
      type: { type: 'string', description: 'Condition type, such as Ready.' },
      status: {
        type: 'string',
        description: 'True, False or Unknown.',
        enum: ['True', 'False', 'Unknown'],
      },
      reason: { type: 'string', description: 'Why, as one CamelCase word.' },
      message: { type: 'string', description: 'Why, for humans.' },
      lastTransitionTime: {
        type: 'string',
        format: 'date-time',
        description: 'When the status last changed.',
      },
      observedGeneration: {
        type: 'integer',
        format: 'int64',
        description: 'The metadata.generation this condition was computed from.',
      },
    },
  },
} as const;

/** A label selector, as Kubernetes writes them: all of matchLabels and matchExpressions must hold. */
export const labelSelectorSchema = (description: string, of: string) =>
  ({
    type: 'object',
    description,
    additionalProperties: false,
    properties: {
      matchLabels: {
        type: 'object',
        description: `Labels the ${of} must have, with these values.`,
        additionalProperties: { type: 'string' },
      },
      matchExpressions: {
        type: 'array',
        description: `Requirements on the ${of} labels; all must hold.`,
        'x-kubernetes-list-type': 'atomic',
        items: {
          type: 'object',
          description: 'One requirement.',
          additionalProperties: false,
          required: ['key', 'operator'],
          properties: {
            key: { type: 'string', description: 'The label key.' },
            operator: {
              type: 'string',
              description: 'In, NotIn, Exists or DoesNotExist.',
              enum: ['In', 'NotIn', 'Exists', 'DoesNotExist'],
            },
            values: {
              type: 'array',
              description: 'Values for In and NotIn.',
              'x-kubernetes-list-type': 'atomic',
              items: { type: 'string', description: 'A label value.' },
            },
          },
        },
      },
    },
  }) as const;

/** NATS server URLs (NATS_URL joins them with commas, so none may hold one). */
export const urlListSchema = (description: string) =>
  ({
    type: 'array',
    description,
    minItems: 1,
    maxItems: 16,
    'x-kubernetes-list-type': 'atomic',
    items: {
      type: 'string',
      description:
        'A NATS URL such as nats://nats.nats.svc:4222, tls://host:4222 or wss://host/nats (no commas).',
      maxLength: 512,
      pattern: '^(nats|tls|ws|wss)://[^\\s,/]+(/[^\\s,]*)?$',
    },
  }) as const;
