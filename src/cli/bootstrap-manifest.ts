// The Kubernetes side of `bootstrap`, as plain objects: the operator's namespace, one Secret per
// seed or creds file the operator reads, the ClusterNatsIssuer that uses them, and (with a callout
// account) the ClusterNatsAuthCallout. Pure. Secret names are the README's, with an optional suffix
// for more than one bootstrap in one namespace.

import { stringify } from 'yaml';
import type { ClusterNatsAuthCallout, IdentityProvider } from '../api/cluster-nats-auth-callout.ts';
import type { ClusterNatsIssuer } from '../api/cluster-nats-issuer.ts';
import { GROUP, VERSION } from '../api/constants.ts';
import { SCOPED_USER_TAGS } from '../nats/trust.ts';

/** What the operator needs of a NATS trust: seeds and creds, and the accounts' public keys. */
export interface OperatorMaterial {
  operatorSigningKeySeed: string;
  systemCreds: string;
  workspaceAccount: { publicKey: string; signingKeySeed: string; scoped: boolean };
  callout?: { accountPublicKey: string; signingKeySeed: string; xkeySeed: string; authUserCreds: string; sentinelCreds: string } | undefined;
}

export interface ManifestSettings {
  namespace: string;
  natsUrls: string[];
  issuerName: string;
  calloutName: string;
  secretSuffix: string;
  /** The providers of the callout, if there is one. */
  identityProviders: IdentityProvider[];
}

export interface ManifestObject {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string; labels?: Record<string, string> };
  [field: string]: unknown;
}

export const secretNames = (suffix: string, scoped: boolean) => ({
  accountSigningKey: `${scoped ? 'ws-scoped-signing-key' : 'ws-account-signing-key'}${suffix}`,
  operatorSigningKey: `nats-operator-signing-key${suffix}`,
  systemCreds: `nats-system-creds${suffix}`,
  calloutSigningKey: `nats-callout-signing-key${suffix}`,
  calloutXkey: `nats-callout-xkey${suffix}`,
  calloutAuthCreds: `nats-callout-auth-creds${suffix}`,
  calloutSentinelCreds: `nats-callout-sentinel-creds${suffix}`,
});

const LABELS = { 'app.kubernetes.io/managed-by': 'workspace-nats-operator-bootstrap' };
const SEED = 'seed';
const CREDS = 'nats.creds';

/** The objects in the order they must be applied: namespace, Secrets, then what refers to them. */
export function bootstrapObjects(material: OperatorMaterial, settings: ManifestSettings): ManifestObject[] {
  const names = secretNames(settings.secretSuffix, material.workspaceAccount.scoped);
  const secret = (name: string, key: string, value: string): ManifestObject => ({
    apiVersion: 'v1',
    kind: 'Secret',
    metadata: { name, namespace: settings.namespace, labels: LABELS },
    type: 'Opaque',
    stringData: { [key]: value },
  });
  const objects: ManifestObject[] = [
    { apiVersion: 'v1', kind: 'Namespace', metadata: { name: settings.namespace } },
    secret(names.accountSigningKey, SEED, material.workspaceAccount.signingKeySeed),
    secret(names.operatorSigningKey, SEED, material.operatorSigningKeySeed),
    secret(names.systemCreds, CREDS, material.systemCreds),
  ];
  const callout = material.callout;
  if (callout) {
    objects.push(
      secret(names.calloutSigningKey, SEED, callout.signingKeySeed),
      secret(names.calloutXkey, SEED, callout.xkeySeed),
      secret(names.calloutAuthCreds, CREDS, callout.authUserCreds),
      secret(names.calloutSentinelCreds, CREDS, callout.sentinelCreds),
    );
  }
  objects.push(issuerObject(material, settings, names));
  if (callout) objects.push(calloutObject(callout.accountPublicKey, settings, names));
  return objects;
}

function issuerObject(material: OperatorMaterial, settings: ManifestSettings, names: ReturnType<typeof secretNames>): ManifestObject & ClusterNatsIssuer {
  const { scoped } = material.workspaceAccount;
  // Scoped: the key's template decides the subjects, and users carry only their tags. Plain: the
  // policy below bounds every user to its own workspace's subjects (README's example issuer).
  const own = ['ws.{{workspace.id}}.>'];
  const ownWithInbox = [...own, '_INBOX_{{workspace.id}}.>'];
  const policy = scoped
    ? { defaultTTL: '1h', maxTTL: '24h' }
    : {
        defaultTTL: '1h',
        maxTTL: '24h',
        defaultPermissions: { publish: { allow: own }, subscribe: { allow: ownWithInbox } },
        allowedSubjects: { publish: own, subscribe: ownWithInbox },
      };
  return {
    apiVersion: `${GROUP}/${VERSION}`,
    kind: 'ClusterNatsIssuer',
    metadata: { name: settings.issuerName, labels: LABELS },
    spec: {
      nats: { urls: settings.natsUrls, systemCredentialsSecretRef: { name: names.systemCreds, key: CREDS } },
      operator: { signingKeySecretRef: { name: names.operatorSigningKey, key: SEED } },
      account: {
        publicKey: material.workspaceAccount.publicKey,
        signingKeySecretRef: { name: names.accountSigningKey, key: SEED },
        ...(scoped ? { scoped: { userTags: SCOPED_USER_TAGS } } : {}),
      },
      policy,
    },
  };
}

function calloutObject(accountPublicKey: string, settings: ManifestSettings, names: ReturnType<typeof secretNames>): ManifestObject & ClusterNatsAuthCallout {
  return {
    apiVersion: `${GROUP}/${VERSION}`,
    kind: 'ClusterNatsAuthCallout',
    metadata: { name: settings.calloutName, labels: LABELS },
    spec: {
      nats: {
        urls: settings.natsUrls,
        authUserCredentialsSecretRef: { name: names.calloutAuthCreds, key: CREDS },
        sentinelCredentialsSecretRef: { name: names.calloutSentinelCreds, key: CREDS },
      },
      account: { publicKey: accountPublicKey, signingKeySecretRef: { name: names.calloutSigningKey, key: SEED } },
      xkeySecretRef: { name: names.calloutXkey, key: SEED },
      identityProviders: settings.identityProviders,
    },
  };
}

/**
 * The callout's providers: projected ServiceAccount tokens of the cluster's pods, and an OIDC
 * provider (GitPod's, say) when its issuer URL is given; both for audience `nats`, for the issuer.
 */
export function identityProviders(issuerName: string, serviceAccountIssuer: string, oidcIssuer: string | undefined): IdentityProvider[] {
  const common = { audiences: ['nats'], issuers: [issuerName] };
  return [
    ...(oidcIssuer ? [{ name: 'oidc', kind: 'OIDC' as const, issuerURL: oidcIssuer, ...common }] : []),
    { name: 'pods', kind: 'KubernetesServiceAccount' as const, issuerURL: serviceAccountIssuer, ...common },
  ];
}

/** The objects as one multi-document YAML file (kubectl apply -f). */
export function renderManifest(objects: ManifestObject[]): string {
  return objects.map((object) => stringify(object, { lineWidth: 0 })).join('---\n');
}
