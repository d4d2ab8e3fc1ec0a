// manifests/monitoring works with the Prometheus it is meant for: promtool (built like the other
// test binaries) accepts the PrometheusRule's groups, and its unit tests in
// test/monitoring/alerts.test.yaml show each alert firing on the series that should fire it and
// silent on healthy ones; the ServiceMonitor selects the metrics Service of manifests/ by its
// labels and port name, whose name is the job the alerts select; kustomize builds the folder.
// Nothing here needs the operator or NATS: the e2e project is where test binaries are built.

import { execFile } from 'node:child_process';
import { copyFile, readdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { parse, parseAllDocuments, stringify } from 'yaml';
import { ensureComponents } from '../env/components.ts';
import { makeTempDir, removeTempDir } from '../env/processes.ts';
import { loadEnvState } from '../env/state.ts';

const root = path.join(import.meta.dirname, '..', '..');
const monitoring = path.join(root, 'manifests', 'monitoring');
const ruleTests = path.join(root, 'test', 'monitoring', 'alerts.test.yaml');
/** The metrics Service of the core manifests, as the metrics contract names it. */
const METRICS_SERVICE = 'workspace-nats-operator-metrics';

interface Manifest {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string; labels?: Record<string, string> };
  spec: Record<string, unknown>;
}
interface AlertRule {
  alert?: string;
  record?: string;
  expr: string;
  for?: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
}
interface RuleGroup {
  name: string;
  rules: AlertRule[];
}
interface ServicePort {
  name?: string;
  port: number;
}

let promtool: string;
let dir: string | undefined;

beforeAll(async () => {
  // Built from the Go module proxy the first time, then cached by version like nats-server.
  promtool = (await ensureComponents({ only: ['promtool'] })).promtool;
}, 20 * 60_000);

beforeAll(async () => {
  dir = await makeTempDir('wno-e2e-monitoring-');
});

afterAll(async () => {
  if (dir) await removeTempDir(dir);
});

const readManifest = async (file: string) => parse(await readFile(path.join(monitoring, file), 'utf8')) as Manifest;
const ruleGroups = async () => (await readManifest('prometheus-rule.yaml')).spec.groups as RuleGroup[];
const alerts = async () => (await ruleGroups()).flatMap((group) => group.rules);

/** Runs a binary to its end; a non-zero exit is a result here, not an error. */
function run(command: string, args: string[], cwd: string): Promise<{ code: number; output: string }> {
  return new Promise((resolve) => {
    execFile(command, args, { cwd, timeout: 60_000 }, (error, stdout, stderr) => {
      const code = error ? (typeof error.code === 'number' ? error.code : -1) : 0;
      resolve({ code, output: `${stdout}${stderr}` });
    });
  });
}

/**
 * A Prometheus rule file: what the Prometheus Operator hands Prometheus for this PrometheusRule.
 * promtool's unit tests compare annotations word for word; the cases are about when an alert
 * fires, so for them (`forUnitTests`) the annotations are left out rather than copied there.
 */
async function writeRuleFile(options: { forUnitTests?: boolean } = {}): Promise<void> {
  const groups = (await ruleGroups()).map((group) => ({
    ...group,
    rules: group.rules.map(({ annotations, ...rule }) => (options.forUnitTests ? rule : { ...rule, annotations })),
  }));
  await writeFile(path.join(dir!, 'rules.yaml'), stringify({ groups }));
}

test('every alert says how bad it is and what happened', async () => {
  for (const rule of await alerts()) {
    expect(rule.alert).toMatch(/^WorkspaceNats[A-Za-z]+$/);
    expect(['critical', 'warning']).toContain(rule.labels?.severity);
    expect(rule.annotations?.summary).toBeTruthy();
    expect(rule.annotations?.description).toBeTruthy();
  }
});

test('promtool check rules accepts the PrometheusRule', async () => {
  await writeRuleFile();
  const count = (await alerts()).length;
  const { code, output } = await run(promtool, ['check', 'rules', '--lint-fatal', 'rules.yaml'], dir!);
  expect(output).toContain(`SUCCESS: ${count} rules found`);
  expect(code).toBe(0);
});

test('promtool test rules: each alert fires on the series that should fire it, and only on those', async () => {
  await writeRuleFile({ forUnitTests: true });
  await copyFile(ruleTests, path.join(dir!, 'alerts.test.yaml'));
  const { code, output } = await run(promtool, ['test', 'rules', 'alerts.test.yaml'], dir!);
  expect(output).toContain('SUCCESS');
  expect(code).toBe(0);

  // An alert added without a case of its own firing fails here.
  const cases = parse(await readFile(ruleTests, 'utf8')) as {
    tests: { alert_rule_test?: { alertname: string; exp_alerts: unknown[] }[] }[];
  };
  const shownFiring = new Set(
    cases.tests.flatMap((t) => t.alert_rule_test ?? []).filter((c) => c.exp_alerts.length > 0).map((c) => c.alertname),
  );
  expect([...shownFiring].sort()).toEqual((await alerts()).map((rule) => rule.alert).sort());
});

test("the ServiceMonitor selects exactly the metrics Service's port, whose name is the job the alerts select", async () => {
  const monitor = await readManifest('service-monitor.yaml');
  const services: Manifest[] = [];
  for (const file of (await readdir(path.join(root, 'manifests'))).filter((f) => f.endsWith('.yaml'))) {
    for (const document of parseAllDocuments(await readFile(path.join(root, 'manifests', file), 'utf8'))) {
      const object = document.toJS() as Manifest | null;
      if (object?.kind === 'Service') services.push(object);
    }
  }
  const { selector, endpoints, namespaceSelector } = monitor.spec as {
    selector: { matchLabels: Record<string, string> };
    endpoints: { port: string }[];
    namespaceSelector?: unknown;
  };
  // Without a namespaceSelector, a ServiceMonitor looks only in its own namespace.
  expect(namespaceSelector).toBeUndefined();
  const selected = services.filter(
    (service) =>
      service.metadata.namespace === monitor.metadata.namespace &&
      Object.entries(selector.matchLabels).every(([key, value]) => service.metadata.labels?.[key] === value),
  );
  expect(selected.map((service) => service.metadata.name)).toEqual([METRICS_SERVICE]);
  const ports = (selected[0]!.spec.ports as ServicePort[]).map((port) => port.name);
  expect(endpoints.map((endpoint) => endpoint.port)).toEqual(['metrics']);
  expect(ports).toContain('metrics');

  // Prometheus Operator names the job after the Service (no jobLabel is set).
  expect(monitor.spec.jobLabel).toBeUndefined();
  const jobs = (await alerts()).flatMap((rule) => [...rule.expr.matchAll(/\bjob="([^"]*)"/g)].map((m) => m[1]));
  expect(jobs.length).toBeGreaterThan(0);
  expect(new Set(jobs)).toEqual(new Set([METRICS_SERVICE]));
});

test('kubectl kustomize builds manifests/monitoring into the ServiceMonitor and the PrometheusRule', async () => {
  const { code, output } = await run(loadEnvState().binaries.kubectl, ['kustomize', monitoring], dir!);
  expect(code).toBe(0);
  const kinds = parseAllDocuments(output).map((document) => (document.toJS() as Manifest).kind);
  expect(kinds.sort()).toEqual(['PrometheusRule', 'ServiceMonitor']);
});
