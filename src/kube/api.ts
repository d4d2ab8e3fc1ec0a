// The API calls the operator makes, by name, over one KubeTransport: the method names and
// parameter objects of @kubernetes/client-node's ObjectParamAPI, so that call sites read as
// Kubernetes documentation does. Objects travel as the API server's JSON: timestamps stay RFC 3339
// strings although client-node's types (used here for their shapes only) say Date.
//
// Why our own client and not @kubernetes/client-node: importing it costs about 85 MiB of resident
// memory (its config module loads every generated API, ~900 model classes and the Azure, GCP and
// OIDC authenticators), more than half of what the operator needs to hold 10,000 accesses, and
// its informers list without pagination, so a restart with 10,000 objects parses them as one
// response. No lighter maintained TypeScript client exists (kubernetes-fluent-client wraps
// client-node; godaddy's kubernetes-client is archived). The package remains a dependency for its
// object types (type-only imports, erased at run time) and the tests' own clients.

import type { CoreV1Event, V1ConfigMap, V1ConfigMapList, V1DeleteOptions, V1Lease, V1MutatingWebhookConfiguration, V1Secret, V1SecretList } from '@kubernetes/client-node';
import type { ClusterConfig } from './kubeconfig.ts';
import { KubeTransport, type Query } from './transport.ts';

interface Named {
  name: string;
}
interface InNamespace {
  namespace: string;
}
interface Write<T> {
  body: T;
  fieldManager?: string;
}
/** A custom resource's group, version and plural. */
export interface CustomResource {
  group: string;
  version: string;
  plural: string;
}

export interface CoreApi {
  readNamespacedSecret(request: Named & InNamespace): Promise<V1Secret>;
  listNamespacedSecret(request: InNamespace & { labelSelector?: string }): Promise<V1SecretList>;
  createNamespacedSecret(request: InNamespace & Write<V1Secret>): Promise<V1Secret>;
  replaceNamespacedSecret(request: Named & InNamespace & Write<V1Secret>): Promise<V1Secret>;
  deleteNamespacedSecret(request: Named & InNamespace & { body?: V1DeleteOptions }): Promise<unknown>;
  listNamespacedConfigMap(request: InNamespace & { labelSelector?: string }): Promise<V1ConfigMapList>;
  createNamespacedConfigMap(request: InNamespace & Write<V1ConfigMap>): Promise<V1ConfigMap>;
  replaceNamespacedConfigMap(request: Named & InNamespace & Write<V1ConfigMap>): Promise<V1ConfigMap>;
  deleteNamespacedConfigMap(request: Named & InNamespace & { body?: V1DeleteOptions }): Promise<unknown>;
  createNamespacedEvent(request: InNamespace & Write<CoreV1Event>): Promise<CoreV1Event>;
}

/** Custom resources are untyped here: callers say what they read. */
export interface CustomObjectsApi {
  getNamespacedCustomObject(request: CustomResource & Named & InNamespace): Promise<unknown>;
  createNamespacedCustomObject(request: CustomResource & InNamespace & Write<object>): Promise<unknown>;
  replaceNamespacedCustomObject(request: CustomResource & Named & InNamespace & Write<object>): Promise<unknown>;
  deleteNamespacedCustomObject(request: CustomResource & Named & InNamespace & { body?: V1DeleteOptions }): Promise<unknown>;
  replaceNamespacedCustomObjectStatus(request: CustomResource & Named & InNamespace & Write<object>): Promise<unknown>;
  replaceClusterCustomObjectStatus(request: CustomResource & Named & Write<object>): Promise<unknown>;
}

export interface CoordinationApi {
  readNamespacedLease(request: Named & InNamespace): Promise<V1Lease>;
  createNamespacedLease(request: InNamespace & Write<V1Lease>): Promise<V1Lease>;
  replaceNamespacedLease(request: Named & InNamespace & Write<V1Lease>): Promise<V1Lease>;
}

export interface AdmissionApi {
  readMutatingWebhookConfiguration(request: Named): Promise<V1MutatingWebhookConfiguration>;
  replaceMutatingWebhookConfiguration(request: Named & Write<V1MutatingWebhookConfiguration>): Promise<V1MutatingWebhookConfiguration>;
}

const segment = encodeURIComponent;

/** The path of a collection (`base`/namespaces/`namespace`/`plural`) or of one object in it. */
export function resourcePath(base: string, plural: string, namespace?: string, name?: string, subresource?: string): string {
  return [base, ...(namespace !== undefined ? ['namespaces', segment(namespace)] : []), plural, ...(name !== undefined ? [segment(name)] : []), ...(subresource ? [subresource] : [])].join('/');
}

const customBase = ({ group, version }: CustomResource) => `/apis/${segment(group)}/${segment(version)}`;

/** The API path of `resource` in `namespace` (all namespaces when undefined). */
export const customResourcePath = (resource: CustomResource, namespace: string | undefined): string =>
  resourcePath(customBase(resource), segment(resource.plural), namespace);

/** The operator's client of one cluster: the APIs above, and the transport its informers use. */
export class KubeClient {
  readonly transport: KubeTransport;
  readonly core: CoreApi;
  readonly customObjects: CustomObjectsApi;
  readonly coordination: CoordinationApi;
  readonly admission: AdmissionApi;

  constructor(cluster: ClusterConfig, transport = new KubeTransport(cluster)) {
    this.transport = transport;
    const t = transport;
    const query = (write: { fieldManager?: string | undefined }): Query => ({ fieldManager: write.fieldManager });
    const core = (plural: string, r: { namespace: string; name?: string }) => resourcePath('/api/v1', plural, r.namespace, r.name);
    this.core = {
      readNamespacedSecret: (r) => t.request('GET', core('secrets', r)),
      listNamespacedSecret: (r) => t.request('GET', core('secrets', r), { query: { labelSelector: r.labelSelector } }),
      createNamespacedSecret: (r) => t.request('POST', core('secrets', r), { query: query(r), body: r.body }),
      replaceNamespacedSecret: (r) => t.request('PUT', core('secrets', r), { query: query(r), body: r.body }),
      deleteNamespacedSecret: (r) => t.request('DELETE', core('secrets', r), { body: r.body }),
      listNamespacedConfigMap: (r) => t.request('GET', core('configmaps', { namespace: r.namespace }), { query: { labelSelector: r.labelSelector } }),
      createNamespacedConfigMap: (r) => t.request('POST', core('configmaps', r), { query: query(r), body: r.body }),
      replaceNamespacedConfigMap: (r) => t.request('PUT', core('configmaps', r), { query: query(r), body: r.body }),
      deleteNamespacedConfigMap: (r) => t.request('DELETE', core('configmaps', r), { body: r.body }),
      createNamespacedEvent: (r) => t.request('POST', core('events', r), { query: query(r), body: r.body }),
    };
    const custom = (r: CustomResource & { namespace?: string; name?: string }, subresource?: string) =>
      resourcePath(customBase(r), segment(r.plural), r.namespace, r.name, subresource);
    this.customObjects = {
      getNamespacedCustomObject: (r) => t.request('GET', custom(r)),
      createNamespacedCustomObject: (r) => t.request('POST', custom(r), { query: query(r), body: r.body }),
      replaceNamespacedCustomObject: (r) => t.request('PUT', custom(r), { query: query(r), body: r.body }),
      deleteNamespacedCustomObject: (r) => t.request('DELETE', custom(r), { body: r.body }),
      replaceNamespacedCustomObjectStatus: (r) => t.request('PUT', custom(r, 'status'), { query: query(r), body: r.body }),
      replaceClusterCustomObjectStatus: (r) => t.request('PUT', custom(r, 'status'), { query: query(r), body: r.body }),
    };
    const lease = (r: { namespace: string; name?: string }) => resourcePath('/apis/coordination.k8s.io/v1', 'leases', r.namespace, r.name);
    this.coordination = {
      readNamespacedLease: (r) => t.request('GET', lease(r)),
      createNamespacedLease: (r) => t.request('POST', lease(r), { query: query(r), body: r.body }),
      replaceNamespacedLease: (r) => t.request('PUT', lease(r), { query: query(r), body: r.body }),
    };
    const webhooks = (name: string) => resourcePath('/apis/admissionregistration.k8s.io/v1', 'mutatingwebhookconfigurations', undefined, name);
    this.admission = {
      readMutatingWebhookConfiguration: (r) => t.request('GET', webhooks(r.name)),
      replaceMutatingWebhookConfiguration: (r) => t.request('PUT', webhooks(r.name), { query: query(r), body: r.body }),
    };
  }

  /**
   * A JSON merge patch of a namespaced custom object's status: the fields it leaves out stay as
   * they are, and no resourceVersion is needed (for fields one writer alone owns).
   */
  mergePatchStatus<T>(resource: CustomResource, namespace: string, name: string, patch: object, fieldManager: string): Promise<T> {
    const path = resourcePath(customBase(resource), segment(resource.plural), namespace, name, 'status');
    return this.transport.request('PATCH', path, { query: { fieldManager }, body: patch, contentType: 'application/merge-patch+json' });
  }

  /** The API server's URL, for logs. */
  get server(): string {
    return this.transport.server;
  }
}
