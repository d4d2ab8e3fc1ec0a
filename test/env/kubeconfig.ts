// Owns the kubeconfig files the harness hands out: self-contained (certificates inlined), one user
// each, so a test can point kubectl or @kubernetes/client-node at any identity it needs.
import { writeFile } from 'node:fs/promises';
import { stringify } from 'yaml';
import type { CertAndKey } from './pki.ts';

export interface KubeconfigParams {
  server: string;
  caCertPem: string;
  /** Names the user entry; authentication comes from the client certificate. */
  user: string;
  client: CertAndKey;
}

const b64 = (s: string) => Buffer.from(s).toString('base64');

export function kubeconfigYaml(p: KubeconfigParams): string {
  return stringify({
    apiVersion: 'v1',
    kind: 'Config',
    clusters: [{ name: 'wno', cluster: { server: p.server, 'certificate-authority-data': b64(p.caCertPem) } }],
    users: [{ name: p.user, user: { 'client-certificate-data': b64(p.client.certPem), 'client-key-data': b64(p.client.keyPem) } }],
    contexts: [{ name: 'wno', context: { cluster: 'wno', user: p.user, namespace: 'default' } }],
    'current-context': 'wno',
    preferences: {},
  });
}

export async function writeKubeconfig(file: string, p: KubeconfigParams): Promise<string> {
  // 0600: it holds a private key, and kubectl warns about group/world-readable kubeconfigs.
  await writeFile(file, kubeconfigYaml(p), { mode: 0o600 });
  return file;
}

/** File-name-safe form of a user name such as `system:serviceaccount:ns:name`. */
export function fileSafe(s: string): string {
  return s.replace(/[^A-Za-z0-9._-]+/g, '_').slice(0, 80);
}
