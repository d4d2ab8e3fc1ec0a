import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadRunConfig } from '../../src/cli/config.ts';

describe('run settings', () => {
  // Made lazily by the tests that need it: a folder made while collecting the tests would be left
  // behind when a filter (-t) skips them all, since afterAll does not run then.
  let dir: string | undefined;
  afterAll(() => {
    if (dir) rmSync(dir, { recursive: true, force: true });
  });
  const file = (text: string) => {
    dir ??= mkdtempSync(join(tmpdir(), 'wno-config-'));
    const path = join(dir, `c${Math.random()}.yaml`);
    writeFileSync(path, text);
    return path;
  };

  test('defaults, with the namespace from POD_NAMESPACE', () => {
    expect(loadRunConfig({}, { POD_NAMESPACE: 'wno-system' })).toEqual({
      kubeconfig: undefined,
      namespace: 'wno-system',
      workers: 16,
      resyncPeriodMs: 600_000,
      logLevel: 'info',
      leaderElect: false,
      namespaces: [],
      revocation: { lingerMs: 100, pruneGraceMs: 10_000, maxBackoffMs: 30_000, verifyPeriodMs: 30_000 },
      audit: { resyncMs: 30_000, statusIntervalMs: 10_000, unknownGraceMs: 300, eventWindowMs: 60_000 },
      metricsPort: 8080,
    });
  });

  test('the audit Event window is a duration of at least 1s', () => {
    expect(loadRunConfig({ namespace: 'n', 'audit-event-window': '5s' }, {}).audit.eventWindowMs).toBe(5000);
    expect(() => loadRunConfig({ namespace: 'n', 'audit-event-window': '10ms' }, {})).toThrow('--audit-event-window: must be at least 1s');
  });

  test('the NATS verify period is a duration of at least 1s', () => {
    expect(loadRunConfig({ namespace: 'n', 'nats-verify-period': '5s' }, {}).revocation.verifyPeriodMs).toBe(5000);
    expect(() => loadRunConfig({ namespace: 'n', 'nats-verify-period': '500ms' }, {})).toThrow('--nats-verify-period: must be at least 1s');
  });

  test('metrics and probes are served on --metrics-port, 8080 by default, and nowhere with 0', () => {
    expect(loadRunConfig({ namespace: 'n' }, {}).metricsPort).toBe(8080);
    expect(loadRunConfig({ namespace: 'n', 'metrics-port': '9090' }, {}).metricsPort).toBe(9090);
    expect(loadRunConfig({ namespace: 'n', 'metrics-port': '0' }, {}).metricsPort).toBeUndefined();
    expect(loadRunConfig({ config: file('namespace: n\nmetrics-port: 0\n') }, {}).metricsPort).toBeUndefined();
    expect(() => loadRunConfig({ namespace: 'n', 'metrics-port': 'http' }, {})).toThrow('--metrics-port: "http" is not a port number');
  });

  test('namespaces come as a comma-separated flag or a list in the file', () => {
    expect(loadRunConfig({ namespace: 'n', namespaces: 'gitpod, coder,gitpod' }, {}).namespaces).toEqual(['gitpod', 'coder']);
    const config = file('namespace: n\nnamespaces: [a, b]\n');
    expect(loadRunConfig({ config }, {}).namespaces).toEqual(['a', 'b']);
    expect(() => loadRunConfig({ namespace: 'n', namespaces: 'ok,Not_OK' }, {})).toThrow('--namespaces: "Not_OK" is not a namespace name');
  });

  test('the config file is read, and flags win over it', () => {
    const config = file('namespace: ops\nworkers: 8\nresync-period: 30s\nlog-level: debug\nleader-elect: true\n');
    expect(loadRunConfig({ config, workers: '2' }, {})).toMatchObject({
      namespace: 'ops',
      workers: 2,
      resyncPeriodMs: 30_000,
      logLevel: 'debug',
      leaderElect: true,
    });
  });

  test.each([
    [{}, {}, '--namespace (or POD_NAMESPACE)'],
    [{ namespace: 'n', workers: '0' }, {}, '--workers: "0" is not a whole number from 1 to 64'],
    [{ namespace: 'n', workers: 'many' }, {}, '--workers: "many" is not a whole number'],
    [{ namespace: 'n', 'resync-period': '10' }, {}, '--resync-period: "10" is not a duration'],
    [{ namespace: 'n', 'resync-period': '10ms' }, {}, '--resync-period: must be at least 1s'],
    [{ namespace: 'n', 'log-level': 'loud' }, {}, '--log-level: "loud" is not one of'],
  ])('%j is refused, naming the flag', (flags, env, message) => {
    expect(() => loadRunConfig(flags, env)).toThrow(message);
  });

  test('a bad config file names the file and the setting', () => {
    const unknown = file('namspace: typo\n');
    expect(() => loadRunConfig({ config: unknown }, {})).toThrow(`--config ${unknown}: unknown setting "namspace"`);
    const badWorkers = file('namespace: n\nworkers: lots\n');
    expect(() => loadRunConfig({ config: badWorkers }, {})).toThrow(`${badWorkers}: workers: "lots"`);
    const yesPlease = file('namespace: n\nleader-elect: yes please\n');
    expect(() => loadRunConfig({ config: yesPlease }, {})).toThrow(`${yesPlease}: leader-elect: "yes please" is not true or false`);
    const list = file('- a\n');
    expect(() => loadRunConfig({ config: list }, {})).toThrow('expected a mapping of settings');
    expect(() => loadRunConfig({ config: `${list}.missing.yaml` }, {})).toThrow(/--config .*missing\.yaml: ENOENT/);
  });
});
