// The composition root of `run` on the leader: informers feed keys (routing.ts says which) into
// work queues, workers reconcile accesses, issuers, bindings and callouts' status, the account
// revokers push revocations to NATS and wake the first two, the audit listens to NATS, and a
// periodic resync re-checks every object. Owns start-up and shutdown; decides nothing itself.

import type { KubernetesObject, V1Namespace, V1Pod, V1Secret } from '@kubernetes/client-node';
import type { ClusterNatsAuthCallout } from '../api/cluster-nats-auth-callout.ts';
import type { ClusterNatsIssuer } from '../api/cluster-nats-issuer.ts';
import {
  ACCESS_PLURAL,
  BINDING_PLURAL,
  CALLOUT_PLURAL,
  GITPOD_GROUP,
  GITPOD_VERSION,
  GITPOD_WORKSPACE_PLURAL,
  GROUP,
  ISSUER_PLURAL,
  MANAGED_BY_LABEL,
  MANAGED_BY_VALUE,
  VERSION,
} from '../api/constants.ts';
import type { WorkspaceNatsAccess } from '../api/workspace-nats-access.ts';
import type { WorkspaceNatsBinding } from '../api/workspace-nats-binding.ts';
import { ENFORCEMENT_KEY_PREFIX } from '../audit/drift.ts';
import { createAudit, reportAccountDrift, type AuditOptions } from './audit.ts';
import { Binder } from '../binder/binder.ts';
import { CalloutStatusController } from '../callout/callout-status.ts';
import type { CalloutService } from '../callout/service.ts';
import { AccessController, SECRETS } from '../controller/access-controller.ts';
import { IssuerController } from '../controller/issuer-controller.ts';
import { trimCreds } from '../controller/secret-creds.ts';
import { IssuerKeys } from '../issuer/issuer-keys.ts';
import { customResourcePath, type KubeClient } from '../kube/api.ts';
import { describeError, isConflict } from '../kube/errors.ts';
import { ApiEventRecorder, COMPONENT } from '../kube/events.ts';
import { ObjectIndex } from '../kube/object-index.ts';
import { OwnWrites } from '../kube/own-writes.ts';
import { ResilientInformer } from '../kube/informer.ts';
import { customResourceInformers, MergedLister, OnDemandInformers } from '../kube/merged-informers.ts';
import { runWorkers, WorkQueue, type ReconcileResult } from '../kube/workqueue.ts';
import type { Logger } from '../log.ts';
import type { OperatorMetrics } from '../metrics.ts';
import type { GitpodWorkspace } from '../policy/bound-workspaces.ts';
import type { RevokerTiming } from '../revocation/account-revoker.ts';
import { RevocationStore } from '../revocation/revocation-store.ts';
import { Revocations } from '../revocation/revocations.ts';
import {
  accessKeyOfSecret,
  accessKeysOfIssuer,
  calloutsReadingSecret,
  bindingKeyOf,
  issuersOfAccount,
  issuersReadingSecret,
  IssuerVersions,
  objectKey,
} from './routing.ts';

export interface OperatorOptions {
  client: KubeClient;
  /** The operator's own namespace, where issuers' key Secrets live. */
  namespace: string;
  workers: number;
  resyncPeriodMs: number;
  /** Namespaces whose accesses to serve; empty means all (and cluster-wide RBAC). */
  workspaceNamespaces: string[];
  log: Logger;
  /** Identifies this process in Events (pod name or host name). */
  instance: string;
  revocation: RevokerTiming;
  /** This replica's auth callout service, whose view the callouts' status reports. */
  callouts: CalloutService;
  audit: AuditOptions;
  metrics?: OperatorMetrics;
}

/** The controllers' names in the metrics (controller-runtime's `controller` label, the queues' `name`). */
const CONTROLLER = { access: 'workspacenatsaccess', issuer: 'clusternatsissuer', binding: 'workspacenatsbinding', callout: 'clusternatsauthcallout' } as const;

export type RunningOperator = { stop(): Promise<void> };

export async function startOperator(options: OperatorOptions): Promise<RunningOperator> {
  const { client, log, metrics } = options;
  const { customObjects, core } = client;
  const newQueue = (name: string) => new WorkQueue(undefined, undefined, metrics?.workQueue(name));
  const queue = newQueue(CONTROLLER.access);
  const issuerQueue = newQueue(CONTROLLER.issuer);
  const bindingQueue = newQueue(CONTROLLER.binding);
  const calloutQueue = newQueue(CONTROLLER.callout);

  // Accesses and their Secrets are watched in every namespace, or in each configured one, so
  // that RBAC can grant Secret rights per namespace.
  const scopes = options.workspaceNamespaces.length > 0 ? options.workspaceNamespaces : [undefined];
  // The access controller's own writes, whose watch events do not wake it again; the binder still
  // sees them (an access's status is what a binding reports).
  const ownWrites = new OwnWrites();
  const accesses = customResourceInformers<WorkspaceNatsAccess>(client, { group: GROUP, version: VERSION, plural: ACCESS_PLURAL }, scopes, {
    log,
    onChange: (access, type) => {
      audit.accessChanged(access.metadata.namespace, access.metadata.name);
      ownWrites.onChange(ACCESS_PLURAL, access, type, () => queue.add(objectKey(access)));
      const binding = bindingKeyOf(access);
      if (binding) bindingQueue.add(binding);
    },
  });
  const enqueueAccessesOf = (issuerName: string) => accessKeysOfIssuer(accesses.list(), issuerName).forEach((key) => queue.add(key));
  const issuerVersions = new IssuerVersions();
  const issuers = new ResilientInformer<ClusterNatsIssuer>(client, {
    name: ISSUER_PLURAL,
    path: customResourcePath({ group: GROUP, version: VERSION, plural: ISSUER_PLURAL }, undefined),
    log,
    onChange: (issuer, type) => {
      issuerQueue.add(issuer.metadata.name);
      if (!issuerVersions.changed(issuer, type)) return;
      enqueueAccessesOf(issuer.metadata.name);
      audit.issuerChanged(issuer);
    },
  });
  const callouts = new ResilientInformer<ClusterNatsAuthCallout>(client, {
    name: CALLOUT_PLURAL,
    path: customResourcePath({ group: GROUP, version: VERSION, plural: CALLOUT_PLURAL }, undefined),
    log,
    onChange: (callout) => {
      calloutQueue.add(callout.metadata.name);
      enqueueAccessesOfCallout(callout.metadata.name);
    },
  });
  const enqueueAccessesOfCallout = (name: string) => {
    for (const access of accesses.list()) if (access.spec.authCalloutRef?.name === name) queue.add(objectKey(access));
  };
  const stopWatchingStates = options.callouts.onStateChange((name) => calloutQueue.add(name));
  const managedSecrets = `${MANAGED_BY_LABEL}=${MANAGED_BY_VALUE}`;
  const secretsByAccess = new ObjectIndex<V1Secret>(accessKeyOfSecret);
  const secrets = new MergedLister(
    scopes.map(
      (namespace) =>
        new ResilientInformer<V1Secret>(client, {
          name: namespace ? `secrets in ${namespace}` : 'secrets',
          path: namespace ? `/api/v1/namespaces/${namespace}/secrets` : '/api/v1/secrets',
          labelSelector: managedSecrets,
          log,
          onChange: (secret, type) => {
            // The cache keeps what was read of the creds, not their text.
            if (type !== 'delete') trimCreds(secret);
            secretsByAccess.update(secret, type);
            const key = accessKeyOfSecret(secret);
            if (!key) return;
            audit.accessChanged(secret.metadata?.namespace, key.slice(key.indexOf('/') + 1));
            ownWrites.onChange(SECRETS, secret, type, () => queue.add(key));
          },
        }),
    ),
  );

  // The operator's namespace, where issuers' keys and creds live: a rotated key re-checks the
  // issuer and re-issues its accesses' credentials.
  const keySecrets = new ResilientInformer<V1Secret>(client, {
    name: 'issuer-secrets',
    path: `/api/v1/namespaces/${options.namespace}/secrets`,
    log,
    onChange: (secret) => {
      for (const name of issuersReadingSecret(issuers.list(), secret.metadata?.name ?? '')) {
        issuerQueue.add(name);
        enqueueAccessesOf(name);
      }
      for (const name of calloutsReadingSecret(callouts.list(), secret.metadata?.name ?? '')) {
        calloutQueue.add(name);
        enqueueAccessesOfCallout(name);
      }
    },
  });
  const issuerKeys = new IssuerKeys(keySecrets, options.namespace);
  const events = new ApiEventRecorder(core, log, options.instance);
  const revocations = new Revocations({
    store: new RevocationStore(core, options.namespace, COMPONENT),
    issuers,
    keys: issuerKeys,
    onSettled: (keys) => {
      // Revocations of the audit's policy enforcement are not an access's.
      for (const key of keys) if (!key.startsWith(ENFORCEMENT_KEY_PREFIX)) queue.add(key);
    },
    onSystemChange: () => audit.resync(),
    onObserved: (account) => {
      for (const name of issuersOfAccount(issuers.list(), account)) issuerQueue.add(name);
    },
    onDrift: reportAccountDrift(issuers, events),
    metrics: metrics?.revocations,
    log,
    timing: options.revocation,
  });
  const namespaces = new ResilientInformer<V1Namespace>(client, {
    name: 'namespaces',
    path: '/api/v1/namespaces',
    log,
    // Issuers may select namespaces by label: a relabelled namespace re-checks its accesses.
    onChange: (namespace) => {
      for (const access of accesses.list(namespace.metadata?.name)) queue.add(objectKey(access));
    },
  });

  // Workspace bindings, and the sources they read, each started when a binding first needs it:
  // pods can be many, and a cluster without GitPod has no Workspace kind to watch.
  const bindings = customResourceInformers<WorkspaceNatsBinding>(client, { group: GROUP, version: VERSION, plural: BINDING_PLURAL }, scopes, {
    log,
    onChange: (binding) => bindingQueue.add(objectKey(binding)),
  });
  const enqueueBindingsIn = (namespace: string | undefined) => {
    for (const binding of bindings.list(namespace)) bindingQueue.add(objectKey(binding));
  };
  const onDemand = <T extends { metadata?: { namespace?: string } }>(name: string, path: (namespace: string | undefined) => string) =>
    new OnDemandInformers<T>(client, scopes, { name, path, log, onChange: (object) => enqueueBindingsIn(object.metadata?.namespace) }, () => enqueueBindingsIn(undefined));
  const pods = onDemand<V1Pod>('pods', (namespace) => (namespace ? `/api/v1/namespaces/${namespace}/pods` : '/api/v1/pods'));
  const gitpod = { group: GITPOD_GROUP, version: GITPOD_VERSION, plural: GITPOD_WORKSPACE_PLURAL };
  const gitpodWorkspaces = onDemand<GitpodWorkspace & KubernetesObject>('gitpod workspaces', (namespace) => customResourcePath(gitpod, namespace));
  const binder = new Binder({ customObjects, bindings, accesses, gitpodWorkspaces, pods, log, fieldManager: COMPONENT });

  const controller = new AccessController({
    customObjects,
    core,
    accesses,
    issuers,
    secrets: { get: (name, namespace) => secrets.get(name, namespace), ofAccess: (namespace, name) => secretsByAccess.get(`${namespace}/${name}`) },
    namespaces,
    signingKey: (issuer) => issuerKeys.accountSigningKey(issuer),
    callouts,
    sentinelCreds: (callout) => issuerKeys.credentials(callout.spec.nats.sentinelCredentialsSecretRef).creds,
    revocations,
    events,
    ownWrites,
    log,
    fieldManager: COMPONENT,
  });
  const issuerController = new IssuerController({
    customObjects,
    issuers,
    keys: issuerKeys,
    revocations,
    events,
    log,
    fieldManager: COMPONENT,
  });

  const audit = createAudit({ client, issuers, accesses, secretsByAccess, revocations, events, ownWrites, workspaceNamespaces: options.workspaceNamespaces, options: options.audit, log });

  const calloutStatus = new CalloutStatusController({
    customObjects,
    callouts,
    issuers,
    systemClient: (account) => revocations.systemClient(account),
    state: (name) => options.callouts.state(name),
    events,
    fieldManager: COMPONENT,
  });

  // Workers start only once every cache is filled, so no reconcile acts on a partial view.
  const informers = [issuers, callouts, keySecrets, ...secrets.informers, namespaces, ...accesses.informers, ...bindings.informers];
  await Promise.all(informers.map((informer) => informer.start()));
  log.info({ accesses: accesses.list().length, workers: options.workers }, 'caches synced');
  audit.start();
  metrics?.measure({ accesses: () => accesses.list(), issuers: () => issuers.list(), revocations: (account) => revocations.summary(account) });
  const onError = (key: string, error: unknown) => {
    // A conflict means a cache was behind a write; the retry reads the newer object.
    const level = isConflict(error) ? 'debug' : 'error';
    log[level]({ key, error: describeError(error) }, 'reconcile failed, retrying');
  };
  const logged =
    (reconcile: (key: string) => Promise<ReconcileResult>) =>
    async (key: string): Promise<ReconcileResult> => {
      const result = await reconcile(key);
      log.debug({ key, ...result }, 'reconciled');
      return result;
    };
  const workers = Promise.all([
    runWorkers(queue, options.workers, logged((key) => controller.reconcile(key)), onError, metrics?.reconciles(CONTROLLER.access)),
    runWorkers(issuerQueue, 1, logged((name) => issuerController.reconcile(name)), onError, metrics?.reconciles(CONTROLLER.issuer)),
    runWorkers(bindingQueue, 1, logged((key) => binder.reconcile(key)), onError, metrics?.reconciles(CONTROLLER.binding)),
    runWorkers(calloutQueue, 1, logged((name) => calloutStatus.reconcile(name)), onError, metrics?.reconciles(CONTROLLER.callout)),
  ]);
  const resync = setInterval(() => {
    for (const issuer of issuers.list()) issuerQueue.add(issuer.metadata.name);
    for (const callout of callouts.list()) calloutQueue.add(callout.metadata.name);
    enqueueBindingsIn(undefined);
    for (const access of accesses.list()) queue.add(objectKey(access));
  }, options.resyncPeriodMs);

  return {
    async stop() {
      clearInterval(resync);
      await Promise.all([...informers, ...pods.informers(), ...gitpodWorkspaces.informers()].map((informer) => informer.stop()));
      queue.shutDown();
      issuerQueue.shutDown();
      bindingQueue.shutDown();
      calloutQueue.shutDown();
      stopWatchingStates();
      await workers;
      await audit.stop();
      await revocations.stop();
      log.info('stopped');
    },
  };
}
