// The pod webhook as the README promises it with cert-manager: served with the certificate in
// --webhook-cert-dir (tls.crt, tls.key), which the API server trusts through the caBundle (here
// written by the test, as cert-manager's CA injector would), and re-read when it is renewed; and,
// with the shipped configuration (failurePolicy Ignore, timeoutSeconds 5), an operator that hangs
// delays a pod's creation by at most the timeout and the pod is admitted unchanged.
//
// The directory is laid out as the kubelet mounts a Secret (files behind a `..data` symlink,
// swapped at once on an update), since that is how cert-manager's renewals reach the operator.

import { AdmissionregistrationV1Api, type V1MutatingWebhookConfiguration, type V1Pod } from '@kubernetes/client-node';
import { X509Certificate } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, renameSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { connect as tlsConnect } from 'node:tls';
import { join } from 'node:path';
import { parseAllDocuments } from 'yaml';
import { freePort } from '../env/net.ts';
import { createCa, type CertAndKey, type CertificateAuthority } from '../env/pki.ts';
import { loadEnvState } from '../env/state.ts';
import { createBinding, waitFor, type Clients } from '../env/cluster.ts';
import type { OperatorProcess } from '../env/operator.ts';
import { startSuite } from './support/suite.ts';

const NS = 'e2e-webhook-cert-dir';
const ISSUER = 'e2e-webhook-cert-dir';
/** A configuration of its own, sending only this namespace's pods, so no other suite's webhook is involved. */
const CONFIG = 'e2e-webhook-cert-dir';
const MANIFEST = join(import.meta.dirname, '..', '..', 'manifests', 'webhook.yaml');

let admin: Clients;
let operator: OperatorProcess;
let port: number;
let certDir: string;
let firstCa: CertificateAuthority;
let firstServing: CertAndKey;

/** The MutatingWebhookConfiguration as manifests/webhook.yaml ships it. */
function shippedConfig(): V1MutatingWebhookConfiguration {
  const documents = parseAllDocuments(readFileSync(MANIFEST, 'utf8')).map((document) => document.toJS() as { kind?: string });
  const config = documents.find((document) => document.kind === 'MutatingWebhookConfiguration');
  if (!config) throw new Error(`${MANIFEST} holds no MutatingWebhookConfiguration`);
  return config as V1MutatingWebhookConfiguration;
}

/**
 * Writes `serving` into `dir` the way the kubelet updates a mounted Secret: a new hidden folder,
 * then the `..data` symlink renamed over the old one, so tls.crt and tls.key change together.
 */
function writeCertDir(dir: string, serving: CertAndKey) {
  const version = `..${Date.now()}`;
  mkdirSync(join(dir, version));
  writeFileSync(join(dir, version, 'tls.crt'), serving.certPem);
  writeFileSync(join(dir, version, 'tls.key'), serving.keyPem, { mode: 0o600 });
  symlinkSync(version, join(dir, '..data_tmp'));
  renameSync(join(dir, '..data_tmp'), join(dir, '..data'));
  for (const file of ['tls.crt', 'tls.key']) {
    if (!existsSync(join(dir, file))) symlinkSync(join('..data', file), join(dir, file));
  }
  for (const entry of readdirSync(dir)) {
    if (entry.startsWith('..') && entry !== '..data' && entry !== version) rmSync(join(dir, entry), { recursive: true, force: true });
  }
}

/** SHA-256 fingerprint of the certificate the webhook port serves now. */
function servedFingerprint(): Promise<string> {
  return new Promise((resolve, reject) => {
    // Not verified here: this asks which certificate is served; the API server does the trusting.
    const socket = tlsConnect({ host: '127.0.0.1', port, rejectUnauthorized: false }, () => {
      const fingerprint = socket.getPeerCertificate().fingerprint256;
      socket.end();
      resolve(fingerprint);
    });
    socket.setTimeout(5000, () => socket.destroy(new Error('no TLS handshake within 5s')));
    socket.on('error', reject);
  });
}

const fingerprintOf = (pem: string) => new X509Certificate(pem).fingerprint256;

const admission = () => admin.kubeConfig.makeApiClient(AdmissionregistrationV1Api);

/** Makes the API server trust exactly `ca` for the webhook (cert-manager's CA injector's job). */
async function trustOnly(ca: CertificateAuthority) {
  const config = await admission().readMutatingWebhookConfiguration({ name: CONFIG });
  for (const webhook of config.webhooks ?? []) webhook.clientConfig.caBundle = Buffer.from(ca.certPem).toString('base64');
  await admission().replaceMutatingWebhookConfiguration({ name: CONFIG, body: config });
}

const servingFor = (ca: CertificateAuthority) => ca.serverCert('127.0.0.1', [{ type: 'ip', value: '127.0.0.1' }]);

beforeAll(async () => {
  const state = loadEnvState();
  port = await freePort();
  firstCa = await createCa('wno-e2e-webhook-ca-1');
  firstServing = await servingFor(firstCa);
  // Inside the run's temp root, which the environment removes even if this suite is killed.
  certDir = mkdtempSync(join(state.root, 'webhook-cert-'));
  writeCertDir(certDir, firstServing);

  const shipped = shippedConfig();
  ({ admin, operator } = await startSuite({
    issuer: { name: ISSUER },
    namespaces: [NS],
    operatorArgs: ['--webhook-port', String(port), '--webhook-cert-dir', certDir, '--webhook-config', CONFIG],
    prepare: async (clients) => {
      const api = clients.kubeConfig.makeApiClient(AdmissionregistrationV1Api);
      await api.deleteMutatingWebhookConfiguration({ name: CONFIG }).catch((error: { code?: number }) => {
        if (error.code !== 404) throw error;
      });
      // As shipped, but reaching the operator on loopback by URL, trusting the directory's CA,
      // and sending this namespace only.
      await api.createMutatingWebhookConfiguration({
        body: {
          metadata: { name: CONFIG },
          webhooks: (shipped.webhooks ?? []).map((webhook) => ({
            ...webhook,
            clientConfig: { url: `https://127.0.0.1:${port}/mutate-pods`, caBundle: Buffer.from(firstCa.certPem).toString('base64') },
            namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': NS } },
          })),
        },
      });
      await createBinding(clients.custom, NS, 'coder', { source: { pods: { preset: 'Coder' } }, template: { issuerRef: { name: ISSUER } } });
    },
  }));
});

afterAll(async () => {
  await operator?.stop();
  await admin?.kubeConfig
    .makeApiClient(AdmissionregistrationV1Api)
    .deleteMutatingWebhookConfiguration({ name: CONFIG })
    .catch(() => undefined);
  if (certDir) rmSync(certDir, { recursive: true, force: true });
});

const createWorkspacePod = (name: string) =>
  admin.core.createNamespacedPod({
    namespace: NS,
    body: { metadata: { name, labels: { 'com.coder.workspace.id': name } }, spec: { containers: [{ name: 'main', image: 'busybox' }] } },
  });

const mounted = (pod: V1Pod) => pod.spec?.volumes?.some((volume) => volume.name === 'nats-credentials') ?? false;

test('the webhook serves the certificate from --webhook-cert-dir, and the API server has it mount the credentials', async () => {
  expect(await servedFingerprint()).toBe(fingerprintOf(firstServing.certPem));
  const pod = await createWorkspacePod('cert-dir-1');
  expect(mounted(pod)).toBe(true);
  expect(pod.spec?.containers[0]?.volumeMounts).toContainEqual({ name: 'nats-credentials', mountPath: '/var/run/secrets/nats', readOnly: true });
  // The certificate is the directory's business: the operator made none and left the caBundle alone.
  expect(operator.log()).not.toContain('"msg":"issued webhook serving certificate"');
  const config = await admission().readMutatingWebhookConfiguration({ name: CONFIG });
  expect(config.webhooks?.[0]?.clientConfig.caBundle).toBe(Buffer.from(firstCa.certPem).toString('base64'));
});

test('a renewed certificate in the directory is served without a restart', async () => {
  // Another CA altogether, so that only the new certificate can satisfy the API server below.
  const secondCa = await createCa('wno-e2e-webhook-ca-2');
  const renewed = await servingFor(secondCa);
  writeCertDir(certDir, renewed);
  // The operator checks the file every 10s.
  await waitFor(async () => ((await servedFingerprint()) === fingerprintOf(renewed.certPem) ? true : undefined), {
    what: 'the renewed certificate to be served',
    timeoutMs: 60_000,
    intervalMs: 500,
  });
  expect(operator.log()).toContain('"msg":"webhook certificate reloaded"');
  await trustOnly(secondCa);
  // The caBundle change reaches the API server's webhook client through its own watch: wait on
  // the outcome (a mounted pod) rather than a fixed time. Unmounted pods on the way are deleted.
  let attempt = 0;
  const pod = await waitFor(
    async () => {
      const created = await createWorkspacePod(`cert-dir-renewed-${++attempt}`);
      if (mounted(created)) return created;
      await admin.core.deleteNamespacedPod({ name: created.metadata?.name ?? '', namespace: NS, gracePeriodSeconds: 0 });
      return undefined;
    },
    { what: 'a pod mounted through the renewed certificate', timeoutMs: 30_000, intervalMs: 500 },
  );
  expect(mounted(pod)).toBe(true);
});

/** The pid of the operator serving the webhook on `port`, from its command line. */
function operatorPid(): number {
  const pids = readdirSync('/proc').filter((entry) => {
    if (!/^\d+$/.test(entry)) return false;
    try {
      const args = readFileSync(`/proc/${entry}/cmdline`, 'utf8').split('\0');
      const flag = args.indexOf('--webhook-port');
      return args.includes('run') && flag >= 0 && args[flag + 1] === String(port);
    } catch {
      return false; // exited meanwhile
    }
  });
  if (pids.length !== 1) throw new Error(`expected one operator serving port ${port}, found ${pids.length}`);
  return Number(pids[0]);
}

test('an operator that hangs delays a pod by at most the webhook timeout, and the pod is admitted unchanged', async () => {
  const webhook = shippedConfig().webhooks?.[0];
  // What the README promises, as manifests/webhook.yaml sets it.
  expect(webhook).toMatchObject({ failurePolicy: 'Ignore', timeoutSeconds: 5 });
  const timeoutMs = (webhook?.timeoutSeconds ?? 0) * 1000;
  // SIGSTOP: the process is there and its socket accepts connections (the kernel completes them),
  // but nothing answers, as when the operator hangs.
  const pid = operatorPid();
  process.kill(pid, 'SIGSTOP');
  let elapsed: number;
  let pod: V1Pod;
  try {
    const started = Date.now();
    pod = await createWorkspacePod('hung-operator');
    elapsed = Date.now() - started;
  } finally {
    process.kill(pid, 'SIGCONT');
  }
  // Admitted without the webhook's changes (the API server's own, such as the ServiceAccount
  // token volume, are there as for any pod).
  expect(mounted(pod)).toBe(false);
  expect(pod.spec?.containers[0]?.volumeMounts?.some((mount) => mount.name === 'nats-credentials')).toBe(false);
  expect(pod.spec?.containers[0]?.env?.some((variable) => variable.name.startsWith('NATS_'))).toBeFalsy();
  // It waited for the webhook (this was a hang, not a refused connection), and no longer than its
  // timeout, plus a margin for the API server's own work on a busy machine.
  expect(elapsed).toBeGreaterThanOrEqual(timeoutMs - 500);
  expect(elapsed).toBeLessThan(timeoutMs + 2000);

  // Once it runs again, the same kind of pod is mounted: the first one was left alone because of
  // the hang, not because it would not match.
  const after = await createWorkspacePod('resumed-operator');
  expect(mounted(after)).toBe(true);
});
