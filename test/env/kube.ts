// Owns the local control plane: etcd + kube-apiserver + kube-controller-manager on loopback, with
// a fresh PKI, an audit log of every request, and an admin kubeconfig. startKube() returns once the
// API is ready and the `default` ServiceAccount exists (i.e. the controllers are running).
import { mkdir, writeFile } from 'node:fs/promises';
import https from 'node:https';
import path from 'node:path';
import type { ComponentPaths } from './components.ts';
import { fileSafe, writeKubeconfig } from './kubeconfig.ts';
import { freePort, waitFor } from './net.ts';
import { createClusterPki } from './pki.ts';
import type { CertAndKey } from './pki.ts';
import { describeLogs, startProcess } from './processes.ts';
import type { ManagedProcess } from './processes.ts';

export interface StartKubeOptions {
  components: Pick<ComponentPaths, 'etcd' | 'kubeApiserver' | 'kubeControllerManager'>;
  /** Folder for data, certificates, configs and logs (the caller removes it). */
  dir: string;
  startTimeoutMs?: number;
  log?: (line: string) => void;
}

export interface KubeEnv {
  /** Admin (group system:masters) kubeconfig. */
  kubeconfigPath: string;
  /** https://127.0.0.1:<port> */
  server: string;
  caCertPem: string;
  /** Only for signing more client certs (kubeconfigFor in test workers); test material only. */
  caKeyPem: string;
  /** A kubeconfig authenticating as `user` in `groups` (by client certificate). */
  kubeconfigFor(user: string, groups: string[]): Promise<string>;
  /** JSON lines, one audit event per request (Metadata level), with user.username and verb. */
  auditLogPath: string;
  /** etcd's client URL (http, loopback): the record of every version of every object, for chaos checks. */
  etcdUrl: string;
  /** Folder kubeconfigFor writes into. */
  kubeconfigDir: string;
  logs: { etcd: string; apiserver: string; controllerManager: string };
  processes: ManagedProcess[];
  /**
   * Stops kube-apiserver (SIGTERM, or with `kill` SIGKILL: no graceful shutdown, requests in flight
   * cut), keeps it down for `downMs`, starts it again on the same port and data.
   */
  restartApiserver(downMs?: number, options?: { kill?: boolean }): Promise<void>;
  stop(): Promise<void>;
}

// Every request at Metadata level (no bodies, so no secrets in the log). RequestReceived is
// omitted so each request yields one line (plus ResponseStarted for watches), easy to count.
const AUDIT_POLICY = `apiVersion: audit.k8s.io/v1
kind: Policy
omitStages: ["RequestReceived"]
rules:
  - level: Metadata
`;

const CONTROLLERS = [
  'garbage-collector-controller',
  'namespace-controller',
  'serviceaccount-controller',
  'serviceaccount-token-controller',
  // Publishes kube-root-ca.crt into every namespace, which projected SA token volumes mount.
  'root-ca-certificate-publisher-controller',
];

export async function startKube(opts: StartKubeOptions): Promise<KubeEnv> {
  const log = opts.log ?? (() => undefined);
  const timeoutMs = opts.startTimeoutMs ?? 120_000;
  const { dir } = opts;
  const pkiDir = path.join(dir, 'pki');
  const kubeconfigDir = path.join(dir, 'kubeconfigs');
  await Promise.all([pkiDir, kubeconfigDir, path.join(dir, 'logs')].map((d) => mkdir(d, { recursive: true })));

  const pki = await createClusterPki();
  const file = async (name: string, content: string) => {
    const p = path.join(pkiDir, name);
    await writeFile(p, content, { mode: 0o600 });
    return p;
  };
  const f = {
    ca: await file('ca.crt', pki.ca.certPem),
    apiserverCrt: await file('apiserver.crt', pki.apiserver.certPem),
    apiserverKey: await file('apiserver.key', pki.apiserver.keyPem),
    saPub: await file('sa.pub', pki.serviceAccount.publicKeyPem),
    saKey: await file('sa.key', pki.serviceAccount.privateKeyPem),
    auditPolicy: await file('audit-policy.yaml', AUDIT_POLICY),
  };
  const auditLogPath = path.join(dir, 'logs', 'audit.log');
  const logs = {
    etcd: path.join(dir, 'logs', 'etcd.log'),
    apiserver: path.join(dir, 'logs', 'kube-apiserver.log'),
    controllerManager: path.join(dir, 'logs', 'kube-controller-manager.log'),
  };

  const [etcdClient, etcdPeer, apiPort, kcmPort] = [await freePort(), await freePort(), await freePort(), await freePort()];
  const server = `https://127.0.0.1:${apiPort}`;
  const kubeconfigPath = await writeKubeconfig(path.join(dir, 'admin.kubeconfig'), {
    server,
    caCertPem: pki.ca.certPem,
    user: 'admin',
    client: pki.admin,
  });
  const kcmKubeconfig = await writeKubeconfig(path.join(pkiDir, 'kube-controller-manager.kubeconfig'), {
    server,
    caCertPem: pki.ca.certPem,
    user: 'system:kube-controller-manager',
    client: pki.controllerManager,
  });

  const etcdUrl = `http://127.0.0.1:${etcdClient}`;
  const peerUrl = `http://127.0.0.1:${etcdPeer}`;
  const procs: ManagedProcess[] = [];
  const apiserverOptions = {
    name: 'kube-apiserver',
    command: opts.components.kubeApiserver,
    logFile: logs.apiserver,
    args: [
      `--etcd-servers=${etcdUrl}`,
      '--bind-address=127.0.0.1',
      '--advertise-address=127.0.0.1',
      `--secure-port=${apiPort}`,
      `--cert-dir=${pkiDir}`,
      `--tls-cert-file=${f.apiserverCrt}`,
      `--tls-private-key-file=${f.apiserverKey}`,
      `--client-ca-file=${f.ca}`,
      `--service-account-key-file=${f.saPub}`,
      `--service-account-signing-key-file=${f.saKey}`,
      '--service-account-issuer=https://kubernetes.default.svc.cluster.local',
      '--service-cluster-ip-range=10.0.0.0/24',
      '--authorization-mode=Node,RBAC',
      // 127.0.0.1 may not be an Endpoints address, so the `kubernetes` endpoint reconciler would
      // only log errors; nothing in-cluster dials it here.
      '--endpoint-reconciler-type=none',
      '--allow-privileged=true',
      `--audit-policy-file=${f.auditPolicy}`,
      `--audit-log-path=${auditLogPath}`,
      '--audit-log-format=json',
      // Blocking mode writes each event before the response returns, so tests can count at once.
      '--audit-log-mode=blocking',
      '--audit-log-maxsize=0',
      '--profiling=false',
    ],
  };
  /** Starts kube-apiserver (in the slot of `procs` it had, on a restart) and waits for /readyz. */
  const startApiserver = async (slot = procs.length) => {
    const apiserver = startProcess(apiserverOptions);
    procs[slot] = apiserver;
    await waitFor(
      async () => {
        const r = await kubeGet(server, '/readyz', pki.ca.certPem, pki.admin);
        return r.status === 200 ? true : undefined;
      },
      { what: 'kube-apiserver /readyz', timeoutMs, watch: procs },
    );
  };
  const stop = async () => {
    // Controllers first, etcd last, so nothing logs a storm of connection errors while stopping.
    for (const p of [...procs].reverse()) await p.stop();
  };
  try {
    log(`starting etcd on 127.0.0.1:${etcdClient}`);
    const etcd = startProcess({
      name: 'etcd',
      command: opts.components.etcd,
      logFile: logs.etcd,
      args: [
        '--name=wno',
        `--data-dir=${path.join(dir, 'etcd-data')}`,
        `--listen-client-urls=${etcdUrl}`,
        `--advertise-client-urls=${etcdUrl}`,
        `--listen-peer-urls=${peerUrl}`,
        `--initial-advertise-peer-urls=${peerUrl}`,
        `--initial-cluster=wno=${peerUrl}`,
        // Throwaway data: skipping fsync makes every API write much faster on CI disks.
        '--unsafe-no-fsync',
        '--log-level=warn',
      ],
    });
    procs.push(etcd);
    await waitFor(
      async () => {
        const res = await fetch(`${etcdUrl}/health`, { signal: AbortSignal.timeout(2000) });
        const body = (await res.json()) as { health?: string };
        return body.health === 'true' ? true : undefined;
      },
      { what: 'etcd /health', timeoutMs, watch: [etcd] },
    );

    log(`starting kube-apiserver on ${server}`);
    await startApiserver();

    log('starting kube-controller-manager');
    const kcm = startProcess({
      name: 'kube-controller-manager',
      command: opts.components.kubeControllerManager,
      logFile: logs.controllerManager,
      args: [
        `--kubeconfig=${kcmKubeconfig}`,
        `--authentication-kubeconfig=${kcmKubeconfig}`,
        `--authorization-kubeconfig=${kcmKubeconfig}`,
        '--bind-address=127.0.0.1',
        `--secure-port=${kcmPort}`,
        `--controllers=${CONTROLLERS.join(',')}`,
        `--root-ca-file=${f.ca}`,
        `--service-account-private-key-file=${f.saKey}`,
        // Each controller acts as its own ServiceAccount with the RBAC roles Kubernetes ships for it
        // (as in real clusters); kcm's own user may not, e.g., write kube-root-ca.crt ConfigMaps.
        '--use-service-account-credentials=true',
        // A single instance: leader election would only delay the start by a lease period.
        '--leader-elect=false',
        '--profiling=false',
      ],
    });
    procs.push(kcm);
    await waitFor(
      async () => {
        const r = await kubeGet(server, '/api/v1/namespaces/default/serviceaccounts/default', pki.ca.certPem, pki.admin);
        return r.status === 200 ? true : undefined;
      },
      { what: 'the default ServiceAccount (controller manager running)', timeoutMs, watch: procs },
    );
  } catch (err) {
    const logsText = await describeLogs(procs);
    await stop();
    throw new Error(`starting the control plane failed: ${(err as Error).message}\n${logsText}`, { cause: err });
  }

  let n = 0;
  return {
    kubeconfigPath,
    server,
    caCertPem: pki.ca.certPem,
    caKeyPem: pki.ca.keyPem,
    auditLogPath,
    etcdUrl,
    kubeconfigDir,
    logs,
    processes: procs,
    async restartApiserver(downMs = 0, options = {}) {
      const slot = procs.findIndex((p) => p.name === 'kube-apiserver');
      await procs[slot]?.stop(options.kill ? 0 : undefined);
      await new Promise((resolve) => setTimeout(resolve, downMs));
      await startApiserver(slot);
    },
    kubeconfigFor: async (user, groups) =>
      writeKubeconfig(path.join(kubeconfigDir, `${fileSafe(user)}-${process.pid}-${++n}.kubeconfig`), {
        server,
        caCertPem: pki.ca.certPem,
        user,
        client: await pki.ca.clientCertFor(user, groups),
      }),
    stop,
  };
}

/** GET against the apiserver with a client certificate; for readiness polling. */
export function kubeGet(server: string, p: string, caPem: string, client: CertAndKey): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = https.get(
      `${server}${p}`,
      { ca: caPem, cert: client.certPem, key: client.keyPem, timeout: 5000 },
      (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (c: string) => (body += c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
      },
    );
    req.on('timeout', () => req.destroy(new Error(`GET ${p} timed out`)));
    req.on('error', reject);
  });
}
