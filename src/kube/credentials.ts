// Who the operator is to the API server, per request: a bearer token (inline; from a file, re-read
// every minute as client-go does, since bound service-account tokens rotate; or from an exec
// credential plugin, cached until its expirationTimestamp) and a client certificate (inline, from
// files re-read likewise, or from the plugin). A 401 drops what is cached, so the next request
// asks again. Tokens and keys never reach an error message.

import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import type { ExecConfig, Material, UserConfig } from './kubeconfig.ts';

/** What a request carries: an Authorization header, and a PEM client certificate and key for TLS. */
export interface Identity {
  authorization: string | undefined;
  cert: string | undefined;
  key: string | undefined;
}

export const REREAD_MS = 60_000;

/**
 * The content of a file, read again once `intervalMs` has passed since the last read. A failed
 * re-read keeps the last content (a projected volume swaps its files); a failed first read throws.
 */
export class RereadFile {
  private readonly path: string;
  private readonly intervalMs: number;
  private readonly now: () => number;
  private content: string | undefined;
  private readAtMs = -Infinity;

  constructor(path: string, intervalMs = REREAD_MS, now: () => number = Date.now) {
    this.path = path;
    this.intervalMs = intervalMs;
    this.now = now;
  }

  read(): string {
    if (this.content === undefined || this.now() - this.readAtMs >= this.intervalMs) {
      try {
        this.content = readFileSync(this.path, 'utf8');
      } catch (error) {
        if (this.content === undefined) throw new Error(`${this.path} cannot be read (${(error as NodeJS.ErrnoException).code ?? (error as Error).message})`);
      }
      this.readAtMs = this.now();
    }
    return this.content;
  }

  /** Reads again on the next read(). */
  expire(): void {
    this.readAtMs = -Infinity;
  }
}

/** Reads `material`: inline data as is, a file through RereadFile. */
export function materialReader(material: Material, intervalMs = REREAD_MS, now: () => number = Date.now): { read(): string; expire(): void } {
  if ('data' in material) return { read: () => material.data, expire: () => undefined };
  return new RereadFile(material.file, intervalMs, now);
}

/** What the plugin said, checked. */
export interface ExecResult {
  token?: string;
  cert?: string;
  key?: string;
  /** Epoch ms; undefined: valid until a 401. */
  expiresAtMs?: number;
}

/**
 * Reads an ExecCredential from the plugin's stdout. `plugin` names it in errors, which never quote
 * the output (it holds the credential).
 */
export function parseExecCredential(stdout: string, apiVersion: string, plugin: string): ExecResult {
  let credential: { apiVersion?: unknown; kind?: unknown; status?: Record<string, unknown> };
  try {
    credential = JSON.parse(stdout) as typeof credential;
  } catch {
    throw new Error(`exec plugin ${plugin}: its output is not JSON`);
  }
  if (credential?.kind !== 'ExecCredential') throw new Error(`exec plugin ${plugin}: its output is not an ExecCredential`);
  if (credential.apiVersion !== apiVersion) {
    throw new Error(`exec plugin ${plugin}: it answered ${String(credential.apiVersion)}, the kubeconfig asks for ${apiVersion}`);
  }
  const status = credential.status ?? {};
  const field = (name: string) => {
    const value = status[name];
    if (value !== undefined && typeof value !== 'string') throw new Error(`exec plugin ${plugin}: status.${name} is not a string`);
    return value || undefined;
  };
  const result: ExecResult = {};
  const token = field('token');
  if (token) result.token = token;
  const cert = field('clientCertificateData');
  const key = field('clientKeyData');
  if (!cert !== !key) throw new Error(`exec plugin ${plugin}: status has ${cert ? 'clientCertificateData without clientKeyData' : 'clientKeyData without clientCertificateData'}`);
  if (cert && key) Object.assign(result, { cert, key });
  if (!result.token && !result.cert) throw new Error(`exec plugin ${plugin}: status has neither a token nor a client certificate`);
  const expiry = field('expirationTimestamp');
  if (expiry) {
    const ms = Date.parse(expiry);
    if (Number.isNaN(ms)) throw new Error(`exec plugin ${plugin}: status.expirationTimestamp "${expiry}" is not a time`);
    result.expiresAtMs = ms;
  }
  return result;
}

/** Runs a plugin: its stdout, or an error (its stderr goes to the operator's, as with kubectl). */
export type RunPlugin = (command: string, args: string[], env: NodeJS.ProcessEnv) => Promise<string>;

const PLUGIN_TIMEOUT_MS = 60_000;

export const runPlugin: RunPlugin = (command, args, env) =>
  new Promise((resolve, reject) => {
    const child = spawn(command, args, { env, stdio: ['ignore', 'pipe', 'inherit'], timeout: PLUGIN_TIMEOUT_MS });
    const chunks: Buffer[] = [];
    child.stdout.on('data', (chunk: Buffer) => chunks.push(chunk));
    child.on('error', reject);
    child.on('close', (code, signal) => {
      if (code === 0) resolve(Buffer.concat(chunks).toString('utf8'));
      else reject(new Error(signal ? `killed by ${signal}` : `exited with code ${code}`));
    });
  });

export interface CredentialsOptions {
  /** Sent to the plugin in KUBERNETES_EXEC_INFO when its config sets provideClusterInfo. */
  cluster?: { server: string; 'certificate-authority-data'?: string; 'insecure-skip-tls-verify'?: boolean; 'tls-server-name'?: string };
  now?: () => number;
  rereadMs?: number;
  run?: RunPlugin;
  env?: NodeJS.ProcessEnv;
}

export class Credentials {
  private readonly user: UserConfig;
  private readonly options: CredentialsOptions;
  private readonly now: () => number;
  private readonly tokenFile: RereadFile | undefined;
  private readonly cert: { read(): string; expire(): void } | undefined;
  private readonly key: { read(): string; expire(): void } | undefined;
  private exec: { result: ExecResult } | undefined;
  private running: Promise<ExecResult> | undefined;

  constructor(user: UserConfig, options: CredentialsOptions = {}) {
    this.user = user;
    this.options = options;
    this.now = options.now ?? Date.now;
    const rereadMs = options.rereadMs ?? REREAD_MS;
    this.tokenFile = user.tokenFile ? new RereadFile(user.tokenFile, rereadMs, this.now) : undefined;
    this.cert = user.clientCertificate && materialReader(user.clientCertificate, rereadMs, this.now);
    this.key = user.clientKey && materialReader(user.clientKey, rereadMs, this.now);
  }

  async identity(): Promise<Identity> {
    // A token file wins over an inline token, and both over the plugin's token (client-go's order).
    let token = this.tokenFile?.read().trim() || this.user.token;
    let cert = this.cert?.read();
    let key = this.key?.read();
    if (this.user.exec && (!token || !cert)) {
      const result = await this.execResult(this.user.exec);
      token ||= result.token;
      if (!cert && result.cert) [cert, key] = [result.cert, result.key];
    }
    return { authorization: token ? `Bearer ${token}` : undefined, cert, key };
  }

  /** The API server refused the credentials: read the files and run the plugin again next time. */
  invalidate(): void {
    this.tokenFile?.expire();
    this.cert?.expire();
    this.key?.expire();
    this.exec = undefined;
  }

  private async execResult(exec: ExecConfig): Promise<ExecResult> {
    const cached = this.exec?.result;
    if (cached && (cached.expiresAtMs === undefined || this.now() < cached.expiresAtMs)) return cached;
    // Requests that find the credential expired at the same time share one run of the plugin.
    this.running ??= this.runExec(exec).finally(() => (this.running = undefined));
    return this.running;
  }

  private async runExec(exec: ExecConfig): Promise<ExecResult> {
    const plugin = `"${exec.command}"`;
    const info = {
      apiVersion: exec.apiVersion,
      kind: 'ExecCredential',
      spec: { interactive: false, ...(exec.provideClusterInfo && this.options.cluster ? { cluster: this.options.cluster } : {}) },
    };
    const env = { ...(this.options.env ?? process.env), ...Object.fromEntries(exec.env.map(({ name, value }) => [name, value])), KUBERNETES_EXEC_INFO: JSON.stringify(info) };
    let stdout: string;
    try {
      stdout = await (this.options.run ?? runPlugin)(exec.command, exec.args, env);
    } catch (error) {
      const missing = (error as NodeJS.ErrnoException).code === 'ENOENT';
      const hint = missing && exec.installHint ? ` (${exec.installHint.trim()})` : '';
      throw new Error(`exec plugin ${plugin}: ${missing ? 'not found' : (error as Error).message}${hint}`);
    }
    const result = parseExecCredential(stdout, exec.apiVersion, plugin);
    this.exec = { result };
    return result;
  }
}
