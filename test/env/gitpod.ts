// GitPod-shaped workspaces for the tests and the chaos run: a Workspace CRD of our own
// (workspace.gitpod.io/v1, as ws-manager-mk2 has it, reduced to the fields the binder reads), and
// creating, stopping and deleting Workspace objects.

import { ApiextensionsV1Api, type CustomObjectsApi, type KubeConfig } from '@kubernetes/client-node';
import { GITPOD_GROUP, GITPOD_VERSION, GITPOD_WORKSPACE_PLURAL } from '../../src/api/constants.ts';
import { waitFor } from './net.ts';

/** Installs the Workspace CRD (if missing) and waits until it is served. */
export async function installWorkspaceCrd(kubeConfig: KubeConfig): Promise<void> {
  const api = kubeConfig.makeApiClient(ApiextensionsV1Api);
  const str = { type: 'string' };
  try {
    await api.createCustomResourceDefinition({
      body: {
        metadata: { name: `${GITPOD_WORKSPACE_PLURAL}.${GITPOD_GROUP}` },
        spec: {
          group: GITPOD_GROUP,
          scope: 'Namespaced',
          names: { kind: 'Workspace', plural: GITPOD_WORKSPACE_PLURAL, singular: 'workspace', listKind: 'WorkspaceList' },
          versions: [
            {
              name: GITPOD_VERSION,
              served: true,
              storage: true,
              schema: {
                openAPIV3Schema: {
                  type: 'object',
                  properties: {
                    spec: { type: 'object', properties: { type: str, ownership: { type: 'object', properties: { workspaceID: str, owner: str } } } },
                    status: { type: 'object', properties: { phase: str } },
                  },
                },
              },
            },
          ],
        },
      },
    });
  } catch (error) {
    if ((error as { code?: number }).code !== 409) throw error;
  }
  await waitFor(
    async () => {
      const crd = await api.readCustomResourceDefinition({ name: `${GITPOD_WORKSPACE_PLURAL}.${GITPOD_GROUP}` });
      return crd.status?.conditions?.some((c) => c.type === 'Established' && c.status === 'True') ? true : undefined;
    },
    { what: 'the Workspace CRD', timeoutMs: 30_000 },
  );
}

const workspaces = { group: GITPOD_GROUP, version: GITPOD_VERSION, plural: GITPOD_WORKSPACE_PLURAL };

/** Creates Workspace `instance` (status in the object: the CRD has no status subresource). */
export async function createWorkspace(
  custom: CustomObjectsApi,
  namespace: string,
  instance: string,
  workspaceId: string,
  options: { type?: string; phase?: string; owner?: string } = {},
): Promise<void> {
  await custom.createNamespacedCustomObject({
    ...workspaces,
    namespace,
    body: {
      apiVersion: `${GITPOD_GROUP}/${GITPOD_VERSION}`,
      kind: 'Workspace',
      metadata: { name: instance },
      spec: { type: options.type ?? 'Regular', ownership: { workspaceID: workspaceId, owner: options.owner ?? 'u1' } },
      status: { phase: options.phase ?? 'Running' },
    },
  });
}

export const setWorkspacePhase = (custom: CustomObjectsApi, namespace: string, instance: string, phase: string) =>
  custom.patchNamespacedCustomObject({
    ...workspaces,
    namespace,
    name: instance,
    body: [{ op: 'replace', path: '/status/phase', value: phase }],
  });

export const deleteWorkspace = (custom: CustomObjectsApi, namespace: string, instance: string) =>
  custom.deleteNamespacedCustomObject({ ...workspaces, namespace, name: instance });
