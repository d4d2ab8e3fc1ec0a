// The benchmark's yardstick: a plain client that makes, for each access, exactly the API writes the
// operator makes (the API server's audit log shows them), with nothing else: no caches, no minting,
// no NATS. It writes through the operator's own write helpers, so each request has the operator's
// shape, and copies its Secret and status from an access the operator issued, so each has the same
// size. It works in a namespace the operator does not serve, so the operator never sees it.
//
// Per access, issuance: create the access (what a user does), add the finalizer, create the Secret,
// record the Issued Event, write the Ready status. Deletion: delete the access (what a user does),
// record the Revoked Event, delete the Secret, record the CredentialsDeleted Event, remove the
// finalizer. Not mirrored: the revoker's writes per account JWT push (its ConfigMap and the issuer
// status), which are shared by every deletion in the push.

import type { V1Secret } from '@kubernetes/client-node';
import { ACCESS_FINALIZER, ACCESS_NAME_LABEL, ACCESS_PLURAL, GROUP, VERSION } from '../src/api/constants.ts';
import { EventReason, READY } from '../src/api/reasons.ts';
import type { WorkspaceNatsAccess } from '../src/api/workspace-nats-access.ts';
import { ownerReferenceTo, secretNameOf } from '../src/controller/access-secret.ts';
import { SecretClient } from '../src/controller/secret-client.ts';
import { findCondition } from '../src/kube/conditions.ts';
import { ApiEventRecorder } from '../src/kube/events.ts';
import { OwnObjects } from '../src/kube/own-objects.ts';
import { updateStatus } from '../src/kube/status.ts';
import { accessBody, createAccess, type Clients } from '../test/env/cluster.ts';
import { benchLog } from './benchmark-setup.ts';

const FIELD_MANAGER = 'benchmark-plain-client';

/** The spec the benchmark's accesses are created with. */
export type AccessSpec = Parameters<typeof accessBody>[1];

/** What the operator wrote for one access: copied for every access the plain client makes. */
export interface IssuedTemplate {
  access: WorkspaceNatsAccess;
  secret: V1Secret;
}

export class PlainClient {
  private readonly clients: Clients;
  private readonly namespace: string;
  private readonly spec: AccessSpec;
  private readonly template: IssuedTemplate;
  private readonly accesses: OwnObjects<WorkspaceNatsAccess>;
  private readonly secrets: SecretClient;
  private readonly events: ApiEventRecorder;
  /** The Secret written per access, deleted (guarded by its uid) as the operator deletes it. */
  private readonly written = new Map<string, V1Secret>();

  constructor(clients: Clients, namespace: string, spec: AccessSpec, template: IssuedTemplate) {
    this.clients = clients;
    this.namespace = namespace;
    this.spec = spec;
    this.template = template;
    this.accesses = new OwnObjects(clients.custom, ACCESS_PLURAL, FIELD_MANAGER);
    this.secrets = new SecretClient(clients.core, FIELD_MANAGER);
    // The recorder logs a failed Event rather than throwing, as in the operator; the audit log
    // counts it as a refused write.
    this.events = new ApiEventRecorder(clients.core, benchLog, FIELD_MANAGER);
  }

  async issue(name: string): Promise<void> {
    const { access: issued, secret } = this.template;
    const created = await createAccess(this.clients.custom, this.namespace, accessBody(name, this.spec));
    const access = await this.accesses.replace({
      ...created,
      metadata: { ...created.metadata, finalizers: [ACCESS_FINALIZER] },
    });
    const secretName = secretNameOf(access);
    const wanted: V1Secret = {
      apiVersion: 'v1',
      kind: 'Secret',
      type: secret.type,
      metadata: {
        name: secretName,
        namespace: this.namespace,
        labels: { ...secret.metadata?.labels, [ACCESS_NAME_LABEL]: name },
        annotations: secret.metadata?.annotations,
        ownerReferences: [ownerReferenceTo(access)],
      },
      data: secret.data,
    };
    this.written.set(name, await this.secrets.write(wanted, undefined));
    const status = issued.status ?? {};
    const user = status.userPublicKey ?? '';
    await this.events.record(access, 'Normal', EventReason.Issued, `Minted NATS user ${user} into Secret ${secretName}: Secret ${secretName} does not exist`);
    const ready = findCondition(status.conditions, READY);
    if (!ready) throw new Error(`the template access ${issued.metadata.name} has no Ready condition`);
    await updateStatus(
      { customObjects: this.clients.custom, plural: ACCESS_PLURAL, fieldManager: FIELD_MANAGER },
      access,
      { type: READY, status: ready.status, reason: ready.reason, message: ready.message.replace(status.secretName ?? '', secretName) },
      { userPublicKey: user, secretName, issuedAt: status.issuedAt, expiresAt: status.expiresAt, renewAt: status.renewAt },
      new Date(),
    );
  }

  async delete(name: string): Promise<void> {
    const secret = this.written.get(name);
    if (!secret) throw new Error(`the plain client did not issue ${name}`);
    // An object with a finalizer is not removed by a delete: the API server returns it, marked.
    const deleting = (await this.clients.custom.deleteNamespacedCustomObject({
      group: GROUP,
      version: VERSION,
      plural: ACCESS_PLURAL,
      namespace: this.namespace,
      name,
    })) as WorkspaceNatsAccess;
    if (!deleting.metadata?.deletionTimestamp) throw new Error(`${this.namespace}/${name} was not held by its finalizer`);
    const user = this.template.access.status?.userPublicKey ?? '';
    await this.events.record(deleting, 'Normal', EventReason.Revoked, `Revoked NATS users ${user} on every server`);
    if (!(await this.secrets.delete(secret))) throw new Error(`Secret ${secret.metadata?.name} was gone before the plain client deleted it`);
    await this.events.record(deleting, 'Normal', EventReason.Deleted, `Deleted Secret ${secret.metadata?.name}`);
    await this.accesses.replace({ ...deleting, metadata: { ...deleting.metadata, finalizers: [] } });
    this.written.delete(name);
  }
}
