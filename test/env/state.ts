// Owns the hand-over from the process that started the environment (jest global setup, env:up) to
// the processes that use it (jest workers): a JSON state file named by $WNO_ENV_STATE, and
// loadEnvState() to read it back, with kubeconfigFor() working in the worker too.
import { readFileSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { Environment } from './index.ts';
import { fileSafe, writeKubeconfig } from './kubeconfig.ts';
import type { NatsTrust } from './nats.ts';
import { loadCa } from './pki.ts';

export interface EnvStateData {
  version: 1;
  /** True when tests run against $WNO_EXTERNAL_KUBECONFIG rather than a cluster started here. */
  external: boolean;
  /** Admin kubeconfig. */
  kubeconfig: string;
  /** Present only for the cluster started here. */
  kube?: {
    server: string;
    caCertPem: string;
    /** Lets workers mint client certificates for any user (test-only CA). */
    caKeyPem: string;
    auditLogPath: string;
    kubeconfigDir: string;
  };
  nats: { urls: string[]; monitorUrls: string[]; resolverDirs: string[] };
  trust: NatsTrust;
  binaries: { kubectl: string; natsServer: string };
  /** Temp root of the run; removed at teardown. */
  root: string;
}

export interface EnvState extends EnvStateData {
  /**
   * Path of a kubeconfig for `user` in `groups`. Only for the cluster started here: an external
   * cluster's CA key is not ours to sign with.
   */
  kubeconfigFor(user: string, groups: string[]): Promise<string>;
}

export const ENV_STATE_VAR = 'WNO_ENV_STATE';

export function envStateData(env: Environment): EnvStateData {
  const k = env.kube;
  return {
    version: 1,
    external: !k,
    kubeconfig: env.kubeconfigPath,
    kube: k && {
      server: k.server,
      caCertPem: k.caCertPem,
      caKeyPem: k.caKeyPem,
      auditLogPath: k.auditLogPath,
      kubeconfigDir: k.kubeconfigDir,
    },
    nats: {
      urls: env.nats.urls,
      monitorUrls: env.nats.nodes.map((n) => n.monitorUrl),
      resolverDirs: env.nats.nodes.map((n) => n.resolverDir),
    },
    trust: env.trust,
    binaries: { kubectl: env.components.kubectl, natsServer: env.components.natsServer },
    root: env.root,
  };
}

/** Writes <root>/env-state.json (0600: it holds seeds) and returns its path. */
export async function writeEnvState(env: Environment): Promise<string> {
  const file = path.join(env.root, 'env-state.json');
  await writeFile(file, JSON.stringify(envStateData(env), null, 2), { mode: 0o600 });
  return file;
}

let counter = 0;

/** Reads the state file named by $WNO_ENV_STATE (or `file`). */
export function loadEnvState(file = process.env[ENV_STATE_VAR]): EnvState {
  if (!file) throw new Error(`${ENV_STATE_VAR} is not set: run the e2e tests through jest (global setup) or npm run env:up`);
  const data = JSON.parse(readFileSync(file, 'utf8')) as EnvStateData;
  if (data.version !== 1) throw new Error(`${file}: unsupported env state version ${String(data.version)}`);
  return {
    ...data,
    async kubeconfigFor(user, groups) {
      const k = data.kube;
      if (!k) throw new Error('kubeconfigFor is not available against an external cluster');
      const ca = await loadCa(k.caCertPem, k.caKeyPem);
      return writeKubeconfig(path.join(k.kubeconfigDir, `${fileSafe(user)}-${process.pid}-w${++counter}.kubeconfig`), {
        server: k.server,
        caCertPem: k.caCertPem,
        user,
        client: await ca.clientCertFor(user, groups),
      });
    },
  };
}
