// The natsaccess.io API's fixed names: group, version, kinds, finalizer, labels and annotations.
// Everything that names an API object or a metadata key comes from here, so the controller, the
// CRD generator and the tests can never disagree on a spelling.

export const GROUP = 'natsaccess.io';
export const VERSION = 'v1alpha1';
export const API_VERSION = `${GROUP}/${VERSION}`;

export const ACCESS_KIND = 'WorkspaceNatsAccess';
export const ACCESS_PLURAL = 'workspacenatsaccesses';
export const ISSUER_KIND = 'ClusterNatsIssuer';
export const ISSUER_PLURAL = 'clusternatsissuers';
export const CALLOUT_KIND = 'ClusterNatsAuthCallout';
export const CALLOUT_PLURAL = 'clusternatsauthcallouts';
export const BINDING_KIND = 'WorkspaceNatsBinding';
export const BINDING_PLURAL = 'workspacenatsbindings';

/** GitPod's Workspace objects (ws-manager-mk2). */
export const GITPOD_GROUP = 'workspace.gitpod.io';
export const GITPOD_VERSION = 'v1';
export const GITPOD_WORKSPACE_PLURAL = 'workspaces';

/** Held by every WorkspaceNatsAccess until its credentials are revoked and its Secret deleted. */
export const ACCESS_FINALIZER = `${GROUP}/revoke-credentials`;

/** Marks the Secrets this operator manages, so it watches only its own. */
export const MANAGED_BY_LABEL = 'app.kubernetes.io/managed-by';
export const MANAGED_BY_VALUE = 'workspace-nats-operator';
/** Names the WorkspaceNatsAccess a Secret belongs to. */
export const ACCESS_NAME_LABEL = `${GROUP}/access`;
/** On accesses made by the binder: the binding that made it. */
export const BINDING_LABEL = `${GROUP}/binding`;
/** On pods the webhook mutated: the Secret it mounted (so a second pass changes nothing). */
export const MOUNTED_SECRET_ANNOTATION = `${GROUP}/mounted-secret`;

/** Fingerprint of everything the credentials in a Secret were minted from (never secret itself). */
export const ISSUED_FOR_ANNOTATION = `${GROUP}/issued-for`;

/**
 * Set to "true" on a WorkspaceNatsAccess being deleted to remove it without waiting for NATS to
 * confirm the revocation of its users (when NATS is gone for good). Recorded with a
 * RevocationSkipped Event; a revocation already recorded is still pushed if NATS answers again.
 */
export const SKIP_REVOCATION_ANNOTATION = `${GROUP}/skip-revocation`;

/** Keys of the Secret handed to the workspace. */
export const CREDS_KEY = 'nats.creds';
export const URL_KEY = 'NATS_URL';
