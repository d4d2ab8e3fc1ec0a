// The callout's decision, pure: which live WorkspaceNatsAccess a verified identity is, and the user
// JWT it gets. The grant is resolveGrant's, the very function that mints creds files, so a callout
// login and a creds file of one access can never be allowed different things. The JWT lives no
// longer than the token, the access's ttl and the issuer's maxTTL (which bounds the ttl).

import type { ClusterNatsIssuer } from '../api/cluster-nats-issuer.ts';
import { Failure } from '../api/failure.ts';
import { DenyReason } from '../api/reasons.ts';
import type { WorkspaceNatsAccess } from '../api/workspace-nats-access.ts';
import { Denial, type VerifiedIdentity } from '../identity/tokens.ts';
import { accessUserName, resolveGrant, type ResolvedGrant } from '../policy/grant.ts';

/** What the decision reads: the callout's name and the caches, indexed. */
export interface CalloutView {
  calloutName: string;
  /** Accesses whose spec.workspace.id is `id`. */
  accessesOfWorkspace(id: string): readonly WorkspaceNatsAccess[];
  /** Accesses whose spec.workspace.ref.uid is `uid` (pods bound by a binding). */
  accessesOfObject(uid: string): readonly WorkspaceNatsAccess[];
  issuer(name: string): ClusterNatsIssuer | undefined;
  namespaceLabels(namespace: string): Record<string, string>;
}

export interface Authorization {
  access: WorkspaceNatsAccess;
  issuer: ClusterNatsIssuer;
  grant: ResolvedGrant;
  /** The user JWT's name: the access's, as on its creds files. */
  userName: string;
  expiresAt: Date;
}

const describe = (access: WorkspaceNatsAccess) => `${access.metadata.namespace}/${access.metadata.name}`;

/** The access `identity` logs in as, and its grant at `now`; throws a Denial. */
export function authorize(identity: VerifiedIdentity, view: CalloutView, now: Date): Authorization {
  const { provider, pod } = identity;
  const candidates = (
    pod
      ? view.accessesOfObject(pod.uid).filter(
          (access) => access.metadata.namespace === pod.namespace && access.spec.workspace.ref?.kind === 'Pod' && access.spec.workspace.ref.name === pod.name,
        )
      : view.accessesOfWorkspace(identity.workspaceId ?? '')
  ).filter((access) => access.spec.authCalloutRef?.name === view.calloutName && provider.issuers.includes(access.spec.issuerRef.name));
  const workspace = pod ? `pod ${pod.namespace}/${pod.name}` : `workspace ${identity.workspaceId}`;
  if (candidates.length === 0) {
    throw new Denial(DenyReason.NoAccess, `${workspace} has no WorkspaceNatsAccess using callout ${view.calloutName} with an issuer of provider ${provider.name}`);
  }
  const live = candidates.filter((access) => !access.metadata.deletionTimestamp);
  if (live.length === 0) throw new Denial(DenyReason.AccessDeleting, `the access of ${workspace} (${describe(candidates[0]!)}) is being deleted`);
  if (live.length > 1) throw new Denial(DenyReason.AmbiguousAccess, `${workspace} has ${live.length} accesses (${live.map(describe).join(', ')})`);
  const access = live[0]!;
  // An ID token names a person: it must be the access's owner, when the access has one (a token
  // without the owner claim is refused then). A pod's token names no person.
  const owner = access.spec.workspace.owner;
  if (!pod && owner !== undefined && identity.owner !== owner) {
    throw new Denial(DenyReason.OwnerMismatch, `the token's owner is not the owner of ${describe(access)}`);
  }
  const issuer = view.issuer(access.spec.issuerRef.name);
  if (!issuer) throw new Denial(DenyReason.IssuerRefused, `issuer ${access.spec.issuerRef.name} of ${describe(access)} does not exist`);
  let grant: ResolvedGrant;
  try {
    grant = resolveGrant({ access, issuer, namespaceLabels: view.namespaceLabels(access.metadata.namespace ?? ''), now });
  } catch (error) {
    if (error instanceof Failure) throw new Denial(DenyReason.IssuerRefused, `${describe(access)}: ${error.message}`);
    throw error;
  }
  const expiresAt = new Date(Math.min(identity.expiresAt.getTime(), grant.expiresAt.getTime()));
  return { access, issuer, grant, userName: accessUserName(access), expiresAt };
}
