// The Helm chart (charts/workspace-nats-operator) and the kustomizations (manifests/Kustomization,
// overlays/) install what the README says, on a real API server: helm lint passes, and helm template
// with the default values and with each switch on, and kubectl kustomize of manifests/ and of each
// overlay, pass a server-side dry run. values.schema.json refuses bad values, naming the field.
//
// The chart and manifests/ are both written by hand and kept from drifting by this suite: the chart
// rendered with values equivalent to manifests/ (and to each overlay) must give exactly the objects
// kustomize builds from manifests/, apart from the labels Helm adds. Generating one from the other
// was the alternative: the chart from manifests/ needs its conditionals spliced into the YAML, and
// manifests/ from the chart (helm template) would lose the comments that explain each right and
// setting there, and make helm a tool every edit of manifests/ needs. A comparison keeps both
// readable, and says which object and field differ.
//
// The test cluster has no Prometheus Operator or cert-manager: minimal CRDs for their kinds
// (ServiceMonitor, PrometheusRule, Issuer, Certificate; any spec) are installed for this suite and
// removed after it, so the dry run checks those objects' kind, group, version and scope only. Their
// content is checked by the comparison with manifests/monitoring and manifests/cert-manager, and the
// rules themselves by monitoring.test.ts (promtool).

import { spawn } from 'node:child_process';
import { readdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { parse, parseAllDocuments, stringify } from 'yaml';
import { renderCrdFiles } from '../../src/api/crds.ts';
import { clientsFor, ensureNamespace, installCrds, OPERATOR_NAMESPACE } from '../env/cluster.ts';
import { ensureComponents } from '../env/components.ts';
import { makeTempDir, removeTempDir } from '../env/processes.ts';
import { loadEnvState, type EnvState } from '../env/state.ts';

const root = path.join(import.meta.dirname, '..', '..');
const chart = path.join(root, 'charts', 'workspace-nats-operator');
const manifests = path.join(root, 'manifests');
const overlays = path.join(root, 'overlays');
/** The namespace of workspaces that manifests/namespaced and overlays/namespaced grant. */
const WORKSPACES_NAMESPACE = 'workspaces';
/** Labels the chart adds to every object and manifests/ does not have (see _helpers.tpl). */
const HELM_LABELS = ['helm.sh/chart', 'app.kubernetes.io/managed-by', 'app.kubernetes.io/instance', 'app.kubernetes.io/version'];

interface KubeObject {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string; labels?: Record<string, string>; [key: string]: unknown };
  [key: string]: unknown;
}

let state: EnvState;
let helmBinary: string;
let dir: string | undefined;
/** The stand-in CRDs this suite created (none that the cluster already had). */
const createdCrds: string[] = [];

beforeAll(async () => {
  // Built from the Go module proxy the first time, then cached by version like nats-server.
  helmBinary = (await ensureComponents({ only: ['helm'] })).helm;
}, 20 * 60_000);

beforeAll(async () => {
  dir = await makeTempDir('wno-e2e-helm-');
  state = loadEnvState();
  await installCrds(state);
  const admin = clientsFor(state.kubeconfig);
  // A dry run creates nothing, so the namespaces objects go into must exist already.
  for (const namespace of [OPERATOR_NAMESPACE, WORKSPACES_NAMESPACE, 'e2e-helm-a', 'e2e-helm-b']) {
    await ensureNamespace(admin.core, namespace);
  }
  await installStandInCrds();
});

afterAll(async () => {
  if (createdCrds.length > 0) await kubectl(['delete', 'crd', '--wait=false', ...createdCrds]);
  if (dir) await removeTempDir(dir);
});

/** Runs a binary to its end; a non-zero exit is a result here, not an error. */
function run(
  command: string,
  args: string[],
  options: { input?: string; env?: Record<string, string> } = {},
): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { cwd: root, env: { ...process.env, ...options.env }, timeout: 120_000 });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (data: Buffer) => (stdout += data.toString()));
    child.stderr.on('data', (data: Buffer) => (stderr += data.toString()));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code: code ?? -1, stdout, stderr }));
    child.stdin.end(options.input ?? '');
  });
}

const kubectl = (args: string[], input?: string) =>
  run(state.binaries.kubectl, args, { input, env: { KUBECONFIG: state.kubeconfig } });

/** Helm with its cache, config and data in this suite's temp folder, not in the home folder. */
const helm = (args: string[]) =>
  run(helmBinary, args, {
    env: { HELM_CACHE_HOME: path.join(dir!, 'cache'), HELM_CONFIG_HOME: path.join(dir!, 'config'), HELM_DATA_HOME: path.join(dir!, 'data') },
  });

/** `helm template` of the chart as released into the operator's namespace; throws on failure. */
async function template(args: string[] = []): Promise<string> {
  const { code, stdout, stderr } = await helm(['template', 'workspace-nats-operator', chart, '-n', OPERATOR_NAMESPACE, ...args]);
  if (code !== 0) throw new Error(`helm template ${args.join(' ')} failed: ${stderr}`);
  return stdout;
}

async function kustomize(folder: string): Promise<string> {
  const { code, stdout, stderr } = await kubectl(['kustomize', folder]);
  if (code !== 0) throw new Error(`kubectl kustomize ${folder} failed: ${stderr}`);
  return stdout;
}

const objects = (yaml: string) =>
  parseAllDocuments(yaml)
    .map((document) => document.toJS() as KubeObject | null)
    .filter((object): object is KubeObject => object !== null);

const keyOf = (object: KubeObject) => `${object.kind} ${object.metadata.namespace ?? ''}/${object.metadata.name}`;

/** The object without Helm's labels, so that a chart object and its manifest compare equal. */
function withoutHelmLabels(object: KubeObject): KubeObject {
  const labels = Object.fromEntries(Object.entries(object.metadata.labels ?? {}).filter(([key]) => !HELM_LABELS.includes(key)));
  const { labels: _labels, ...metadata } = object.metadata;
  return { ...object, metadata: Object.keys(labels).length > 0 ? { ...metadata, labels } : metadata };
}

/**
 * Objects by kind, namespace and name. The Namespace and the CRDs are left out: Helm installs the
 * chart's crds/ folder (the same generated files, test/unit/crds.test.ts) and makes the namespace
 * with --create-namespace, neither through templates.
 */
function comparable(list: KubeObject[]): Record<string, KubeObject> {
  return Object.fromEntries(
    list
      .filter((object) => object.kind !== 'Namespace' && object.kind !== 'CustomResourceDefinition')
      .map((object) => [keyOf(object), withoutHelmLabels(object)]),
  );
}

/** Applies YAML with a server-side dry run; returns what kubectl said it would do. */
async function dryRunApply(yaml: string): Promise<string> {
  const { code, stdout, stderr } = await kubectl(['apply', '--dry-run=server', '-f', '-'], yaml);
  if (code !== 0) throw new Error(`kubectl apply --dry-run=server failed: ${stderr}\n${stdout}`);
  return stdout;
}

/** Every object of `yaml` appears in kubectl's answer as accepted by the server's dry run. */
function expectAllAccepted(yaml: string, answer: string): void {
  const accepted = answer.split('\n').filter((line) => / (created|configured|unchanged) \(server dry run\)$/.test(line));
  expect(accepted).toHaveLength(objects(yaml).length);
}

/**
 * CRDs of other projects' kinds that the chart and overlays use, with any spec: enough for the
 * API server to accept the objects in a dry run. Only those the cluster lacks are created.
 */
async function installStandInCrds(): Promise<void> {
  const kinds = [
    { group: 'monitoring.coreos.com', kind: 'ServiceMonitor', plural: 'servicemonitors' },
    { group: 'monitoring.coreos.com', kind: 'PrometheusRule', plural: 'prometheusrules' },
    { group: 'cert-manager.io', kind: 'Issuer', plural: 'issuers' },
    { group: 'cert-manager.io', kind: 'Certificate', plural: 'certificates' },
  ];
  for (const { group, kind, plural } of kinds) {
    const name = `${plural}.${group}`;
    if ((await kubectl(['get', 'crd', name])).code === 0) continue;
    const crd = {
      apiVersion: 'apiextensions.k8s.io/v1',
      kind: 'CustomResourceDefinition',
      metadata: { name },
      spec: {
        group,
        scope: 'Namespaced',
        names: { kind, plural, singular: kind.toLowerCase(), listKind: `${kind}List` },
        versions: [
          {
            name: 'v1',
            served: true,
            storage: true,
            schema: { openAPIV3Schema: { type: 'object', 'x-kubernetes-preserve-unknown-fields': true } },
          },
        ],
      },
    };
    await dryRunApply(stringify(crd)); // fails loudly on a mistake here before anything is created
    const { code, stderr } = await kubectl(['apply', '-f', '-'], stringify(crd));
    if (code !== 0) throw new Error(`creating stand-in CRD ${name} failed: ${stderr}`);
    createdCrds.push(name);
  }
  if (createdCrds.length > 0) {
    const { code, stderr } = await kubectl(['wait', '--for=condition=Established', '--timeout=60s', ...createdCrds.map((n) => `crd/${n}`)]);
    if (code !== 0) throw new Error(`stand-in CRDs not established: ${stderr}`);
  }
}

/** The issuer of manifests/examples, as values for issuer.create. */
async function exampleIssuerValues(): Promise<{ file: string; issuer: KubeObject }> {
  const issuer = parse(await readFile(path.join(manifests, 'examples', 'cluster-nats-issuer.yaml'), 'utf8')) as KubeObject;
  const file = path.join(dir!, 'issuer-values.yaml');
  await writeFile(file, stringify({ issuer: { create: true, name: issuer.metadata.name, spec: issuer.spec } }));
  return { file, issuer };
}

describe('the Helm chart', () => {
  test('helm lint passes with the default values and with each switch on', async () => {
    const { file } = await exampleIssuerValues();
    for (const args of [
      [],
      ['--set', `rbac.mode=namespaced,rbac.namespaces={${WORKSPACES_NAMESPACE}}`],
      ['--set', 'webhook.certManager.enabled=true'],
      ['--set', 'monitoring.serviceMonitor.enabled=true,monitoring.prometheusRule.enabled=true'],
      ['--values', file],
    ]) {
      const { code, stdout, stderr } = await helm(['lint', '--strict', chart, '--namespace', OPERATOR_NAMESPACE, ...args]);
      expect({ args, code, output: `${stdout}${stderr}` }).toEqual({ args, code: 0, output: expect.stringContaining('1 chart(s) linted, 0 chart(s) failed') });
    }
  });

  // Each case: the values, and the kustomize folders whose objects they must render, no more.
  const cases: { name: string; args: () => Promise<string[]>; same: string[]; extra?: () => Promise<KubeObject[]> }[] = [
    { name: 'default values (manifests/)', args: async () => [], same: [manifests] },
    {
      name: 'rbac.mode namespaced (overlays/namespaced)',
      args: async () => ['--set', `rbac.mode=namespaced,rbac.namespaces={${WORKSPACES_NAMESPACE}}`],
      same: [path.join(overlays, 'namespaced')],
    },
    {
      name: 'webhook.certManager.enabled (overlays/cert-manager)',
      args: async () => ['--set', 'webhook.certManager.enabled=true'],
      same: [path.join(overlays, 'cert-manager')],
    },
    {
      name: 'monitoring.serviceMonitor and monitoring.prometheusRule (manifests/monitoring)',
      args: async () => ['--set', 'monitoring.serviceMonitor.enabled=true,monitoring.prometheusRule.enabled=true'],
      same: [manifests, path.join(manifests, 'monitoring')],
    },
    {
      name: 'issuer.create (manifests/examples/cluster-nats-issuer.yaml)',
      args: async () => ['--values', (await exampleIssuerValues()).file],
      same: [manifests],
      extra: async () => [(await exampleIssuerValues()).issuer],
    },
  ];

  test.each(cases)('$name: renders the same objects as kustomize, and passes a server-side dry run', async ({ args, same, extra }) => {
    const rendered = await template(await args());
    const expected: KubeObject[] = [];
    for (const folder of same) expected.push(...objects(await kustomize(folder)));
    expected.push(...((await extra?.()) ?? []));
    const chartObjects = comparable(objects(rendered));
    const manifestObjects = comparable(expected);
    expect(Object.keys(chartObjects).sort()).toEqual(Object.keys(manifestObjects).sort());
    for (const key of Object.keys(manifestObjects)) expect({ [key]: chartObjects[key] }).toEqual({ [key]: manifestObjects[key] });
    // Every object also carries Helm's labels, so `helm` and `kubectl -l` find the release's objects.
    for (const object of objects(rendered)) expect(Object.keys(object.metadata.labels ?? {})).toEqual(expect.arrayContaining(HELM_LABELS));

    expectAllAccepted(rendered, await dryRunApply(rendered));
  });

  test('the CRDs Helm installs pass a server-side dry run (helm template --include-crds)', async () => {
    const rendered = await template(['--include-crds']);
    const crds = objects(rendered).filter((object) => object.kind === 'CustomResourceDefinition');
    expect(crds).toHaveLength(Object.keys(renderCrdFiles()).length);
    expectAllAccepted(rendered, await dryRunApply(rendered));
  });

  test('the other values render what they say: more namespaces, no webhook, image, replicas, flags', async () => {
    const rendered = objects(
      await template([
        '--set',
        'rbac.mode=namespaced,rbac.namespaces={e2e-helm-a,e2e-helm-b},webhook.enabled=false',
        '--set',
        'image.repository=registry.example/wno,image.tag=1.2.3,replicaCount=3,workers=8,resyncPeriod=5m,logLevel=debug,metrics.port=9090',
      ]),
    );
    const bindings = rendered.filter((object) => object.kind === 'RoleBinding' && object.metadata.name === 'workspace-nats-operator');
    expect(bindings.map((object) => object.metadata.namespace).sort()).toEqual(['e2e-helm-a', 'e2e-helm-b', OPERATOR_NAMESPACE]);
    expect(rendered.filter((object) => object.kind === 'ClusterRoleBinding').map((object) => object.metadata.name)).toEqual(['workspace-nats-operator']);
    expect(rendered.map((object) => object.kind)).not.toContain('MutatingWebhookConfiguration');
    const deployment = rendered.find((object) => object.kind === 'Deployment') as KubeObject & {
      spec: { replicas: number; template: { spec: { containers: { image: string; args: string[]; ports: { name: string }[] }[] } } };
    };
    const container = deployment.spec.template.spec.containers[0]!;
    expect(deployment.spec.replicas).toBe(3);
    expect(container.image).toBe('registry.example/wno:1.2.3');
    expect(container.args).toEqual([
      'run',
      '--leader-elect',
      '--workers=8',
      '--resync-period=5m',
      '--log-level=debug',
      '--metrics-port=9090',
      '--namespaces=e2e-helm-a,e2e-helm-b',
    ]);
    expect(container.ports.map((port) => port.name)).toEqual(['metrics']);
    const yaml = rendered.map((object) => stringify(object)).join('---\n');
    expectAllAccepted(yaml, await dryRunApply(yaml));
  });

  // helm's own message names the value's path and what is wrong with it.
  test.each([
    { values: 'replicaCount=-1', error: /at '\/replicaCount': minimum: got -1, want 0/ },
    { values: 'rbac.mode=everywhere', error: /at '\/rbac\/mode': value must be one of 'cluster', 'namespaced'/ },
    { values: 'rbac.mode=namespaced', error: /at '\/rbac\/namespaces': minItems: got 0, want 1/ },
    { values: 'rbac.namespaces={workspaces}', error: /at '\/rbac\/namespaces': maxItems: got 1, want 0/ },
    { values: 'workers=0', error: /at '\/workers': minimum: got 0, want 1/ },
    { values: 'resyncPeriod=often', error: /at '\/resyncPeriod': '[^']*often[^']*' does not match pattern/ },
    { values: 'replicas=3', error: /additional properties 'replicas' not allowed/ },
    { values: 'issuer.create=true', error: /at '\/issuer\/spec': missing properties 'nats', 'operator', 'account'/ },
  ])('values.schema.json refuses $values', async ({ values, error }) => {
    for (const command of ['template', 'lint']) {
      const args = command === 'template' ? ['template', 'workspace-nats-operator', chart] : ['lint', chart];
      const { code, stdout, stderr } = await helm([...args, '-n', OPERATOR_NAMESPACE, '--set', values]);
      expect(code).not.toBe(0);
      expect(`${stdout}${stderr}`).toMatch(/values don't meet the specifications of the schema/);
      expect(`${stdout}${stderr}`).toMatch(error);
    }
  });

  test("the release's own namespace cannot be one of rbac.namespaces", async () => {
    const { code, stderr } = await helm([
      'template', 'workspace-nats-operator', chart, '-n', OPERATOR_NAMESPACE, '--set', `rbac.mode=namespaced,rbac.namespaces={${OPERATOR_NAMESPACE}}`,
    ]);
    expect(code).not.toBe(0);
    expect(stderr).toContain(`rbac.namespaces: "${OPERATOR_NAMESPACE}" is the release's namespace`);
  });
});

describe('kustomize', () => {
  test('kubectl apply -k manifests/ applies what kubectl apply -f crds/ -f manifests/ does', async () => {
    const built = objects(await kustomize(manifests));
    // What `kubectl apply -f DIR` reads: every *.yaml directly in DIR (manifests.test.ts applies it).
    const byFiles: KubeObject[] = [];
    for (const folder of [path.join(root, 'crds'), manifests]) {
      for (const file of (await readdir(folder)).filter((name) => name.endsWith('.yaml'))) {
        byFiles.push(...objects(await readFile(path.join(folder, file), 'utf8')));
      }
    }
    expect(built.map(keyOf).sort()).toEqual(byFiles.map(keyOf).sort());
    expect(built.filter((object) => object.kind === 'CustomResourceDefinition').map((object) => object.metadata.name).sort()).toEqual(
      Object.values(renderCrdFiles()).map((text) => (parse(text) as KubeObject).metadata.name).sort(),
    );

    // (kubectl warns about objects that other suites created without kubectl apply: not a failure.)
    const { code, stdout, stderr } = await kubectl(['apply', '--dry-run=server', '-k', manifests]);
    expect({ code, stderr: stderr.replace(/^Warning: .*\n/gm, '') }).toEqual({ code: 0, stderr: '' });
    expect(stdout.split('\n').filter((line) => line.endsWith('(server dry run)'))).toHaveLength(built.length);
  });

  test.each([
    { folder: 'overlays/namespaced', expect: (built: KubeObject[]) => {
      expect(built.map(keyOf)).toContain(`RoleBinding ${WORKSPACES_NAMESPACE}/workspace-nats-operator`);
      expect(built.map(keyOf)).not.toContain('ClusterRoleBinding /workspace-nats-operator-workspaces');
    } },
    { folder: 'overlays/cert-manager', expect: (built: KubeObject[]) => {
      expect(built.filter((object) => object.kind === 'Certificate')).toHaveLength(2);
    } },
    { folder: 'manifests/monitoring', expect: (built: KubeObject[]) => {
      expect(built.map((object) => object.kind).sort()).toEqual(['PrometheusRule', 'ServiceMonitor']);
    } },
  ])('kubectl kustomize $folder builds, and its objects pass a server-side dry run', async ({ folder, expect: check }) => {
    const yaml = await kustomize(path.join(root, folder));
    check(objects(yaml));
    expectAllAccepted(yaml, await dryRunApply(yaml));
  });
});
