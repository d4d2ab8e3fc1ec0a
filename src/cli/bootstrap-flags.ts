// The `bootstrap` command's flags, checked into settings. Pure: every bad value is reported with
// the flag that carried it.

import { parseArgs } from 'node:util';

export const bootstrapFlags = {
  out: { type: 'string' },
  namespace: { type: 'string' },
  'nats-url': { type: 'string' },
  scoped: { type: 'boolean' },
  callout: { type: 'boolean' },
  'oidc-issuer': { type: 'string' },
  'service-account-issuer': { type: 'string' },
  'issuer-name': { type: 'string' },
  'callout-name': { type: 'string' },
  'secret-suffix': { type: 'string' },
  'operator-name': { type: 'string' },
  'account-name': { type: 'string' },
  'resolver-dir': { type: 'string' },
  'nats-namespace': { type: 'string' },
  apply: { type: 'boolean' },
  kubeconfig: { type: 'string' },
  force: { type: 'boolean' },
  'from-nsc': { type: 'string' },
  'nsc-keys': { type: 'string' },
  'operator-signing-key-file': { type: 'string' },
  'account-signing-key-file': { type: 'string' },
  'account-public-key': { type: 'string' },
  'system-creds-file': { type: 'string' },
} as const;

/** Where the keys come from: made here, an nsc store, or seed and creds files. */
export type KeySource =
  | { kind: 'generate'; operatorName: string; resolverDir: string; natsNamespace: string }
  | { kind: 'nsc'; storeDir: string; keysDir: string }
  | { kind: 'files'; operatorSigningKeyFile: string; accountSigningKeyFile: string; accountPublicKey: string; systemCredsFile: string };

export interface BootstrapSettings {
  out: string;
  namespace: string;
  natsUrls: string[];
  scoped: boolean;
  callout: boolean;
  oidcIssuer: string | undefined;
  serviceAccountIssuer: string;
  issuerName: string;
  calloutName: string;
  secretSuffix: string;
  accountName: string;
  apply: boolean;
  kubeconfig: string | undefined;
  force: boolean;
  source: KeySource;
}

export const DEFAULT_NATS_URL = 'nats://nats.nats.svc:4222';
const NAME = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
const SUFFIX = /^[-a-z0-9]*$/;
const FILE_FLAGS = ['operator-signing-key-file', 'account-signing-key-file', 'account-public-key', 'system-creds-file'] as const;

export function parseBootstrapArgs(args: string[], env: NodeJS.ProcessEnv): BootstrapSettings {
  const { values } = parseArgs({ args, options: bootstrapFlags, strict: true, allowPositionals: false });
  const name = (flag: keyof typeof values, fallback: string): string => {
    const value = (values[flag] as string | undefined) ?? fallback;
    if (!NAME.test(value) || value.length > 63) throw new Error(`--${flag}: "${value}" is not a Kubernetes name (lower case letters, digits and -)`);
    return value;
  };
  const natsUrls = (values['nats-url'] ?? DEFAULT_NATS_URL).split(',').map((url) => url.trim()).filter((url) => url !== '');
  const badUrl = natsUrls.find((url) => !/^(nats|tls|ws|wss):\/\/[^\s/]+/.test(url));
  if (natsUrls.length === 0 || badUrl !== undefined) throw new Error(`--nats-url: "${badUrl ?? ''}" is not a NATS URL (nats://host:port)`);
  const secretSuffix = values['secret-suffix'] ?? '';
  if (!SUFFIX.test(secretSuffix)) throw new Error(`--secret-suffix: "${secretSuffix}" may hold lower case letters, digits and - only`);
  for (const flag of ['oidc-issuer', 'service-account-issuer'] as const) {
    const url = values[flag];
    if (url !== undefined && !/^https?:\/\/\S+$/.test(url)) throw new Error(`--${flag}: "${url}" is not an http(s) URL`);
  }
  const callout = values.callout ?? false;
  if (!callout && values['oidc-issuer'] !== undefined) throw new Error('--oidc-issuer: only with --callout');
  const accountName = values['account-name'] ?? 'WS';
  return {
    out: values.out ?? 'nats-bootstrap',
    namespace: name('namespace', 'wno-system'),
    natsUrls,
    scoped: values.scoped ?? false,
    callout,
    oidcIssuer: values['oidc-issuer'],
    serviceAccountIssuer: values['service-account-issuer'] ?? 'https://kubernetes.default.svc.cluster.local',
    issuerName: name('issuer-name', 'platform'),
    calloutName: name('callout-name', 'workspaces'),
    secretSuffix,
    accountName,
    apply: values.apply ?? false,
    kubeconfig: values.kubeconfig,
    force: values.force ?? false,
    source: keySource(values, env, callout, name),
  };
}

function keySource(
  values: Partial<Record<keyof typeof bootstrapFlags, string | boolean>>,
  env: NodeJS.ProcessEnv,
  callout: boolean,
  name: (flag: 'nats-namespace', fallback: string) => string,
): KeySource {
  const given = FILE_FLAGS.filter((flag) => values[flag] !== undefined);
  const nsc = values['from-nsc'] as string | undefined;
  if (nsc !== undefined && given.length > 0) throw new Error(`--from-nsc and --${given[0]}: give one source of keys`);
  if ((nsc !== undefined || given.length > 0) && callout) {
    throw new Error('--callout makes a new callout account; with existing keys, set the callout up as the README shows');
  }
  if (nsc !== undefined) {
    const keysDir = (values['nsc-keys'] as string | undefined) ?? env.NKEYS_PATH ?? `${env.HOME ?? '~'}/.local/share/nats/nsc/keys`;
    return { kind: 'nsc', storeDir: nsc, keysDir };
  }
  if (given.length > 0) {
    const missing = FILE_FLAGS.filter((flag) => values[flag] === undefined);
    if (missing.length > 0) throw new Error(`--${given[0]} needs ${missing.map((flag) => `--${flag}`).join(', ')} too`);
    const accountPublicKey = values['account-public-key'] as string;
    if (!/^A[A-Z2-7]{55}$/.test(accountPublicKey)) throw new Error(`--account-public-key: "${accountPublicKey}" is not an account public key (A...)`);
    return {
      kind: 'files',
      operatorSigningKeyFile: values['operator-signing-key-file'] as string,
      accountSigningKeyFile: values['account-signing-key-file'] as string,
      accountPublicKey,
      systemCredsFile: values['system-creds-file'] as string,
    };
  }
  return {
    kind: 'generate',
    operatorName: (values['operator-name'] as string | undefined) ?? 'platform',
    resolverDir: (values['resolver-dir'] as string | undefined) ?? '/data/jwt',
    natsNamespace: name('nats-namespace', 'nats'),
  };
}
