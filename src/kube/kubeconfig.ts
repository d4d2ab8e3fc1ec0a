// Where the operator's API server is and who it is there: a kubeconfig's current context, or the
// pod's service account. Reads the files and checks the fields; sends nothing. Each bad field is
// reported with its file and its path in that file.
//
// Precedence (as --kubeconfig documents it, and as controller-runtime does): the file given,
// $KUBECONFIG (a list of files, merged: the first to define a name wins), in-cluster, then
// ~/.kube/config.

import { existsSync, readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { delimiter, dirname, isAbsolute, join, resolve } from 'node:path';
import { isIPv6 } from 'node:net';
import { parse } from 'yaml';

/** Certificate or key material: inline, or a file read again when it may have changed (rotation). */
export type Material = { data: string } | { file: string };

export interface ExecConfig {
  apiVersion: string;
  command: string;
  args: string[];
  env: { name: string; value: string }[];
  installHint: string | undefined;
  provideClusterInfo: boolean;
}

export interface UserConfig {
  token?: string;
  tokenFile?: string;
  clientCertificate?: Material;
  clientKey?: Material;
  exec?: ExecConfig;
}

export interface ClusterConfig {
  /** Where these settings came from, for messages: `kubeconfig FILE (context NAME)` or `in-cluster`. */
  source: string;
  /** The API server's URL; a path after the host (a proxy's prefix) is kept. */
  server: string;
  ca: Material | undefined;
  insecureSkipTlsVerify: boolean;
  tlsServerName: string | undefined;
  user: UserConfig;
}

export const SERVICE_ACCOUNT_DIR = '/var/run/secrets/kubernetes.io/serviceaccount';

export interface Environment {
  env: NodeJS.ProcessEnv;
  home: string;
  /** Where the service account's token and ca.crt are mounted. */
  serviceAccountDir: string;
}

const defaultEnvironment = (): Environment => ({ env: process.env, home: homedir(), serviceAccountDir: SERVICE_ACCOUNT_DIR });

/** The cluster to talk to: `explicitPath` if given, else the first of $KUBECONFIG, in-cluster, ~/.kube/config. */
export function loadClusterConfig(explicitPath: string | undefined, environment: Environment = defaultEnvironment()): ClusterConfig {
  if (explicitPath) return kubeconfigFromFiles([explicitPath]);
  const listed = (environment.env.KUBECONFIG ?? '').split(delimiter).filter((file) => file !== '');
  if (listed.length > 0) {
    const present = listed.filter((file) => existsSync(file));
    if (present.length === 0) throw new Error(`$KUBECONFIG names no file that exists: ${listed.join(delimiter)}`);
    return kubeconfigFromFiles(present);
  }
  const inCluster = inClusterConfig(environment);
  if (inCluster) return inCluster;
  const home = join(environment.home, '.kube', 'config');
  if (existsSync(home)) return kubeconfigFromFiles([home]);
  throw new Error(`no cluster configured: pass --kubeconfig, set $KUBECONFIG, run in a pod, or create ${home}`);
}

/**
 * The pod's service account, when KUBERNETES_SERVICE_HOST and _PORT are set and its token is
 * mounted (as client-go's InClusterConfig decides); undefined otherwise.
 */
export function inClusterConfig({ env, serviceAccountDir }: Environment): ClusterConfig | undefined {
  const host = env.KUBERNETES_SERVICE_HOST;
  const port = env.KUBERNETES_SERVICE_PORT;
  const tokenFile = join(serviceAccountDir, 'token');
  if (!host || !port || !existsSync(tokenFile)) return undefined;
  return {
    source: 'in-cluster service account',
    server: `https://${isIPv6(host) ? `[${host}]` : host}:${port}`,
    ca: { file: join(serviceAccountDir, 'ca.crt') },
    insecureSkipTlsVerify: false,
    tlsServerName: undefined,
    user: { tokenFile },
  };
}

type Fields = Record<string, unknown>;

/** A named entry (cluster, user or context) and the file it was read from. */
interface Entry {
  file: string;
  index: number;
  fields: Fields;
}

/** The current context of `files` merged as kubectl merges them. */
export function kubeconfigFromFiles(files: string[]): ClusterConfig {
  return kubeconfigFromTexts(
    files.map((file) => {
      try {
        return { file, text: readFileSync(file, 'utf8') };
      } catch (error) {
        throw new Error(`kubeconfig ${file}: cannot be read (${(error as NodeJS.ErrnoException).code ?? (error as Error).message})`);
      }
    }),
  );
}

/** As kubeconfigFromFiles, on texts already read (relative paths resolve against each file's folder). */
export function kubeconfigFromTexts(documents: { file: string; text: string }[]): ClusterConfig {
  const clusters = new Map<string, Entry>();
  const users = new Map<string, Entry>();
  const contexts = new Map<string, Entry>();
  let current: { name: string; file: string } | undefined;
  for (const { file, text } of documents) {
    let document: unknown;
    try {
      document = parse(text);
    } catch (error) {
      throw new Error(`kubeconfig ${file}: not YAML (${(error as Error).message.split('\n')[0]})`);
    }
    const root = (document ?? {}) as Fields;
    if (typeof root !== 'object' || Array.isArray(root)) throw new Error(`kubeconfig ${file}: not a kubeconfig (a YAML mapping)`);
    collect(file, root, 'clusters', 'cluster', clusters);
    collect(file, root, 'users', 'user', users);
    collect(file, root, 'contexts', 'context', contexts);
    const name = root['current-context'];
    if (!current && typeof name === 'string' && name !== '') current = { name, file };
  }
  const files = documents.map((document) => document.file).join(delimiter);
  if (!current) throw new Error(`kubeconfig ${files}: current-context is not set`);
  const context = contexts.get(current.name);
  if (!context) throw new Error(`kubeconfig ${current.file}: current-context "${current.name}" names no entry of contexts`);
  const where = (entry: Entry, list: string, field: string) => `kubeconfig ${entry.file}: ${list}[${entry.index}].${field}`;
  const clusterName = context.fields.cluster;
  const cluster = typeof clusterName === 'string' ? clusters.get(clusterName) : undefined;
  if (!cluster) throw new Error(`${where(context, 'contexts', 'context.cluster')}: "${String(clusterName ?? '')}" names no entry of clusters`);
  const userName = context.fields.user;
  const user = typeof userName === 'string' && userName !== '' ? users.get(userName) : undefined;
  if (typeof userName === 'string' && userName !== '' && !user) {
    throw new Error(`${where(context, 'contexts', 'context.user')}: "${userName}" names no entry of users`);
  }
  return {
    source: `kubeconfig ${context.file} (context ${current.name})`,
    ...clusterSettings(cluster, (field) => where(cluster, 'clusters', `cluster.${field}`)),
    user: user ? userSettings(user, (field) => where(user, 'users', `user.${field}`)) : {},
  };
}

/** Adds the entries of `root[list]` (each `{name, [key]: {...}}`) not already defined by an earlier file. */
function collect(file: string, root: Fields, list: string, key: string, into: Map<string, Entry>) {
  const entries = root[list] ?? [];
  if (!Array.isArray(entries)) throw new Error(`kubeconfig ${file}: ${list} is not a list`);
  entries.forEach((entry: unknown, index) => {
    const { name, [key]: fields } = (entry ?? {}) as Fields;
    if (typeof name !== 'string' || name === '') throw new Error(`kubeconfig ${file}: ${list}[${index}].name is missing`);
    if (fields !== undefined && (typeof fields !== 'object' || fields === null || Array.isArray(fields))) {
      throw new Error(`kubeconfig ${file}: ${list}[${index}].${key} is not a mapping`);
    }
    if (!into.has(name)) into.set(name, { file, index, fields: (fields ?? {}) as Fields });
  });
}

type Where = (field: string) => string;

function clusterSettings(entry: Entry, where: Where): Omit<ClusterConfig, 'source' | 'user'> {
  const { fields } = entry;
  const server = text(fields, 'server', where);
  if (!server) throw new Error(`${where('server')} is missing`);
  try {
    const url = new URL(server);
    if (url.protocol !== 'https:' && url.protocol !== 'http:') throw new Error(url.protocol);
  } catch {
    throw new Error(`${where('server')}: "${server}" is not an http(s) URL`);
  }
  if (fields['proxy-url'] !== undefined) throw new Error(`${where('proxy-url')}: proxies are not supported`);
  const insecure = fields['insecure-skip-tls-verify'] ?? false;
  if (typeof insecure !== 'boolean') throw new Error(`${where('insecure-skip-tls-verify')} is not true or false`);
  return {
    server: server.replace(/\/+$/, ''),
    ca: material(entry, 'certificate-authority', where),
    insecureSkipTlsVerify: insecure,
    tlsServerName: text(fields, 'tls-server-name', where),
  };
}

function userSettings(entry: Entry, where: Where): UserConfig {
  const { fields } = entry;
  if (fields['auth-provider'] !== undefined) {
    throw new Error(`${where('auth-provider')}: auth providers are not supported; use an exec credential plugin`);
  }
  if (fields.username !== undefined || fields.password !== undefined) {
    throw new Error(`${where('username')}: basic authentication is not supported (Kubernetes removed it)`);
  }
  const user: UserConfig = {};
  const token = text(fields, 'token', where);
  if (token) user.token = token;
  const tokenFile = text(fields, 'tokenFile', where);
  if (tokenFile) user.tokenFile = readable(fileIn(entry, tokenFile), where('tokenFile'));
  const clientCertificate = material(entry, 'client-certificate', where);
  const clientKey = material(entry, 'client-key', where);
  if (!clientCertificate !== !clientKey) {
    throw new Error(`${where(clientCertificate ? 'client-key' : 'client-certificate')} is missing: a client certificate needs its key`);
  }
  if (clientCertificate && clientKey) Object.assign(user, { clientCertificate, clientKey });
  if (fields.exec !== undefined) user.exec = execSettings(entry, where);
  return user;
}

function execSettings(entry: Entry, where: Where): ExecConfig {
  const exec = entry.fields.exec as Fields;
  if (typeof exec !== 'object' || exec === null) throw new Error(`${where('exec')} is not a mapping`);
  const at = (field: string) => where(`exec.${field}`);
  const apiVersion = text(exec, 'apiVersion', (field) => at(field));
  if (apiVersion !== 'client.authentication.k8s.io/v1' && apiVersion !== 'client.authentication.k8s.io/v1beta1') {
    throw new Error(`${at('apiVersion')}: "${apiVersion ?? ''}" is not client.authentication.k8s.io/v1 or v1beta1`);
  }
  const command = text(exec, 'command', (field) => at(field));
  if (!command) throw new Error(`${at('command')} is missing`);
  const args = exec.args ?? [];
  if (!Array.isArray(args) || !args.every((arg) => typeof arg === 'string')) throw new Error(`${at('args')} is not a list of strings`);
  const env = exec.env ?? [];
  if (!Array.isArray(env)) throw new Error(`${at('env')} is not a list`);
  const variables = env.map((variable: unknown, index) => {
    const { name, value } = (variable ?? {}) as Fields;
    if (typeof name !== 'string' || typeof value !== 'string') throw new Error(`${at(`env[${index}]`)} needs a name and a value (strings)`);
    return { name, value };
  });
  return {
    apiVersion,
    // As client-go: a relative command with a separator is relative to the kubeconfig's folder.
    command: command.includes('/') ? fileIn(entry, command) : command,
    args,
    env: variables,
    installHint: text(exec, 'installHint', (field) => at(field)),
    provideClusterInfo: exec.provideClusterInfo === true,
  };
}

/** `<name>-data` (base64) or `<name>` (a file), checked now so that a bad one fails at start. */
function material(entry: Entry, name: string, where: Where): Material | undefined {
  const data = text(entry.fields, `${name}-data`, where);
  if (data) {
    if (!/^[A-Za-z0-9+/=\s]+$/.test(data)) throw new Error(`${where(`${name}-data`)} is not base64`);
    return { data: Buffer.from(data, 'base64').toString('utf8') };
  }
  const file = text(entry.fields, name, where);
  if (!file) return undefined;
  return { file: readable(fileIn(entry, file), where(name)) };
}

/** `path`, once it proved readable (so that a wrong path fails at start, naming the field). */
function readable(path: string, field: string): string {
  try {
    readFileSync(path);
  } catch (error) {
    throw new Error(`${field}: ${path} cannot be read (${(error as NodeJS.ErrnoException).code ?? (error as Error).message})`);
  }
  return path;
}

function fileIn(entry: Entry, path: string): string {
  return isAbsolute(path) ? path : resolve(dirname(entry.file), path);
}

function text(fields: Fields, name: string, where: Where): string | undefined {
  const value = fields[name];
  if (value === undefined || value === null || value === '') return undefined;
  if (typeof value !== 'string') throw new Error(`${where(name)} is not a string`);
  return value;
}
