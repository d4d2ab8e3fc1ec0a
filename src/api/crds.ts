// Builds the CustomResourceDefinitions from the schemas in this folder. crds/*.yaml is generated
// from here (npm run generate:crds) and a unit test fails when the two drift apart.

import { stringify } from 'yaml';
import {
  ACCESS_KIND,
  ACCESS_PLURAL,
  BINDING_KIND,
  BINDING_PLURAL,
  CALLOUT_KIND,
  CALLOUT_PLURAL,
  GROUP,
  ISSUER_KIND,
  ISSUER_PLURAL,
  VERSION,
} from './constants.ts';
import {
  clusterNatsIssuerSpecSchema,
  clusterNatsIssuerStatusSchema,
} from './cluster-nats-issuer.ts';
import {
  workspaceNatsAccessSpecSchema,
  workspaceNatsAccessStatusSchema,
} from './workspace-nats-access.ts';
import { clusterNatsAuthCalloutSpecSchema, clusterNatsAuthCalloutStatusSchema } from './cluster-nats-auth-callout.ts';
import { workspaceNatsBindingSpecSchema, workspaceNatsBindingStatusSchema } from './workspace-nats-binding.ts';

type Json = null | boolean | number | string | readonly Json[] | { readonly [k: string]: Json };

/**
 * `additionalProperties: false` makes the derived TypeScript types exact, but a structural schema
 * may not combine it with `properties`. The API server prunes unknown fields anyway, and rejects
 * them outright under strict field validation (kubectl's default), so it is dropped from the CRD.
 */
function toStructural(schema: Json): Json {
  if (Array.isArray(schema)) return schema.map(toStructural);
  if (schema === null || typeof schema !== 'object') return schema;
  const out: Record<string, Json> = {};
  for (const [key, value] of Object.entries(schema as Record<string, Json>)) {
    if (key === 'additionalProperties' && value === false) continue;
    out[key] = toStructural(value);
  }
  return out;
}

function rootSchema(
  kind: string,
  description: string,
  spec: Json,
  status: Json,
  validations: Json[] = [],
): Json {
  return toStructural({
    type: 'object',
    description,
    ...(validations.length > 0 ? { 'x-kubernetes-validations': validations } : {}),
    required: ['spec'],
    properties: {
      apiVersion: {
        type: 'string',
        description: `Versioned schema of this object: ${GROUP}/${VERSION}.`,
      },
      kind: { type: 'string', description: `Kind of this object: ${kind}.` },
      metadata: { type: 'object' },
      spec,
      status,
    },
  });
}

interface Names {
  kind: string;
  plural: string;
  singular: string;
  shortNames: string[];
}

function crd(
  names: Names,
  scope: 'Namespaced' | 'Cluster',
  schema: Json,
  printerColumns: Json[],
): Json {
  return {
    apiVersion: 'apiextensions.k8s.io/v1',
    kind: 'CustomResourceDefinition',
    metadata: { name: `${names.plural}.${GROUP}` },
    spec: {
      group: GROUP,
      scope,
      names: { ...names, listKind: `${names.kind}List`, categories: ['nats'] },
      versions: [
        {
          name: VERSION,
          served: true,
          storage: true,
          subresources: { status: {} },
          additionalPrinterColumns: printerColumns,
          schema: { openAPIV3Schema: schema },
        },
      ],
    },
  };
}

const readyColumn = {
  name: 'Ready',
  type: 'string',
  jsonPath: '.status.conditions[?(@.type=="Ready")].status',
};
const reasonColumn = {
  name: 'Reason',
  type: 'string',
  priority: 1,
  jsonPath: '.status.conditions[?(@.type=="Ready")].reason',
};
const ageColumn = { name: 'Age', type: 'date', jsonPath: '.metadata.creationTimestamp' };

export const workspaceNatsAccessCrd = crd(
  {
    kind: ACCESS_KIND,
    plural: ACCESS_PLURAL,
    singular: ACCESS_KIND.toLowerCase(),
    shortNames: ['wna'],
  },
  'Namespaced',
  rootSchema(
    ACCESS_KIND,
    'NATS credentials for one workspace: a fresh NATS user, limited to the workspace’s subjects, ' +
      'written as a creds file to a Secret, renewed before expiry and revoked on deletion.',
    workspaceNatsAccessSpecSchema,
    workspaceNatsAccessStatusSchema,
    [
      {
        rule: 'size(self.metadata.name) <= 63',
        message: 'metadata.name: at most 63 characters, since it labels the Secret',
      },
    ],
  ),
  [
    { name: 'Workspace', type: 'string', jsonPath: '.spec.workspace.id' },
    readyColumn,
    // A string: kubectl renders future times in `date` columns as <invalid>.
    { name: 'Expires', type: 'string', jsonPath: '.status.expiresAt' },
    { name: 'Connections', type: 'integer', jsonPath: '.status.connections.active' },
    ageColumn,
    reasonColumn,
    { name: 'User', type: 'string', priority: 1, jsonPath: '.status.userPublicKey' },
  ],
);

export const clusterNatsIssuerCrd = crd(
  {
    kind: ISSUER_KIND,
    plural: ISSUER_PLURAL,
    singular: ISSUER_KIND.toLowerCase(),
    shortNames: ['cnissuer'],
  },
  'Cluster',
  rootSchema(
    ISSUER_KIND,
    'A NATS account that workspace credentials are minted in, with its signing keys and policy.',
    clusterNatsIssuerSpecSchema,
    clusterNatsIssuerStatusSchema,
  ),
  [
    { name: 'Account', type: 'string', jsonPath: '.spec.account.publicKey' },
    readyColumn,
    { name: 'Revocations', type: 'integer', jsonPath: '.status.revocation.active' },
    { name: 'Last Push', type: 'string', jsonPath: '.status.revocation.lastPushResult' },
    ageColumn,
    reasonColumn,
  ],
);

export const workspaceNatsBindingCrd = crd(
  {
    kind: BINDING_KIND,
    plural: BINDING_PLURAL,
    singular: BINDING_KIND.toLowerCase(),
    shortNames: ['wnb'],
  },
  'Namespaced',
  rootSchema(
    BINDING_KIND,
    'A rule that gives each workspace of a source in this namespace its own WorkspaceNatsAccess, ' +
      'deleted when the workspace stops, and mounts its credentials into the workspace pod.',
    workspaceNatsBindingSpecSchema,
    workspaceNatsBindingStatusSchema,
    [
      {
        rule: 'size(self.metadata.name) <= 40',
        message: 'metadata.name: at most 40 characters, since it labels and prefixes the accesses it makes',
      },
    ],
  ),
  [
    { name: 'Issuer', type: 'string', jsonPath: '.spec.template.issuerRef.name' },
    readyColumn,
    { name: 'Workspaces', type: 'integer', jsonPath: '.status.workspaces' },
    ageColumn,
    reasonColumn,
  ],
);

export const clusterNatsAuthCalloutCrd = crd(
  {
    kind: CALLOUT_KIND,
    plural: CALLOUT_PLURAL,
    singular: CALLOUT_KIND.toLowerCase(),
    shortNames: ['cncallout'],
  },
  'Cluster',
  rootSchema(
    CALLOUT_KIND,
    'A NATS auth callout served by the operator: workspaces log in with an identity token (OIDC or ' +
      'ServiceAccount), and get the grant of their live WorkspaceNatsAccess for as long as it lives.',
    clusterNatsAuthCalloutSpecSchema,
    clusterNatsAuthCalloutStatusSchema,
  ),
  [
    { name: 'Account', type: 'string', jsonPath: '.spec.account.publicKey' },
    readyColumn,
    { name: 'Servers', type: 'integer', jsonPath: '.status.servers' },
    ageColumn,
    reasonColumn,
  ],
);

/**
 * Where the CRD files are written, relative to the repository: crds/ (kubectl apply -f, kustomize)
 * and the Helm chart's crds/ folder.
 */
export const CRD_FOLDERS = ['crds', 'charts/workspace-nats-operator/crds'] as const;

/** The CRD files as written to each of CRD_FOLDERS: file name to YAML text. */
export function renderCrdFiles(): Record<string, string> {
  const header = '# Generated from src/api by `npm run generate:crds`. Do not edit.\n';
  return {
    [`${GROUP}_${ACCESS_PLURAL}.yaml`]: header + stringify(workspaceNatsAccessCrd),
    [`${GROUP}_${ISSUER_PLURAL}.yaml`]: header + stringify(clusterNatsIssuerCrd),
    [`${GROUP}_${BINDING_PLURAL}.yaml`]: header + stringify(workspaceNatsBindingCrd),
    [`${GROUP}_${CALLOUT_PLURAL}.yaml`]: header + stringify(clusterNatsAuthCalloutCrd),
  };
}
