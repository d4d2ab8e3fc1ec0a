// Runs the pod webhook in every replica (it only reads, so it needs no leadership): a watch of the
// bindings it serves, its serving certificate (from a directory, or made and rotated by the
// operator), and the HTTPS server.

import { BINDING_PLURAL, GITPOD_GROUP, GITPOD_VERSION, GITPOD_WORKSPACE_PLURAL, GROUP, VERSION } from '../api/constants.ts';
import type { WorkspaceNatsBinding } from '../api/workspace-nats-binding.ts';
import type { GitpodWorkspace } from '../policy/bound-workspaces.ts';
import type { CustomObjectsApi, KubeClient } from '../kube/api.ts';
import { unlessNotFound } from '../kube/errors.ts';
import { customResourceInformers } from '../kube/merged-informers.ts';
import type { Logger } from '../log.ts';
import { readCertDir, SelfSignedCertificates, watchCertDir } from './certificates.ts';
import { mountFor, mountPatch } from './pod-mutation.ts';
import { WebhookServer } from './server.ts';

export interface PodWebhookOptions {
  client: KubeClient;
  /** The operator's namespace (for the self-made certificate's Secret). */
  namespace: string;
  /** Namespaces served; empty means all. */
  workspaceNamespaces: string[];
  port: number;
  /** Directory with tls.crt and tls.key (cert-manager); else the operator makes its own. */
  certDir: string | undefined;
  /** Names (and addresses) the self-made certificate is for. */
  hosts: string[];
  /** MutatingWebhookConfiguration to keep the self-made CA in. */
  configName: string;
  log: Logger;
}

export interface RunningWebhook {
  port: number;
  stop(): Promise<void>;
}

const CERT_SECRET = 'workspace-nats-operator-webhook-tls';
const ROTATION_CHECK_MS = 3600_000;

export async function startPodWebhook(options: PodWebhookOptions): Promise<RunningWebhook> {
  const { client, log } = options;
  const { customObjects } = client;
  const scopes = options.workspaceNamespaces.length > 0 ? options.workspaceNamespaces : [undefined];
  const bindings = customResourceInformers<WorkspaceNatsBinding>(client, { group: GROUP, version: VERSION, plural: BINDING_PLURAL }, scopes, {
    log,
    onChange: () => undefined,
  });
  await Promise.all(bindings.informers.map((informer) => informer.start()));

  const selfSigned = options.certDir
    ? undefined
    : new SelfSignedCertificates({ client, namespace: options.namespace, secretName: CERT_SECRET, configName: options.configName, hosts: options.hosts, log });
  const certificate = options.certDir ? readCertDir(options.certDir) : await selfSigned!.ensure();

  const server = new WebhookServer({
    port: options.port,
    certificate,
    log,
    mutate: async (pod, namespace) => {
      const inNamespace = bindings.list(namespace);
      if (inNamespace.length === 0) return [];
      // A GitPod Workspace is read when its pod is created: one call, and never a stale cache.
      const workspaces = new Map<string, GitpodWorkspace | undefined>();
      const instance = pod.metadata?.labels?.workspaceID;
      if (instance && inNamespace.some((binding) => binding.spec.source.gitpod)) {
        workspaces.set(instance, await readGitpodWorkspace(customObjects, namespace, instance));
      }
      const mount = mountFor(pod, inNamespace, (name) => workspaces.get(name));
      return mount ? mountPatch(pod, mount) : [];
    },
  });
  const port = await server.start();

  let stopWatching = () => {};
  let rotation: NodeJS.Timeout | undefined;
  if (options.certDir) {
    stopWatching = watchCertDir(options.certDir, (next) => server.useCertificate(next), log);
  } else {
    rotation = setInterval(() => {
      selfSigned!
        .ensure()
        .then((next) => server.useCertificate(next))
        .catch((error: unknown) => log.error({ error: (error as Error).message }, 'webhook certificate check failed'));
    }, ROTATION_CHECK_MS);
  }
  return {
    port,
    async stop() {
      clearInterval(rotation);
      stopWatching();
      await server.stop();
      await Promise.all(bindings.informers.map((informer) => informer.stop()));
    },
  };
}

function readGitpodWorkspace(customObjects: CustomObjectsApi, namespace: string, name: string): Promise<GitpodWorkspace | undefined> {
  const read = customObjects.getNamespacedCustomObject({ group: GITPOD_GROUP, version: GITPOD_VERSION, plural: GITPOD_WORKSPACE_PLURAL, namespace, name });
  return unlessNotFound(read as Promise<GitpodWorkspace>);
}
