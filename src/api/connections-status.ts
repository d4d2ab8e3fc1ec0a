// status.connections of a WorkspaceNatsAccess: what the audit saw of its clients on the NATS
// servers. Written by the audit alone (a merge patch), beside the access controller's fields.

export const connectionsStatusSchema = {
  type: 'object',
  description:
    "The access's NATS connections as the servers' connect and disconnect advisories show " +
    'them (creds and callout logins alike). Written at most every 10 seconds, and not while ' +
    'nothing changes.',
  additionalProperties: false,
  properties: {
    active: { type: 'integer', minimum: 0, description: 'Connections open now, on all servers.' },
    lastConnectTime: { type: 'string', format: 'date-time', description: 'When a client of this access last connected.' },
    lastAuthFailureTime: {
      type: 'string',
      format: 'date-time',
      description: "When a client last failed to log in with one of this access's users (a revoked or expired one, say).",
    },
  },
} as const;
