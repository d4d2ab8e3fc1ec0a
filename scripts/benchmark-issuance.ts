// `npm run benchmark`: how long from creating a WorkspaceNatsAccess to its Secret holding
// credentials, for one object at a time and for 100 created at once. Runs the real operator (a
// child process) against the local test environment and prints the figures.

import { Watch } from '@kubernetes/client-node';
import { cpus } from 'node:os';
import { ACCESS_NAME_LABEL, ACCESS_PLURAL, GROUP, MANAGED_BY_LABEL, MANAGED_BY_VALUE, VERSION } from '../src/api/constants.ts';
import { accessBody, createAccess, waitFor } from '../test/env/cluster.ts';
import { ms, percentile } from './benchmark-figures.ts';
import { startBench } from './benchmark-setup.ts';

const SINGLE_RUNS = 10;
/** Operator settings, for experiments: BENCH_WORKERS=8 npm run benchmark */
const WORKERS = process.env.BENCH_WORKERS ?? '4';
const LOG_LEVEL = process.env.BENCH_LOG_LEVEL ?? 'info';
const BURST = 100;

const bench = await startBench(['--log-level', LOG_LEVEL, '--workers', WORKERS]);
try {
  const { admin } = bench;

  // Secret arrivals, by access name, as the API server reports them.
  const secretSeen = new Map<string, number>();
  const waiters = new Map<string, () => void>();
  const watch = await new Watch(admin.kubeConfig).watch(
    '/api/v1/namespaces/bench/secrets',
    { labelSelector: `${MANAGED_BY_LABEL}=${MANAGED_BY_VALUE}` },
    (type, secret: { metadata?: { labels?: Record<string, string> } }) => {
      const name = secret.metadata?.labels?.[ACCESS_NAME_LABEL];
      if (type !== 'ADDED' || !name || secretSeen.has(name)) return;
      secretSeen.set(name, performance.now());
      waiters.get(name)?.();
    },
    (error) => {
      if (error && (error as Error).name !== 'AbortError') process.stderr.write(`watch failed: ${String(error)}\n`);
    },
  );
  const secretFor = (name: string) =>
    new Promise<void>((resolve) => (secretSeen.has(name) ? resolve() : waiters.set(name, resolve)));
  const permissions = { publish: { allow: ['ws.{{workspace.id}}.>'] }, subscribe: { allow: ['ws.{{workspace.id}}.>'] } };

  const timeOne = async (name: string) => {
    const started = performance.now();
    await createAccess(admin.custom, 'bench', accessBody(name, { issuerRef: { name: 'bench' }, permissions }));
    await secretFor(name);
    return (secretSeen.get(name) ?? 0) - started;
  };

  const single: number[] = [];
  for (let i = 0; i < SINGLE_RUNS; i++) single.push(await timeOne(`single-${i}`));

  const burstStart = performance.now();
  const burst = await Promise.all(Array.from({ length: BURST }, (_, i) => timeOne(`burst-${i}`)));
  const burstTotal = performance.now() - burstStart;

  watch.abort();
  process.stdout.write(
    [
      '',
      `create -> Secret with credentials (operator: ${WORKERS} workers; ${process.arch}, ${cpus().length} cores)`,
      `  one at a time (${SINGLE_RUNS} runs): p50 ${ms(percentile(single, 50))}, max ${ms(Math.max(...single))}`,
      `  ${BURST} created at once:        p50 ${ms(percentile(burst, 50))}, p99 ${ms(percentile(burst, 99))}, all done after ${ms(burstTotal)}`,
      '',
    ].join('\n'),
  );
  // Sanity: everything the benchmark created becomes Ready (status is written just after the Secret).
  const expected = SINGLE_RUNS + BURST;
  const ready = await waitFor(
    async () => {
      const list = (await admin.custom.listNamespacedCustomObject({ group: GROUP, version: VERSION, plural: ACCESS_PLURAL, namespace: 'bench' })) as {
        items: { status?: { conditions?: { type: string; status: string }[] } }[];
      };
      const count = list.items.filter((a) => a.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True')).length;
      return count === expected ? count : undefined;
    },
    { what: `all ${expected} accesses to be Ready`, timeoutMs: 60_000 },
  );
  process.stdout.write(`  ${ready}/${expected} accesses Ready, ${ms(performance.now() - burstStart)} after the burst began\n`);
} finally {
  await bench.stop();
}
