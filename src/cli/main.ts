#!/usr/bin/env node
// Command-line entry point: `run` starts the operator (and its auth callouts), `crds` prints the
// CRDs, `inspect` shows an access or issuer as the cluster and NATS see it. Parses arguments and wires the pieces; owns no logic of its own.

import { hostname } from 'node:os';
import { parseArgs } from 'node:util';
import { renderCrdFiles } from '../api/crds.ts';
import { CalloutService } from '../callout/service.ts';
import { startOperator, type RunningOperator } from './operator.ts';
import { KubeClient } from '../kube/api.ts';
import { loadClusterConfig } from '../kube/kubeconfig.ts';
import { LeaderElector, leaseInformer } from '../kube/leader-election.ts';
import { KubeTransport } from '../kube/transport.ts';
import { createLogger } from '../log.ts';
import { OperatorMetrics } from '../metrics.ts';
import { Readiness } from './health.ts';
import { serveMonitoring, type RunningMonitoring } from './monitoring-server.ts';
import { startPodWebhook, type RunningWebhook } from '../webhook/pod-webhook.ts';
import { loadRunConfig, runFlags } from './config.ts';
import { inspect } from './inspect.ts';
import { bootstrap } from './bootstrap.ts';
import { bootstrapUsage } from './bootstrap-usage.ts';

/** The Lease that replicas elect a leader with, in the operator's namespace. */
const LEASE_NAME = 'workspace-nats-operator';

const usage = `Usage: workspace-nats-operator <command> [options]

Commands:
  run     Run the operator: mint, renew and revoke NATS credentials for WorkspaceNatsAccess objects,
          and answer the NATS auth callouts of ClusterNatsAuthCallout objects
  crds    Print the CustomResourceDefinitions as YAML (kubectl apply -f -)
  inspect Show an access or an issuer: grant, users, revocations on each NATS server, connections
          (workspace-nats-operator inspect --help)
  bootstrap
          Make a NATS operator-mode trust (or read one from nsc or seed files) and write its
          nats-server config, keys and Kubernetes objects (issuer, Secrets) to a folder; see
          bootstrap --help

Options of run:
  --kubeconfig PATH      cluster to use (default: $KUBECONFIG, in-cluster, then ~/.kube/config)
  --namespace NAME       the operator's namespace, holding issuer key Secrets (default: $POD_NAMESPACE)
  --workers N            reconciles run in parallel, 1 to 64 (default 16)
  --resync-period DUR    re-check every access this often, e.g. 10m (default 10m)
  --log-level LEVEL      fatal, error, warn, info, debug or trace (default info)
  --leader-elect         run only while holding the Lease ${LEASE_NAME} in the operator's namespace
                         (for more than one replica)
  --namespaces A,B       serve accesses in these namespaces only (default: all); lets RBAC grant
                         Secret rights per namespace instead of cluster-wide
  --nats-verify-period DUR
                         check that every NATS server holds the account JWT with its revocations
                         this often, e.g. 30s (default 30s; a restarted server is checked at once)
  --webhook-port PORT    serve the pod webhook (HTTPS) on this port (default: off)
  --webhook-cert-dir DIR read its certificate from DIR/tls.crt and tls.key (cert-manager); default:
                         make one, keep it in Secret workspace-nats-operator-webhook-tls, and put
                         its CA into the webhook configuration's caBundle
  --webhook-hosts A,B    names and addresses of the self-made certificate
                         (default: workspace-nats-operator-webhook.<namespace>.svc[.cluster.local])
  --webhook-config NAME  MutatingWebhookConfiguration for the caBundle (default workspace-nats-operator)
  --metrics-port PORT    serve Prometheus metrics (GET /metrics) and the probes (GET /healthz, /readyz)
                         on this port, plain HTTP (default 8080; 0 turns it off)
  --audit-event-window DUR
                         at most one Connected, Disconnected or AuthFailed Event per access (and one
                         drift Event per issuer) and reason this often; the rest are counted into
                         the next (default 1m)
  --config FILE          YAML file with the settings above by flag name; flags win
`;

async function run(args: string[]): Promise<void> {
  const { values } = parseArgs({ args, options: runFlags, strict: true });
  const config = loadRunConfig(values, process.env);
  const log = createLogger(config.logLevel);
  const cluster = loadClusterConfig(config.kubeconfig);
  const metrics = new OperatorMetrics();
  const client = new KubeClient(cluster, new KubeTransport(cluster, metrics.restClient));
  const identity = process.env.POD_NAME ?? `${hostname()}-${process.pid}`;

  const stopping = new AbortController();
  let operator: RunningOperator | undefined;
  let elector: LeaderElector | undefined;
  let webhook: RunningWebhook | undefined;
  let monitoring: RunningMonitoring | undefined;
  const callouts = new CalloutService({ client, namespace: config.namespace, workspaceNamespaces: config.namespaces, log, metrics });
  const shutdown = (signal: string) => {
    log.info({ signal }, 'shutting down');
    stopping.abort();
    (async () => {
      await operator?.stop();
      await elector?.release();
      await webhook?.stop();
      await callouts.stop();
      await monitoring?.stop();
    })().then(
      () => process.exit(0),
      () => process.exit(1),
    );
  };
  process.once('SIGTERM', shutdown);
  process.once('SIGINT', shutdown);

  // Every replica serves the webhook and the auth callouts (both only read), and is ready once they
  // serve; only the leader reconciles, and it is ready once its caches are synced too. A standby
  // replica has no caches to wait for.
  const readiness = new Readiness();
  const cachesSyncing = () => readiness.fail('caches', "the operator's caches are not synced yet");
  readiness.fail('callouts', "the callouts' caches are not synced yet");
  if (config.webhook) readiness.fail('webhook', 'not listening yet');
  if (!config.leaderElect) cachesSyncing();
  if (config.metricsPort !== undefined) monitoring = await serveMonitoring({ registry: metrics.registry, readiness, port: config.metricsPort, log });
  await callouts.start();
  readiness.pass('callouts');
  if (config.webhook) {
    webhook = await startPodWebhook({
      client,
      namespace: config.namespace,
      workspaceNamespaces: config.namespaces,
      ...config.webhook,
      log,
    });
    readiness.pass('webhook');
  }
  if (config.leaderElect) {
    elector = new LeaderElector({
      coordination: client.coordination,
      namespace: config.namespace,
      name: LEASE_NAME,
      identity,
      watchLease: leaseInformer(client, log),
      log,
    });
    if (!(await elector.acquire(stopping.signal))) return;
    // As client-go does: a replica that lost the lease exits at once, so that it can never
    // reconcile beside the new leader; Kubernetes restarts it as a candidate.
    elector.keepRenewing(() => process.exit(1));
    cachesSyncing();
  }
  operator = await startOperator({
    client,
    namespace: config.namespace,
    workers: config.workers,
    resyncPeriodMs: config.resyncPeriodMs,
    workspaceNamespaces: config.namespaces,
    log,
    instance: identity,
    revocation: config.revocation,
    callouts,
    metrics,
    // Audit lines are written whatever the log level: they are the record, not diagnostics.
    audit: { ...config.audit, log: log.child({ logger: 'audit' }, { level: 'info' }), metrics: metrics.audit },
  });
  readiness.pass('caches');
  log.info({ namespace: config.namespace, server: client.server, cluster: cluster.source }, 'started');
}

async function main(argv: string[]): Promise<void> {
  const [command, ...rest] = argv;
  switch (command) {
    case 'run':
      return run(rest);
    case 'bootstrap':
      if (rest.includes('--help') || rest.includes('-h')) return void process.stdout.write(bootstrapUsage);
      return bootstrap(rest, process.env, (line) => process.stdout.write(`${line}\n`));
    case 'crds':
      process.stdout.write(Object.values(renderCrdFiles()).join('---\n'));
      return;
    case 'inspect':
      // Exits at once: the API client's kept-alive sockets would hold the process for seconds.
      process.exit(await inspect(rest, process.env, (text) => process.stdout.write(text)));
    case undefined:
    case 'help':
    case '--help':
    case '-h':
      process.stdout.write(usage);
      return;
    default:
      throw new Error(`unknown command "${command}"\n\n${usage}`);
  }
}

main(process.argv.slice(2)).catch((error: unknown) => {
  process.stderr.write(`workspace-nats-operator: ${(error as Error).message ?? String(error)}\n`);
  process.exit(2);
});
