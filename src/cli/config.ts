// The `run` command's settings: defaults, then a YAML config file, then command-line flags.
// Every bad value is reported with the flag or key that carried it.

import { readFileSync } from 'node:fs';
import { parse } from 'yaml';
import { parseDuration } from '../policy/duration.ts';
import type { AuditTiming } from '../audit/audit-deps.ts';
import type { RevokerTiming } from '../revocation/account-revoker.ts';

export interface RunConfig {
  kubeconfig: string | undefined;
  namespace: string;
  workers: number;
  resyncPeriodMs: number;
  logLevel: string;
  leaderElect: boolean;
  /** Namespaces whose accesses the operator serves; empty means all. */
  namespaces: string[];
  revocation: RevokerTiming;
  /** The pod webhook, when --webhook-port is set. */
  webhook: WebhookConfig | undefined;
  /** Where to serve /metrics, /healthz and /readyz (plain HTTP); off when undefined (--metrics-port 0). */
  metricsPort: number | undefined;
  audit: AuditTiming & { eventWindowMs: number };
}

export interface WebhookConfig {
  port: number;
  certDir: string | undefined;
  hosts: string[];
  configName: string;
}

/**
 * Revocation timing: requests within 100ms share a push; a revocation entry is pruned 10s after
 * the user's JWT expired (room for clock skew between the operator and the servers); retries
 * back off up to 30s. Only the verify period is a setting.
 */
const REVOCATION_TIMING = { lingerMs: 100, pruneGraceMs: 10_000, maxBackoffMs: 30_000 } as const;

/**
 * Audit timing: each account's connections are listed every 30s to correct the counts, an
 * access's status.connections is written at most every 10s, and a connection no access accounts
 * for is reported after 300ms (the watch events of a just-minted user may arrive after its first
 * connect). Only the Event window is a setting.
 */
const AUDIT_TIMING = { resyncMs: 30_000, statusIntervalMs: 10_000, unknownGraceMs: 300 } as const;
/** Where /metrics, /healthz and /readyz are served unless --metrics-port says otherwise (0: nowhere). */
const DEFAULT_METRICS_PORT = 8080;

/** Flags of `run`, in parseArgs form; the config file takes the same names. */
export const runFlags = {
  config: { type: 'string' },
  kubeconfig: { type: 'string' },
  namespace: { type: 'string' },
  workers: { type: 'string' },
  'resync-period': { type: 'string' },
  'log-level': { type: 'string' },
  'leader-elect': { type: 'boolean' },
  namespaces: { type: 'string' },
  'nats-verify-period': { type: 'string' },
  'webhook-port': { type: 'string' },
  'webhook-cert-dir': { type: 'string' },
  'webhook-hosts': { type: 'string' },
  'webhook-config': { type: 'string' },
  'metrics-port': { type: 'string' },
  'audit-event-window': { type: 'string' },
} as const;

type RawSettings = Partial<Record<Exclude<keyof typeof runFlags, 'config'>, unknown>>;

const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace'];

export function loadRunConfig(
  flags: RawSettings & { config?: string | undefined },
  env: NodeJS.ProcessEnv,
): RunConfig {
  const file = flags.config ? readConfigFile(flags.config) : {};
  const pick = (name: keyof RawSettings) => flags[name] ?? file[name];
  const where = (name: keyof RawSettings) =>
    flags[name] !== undefined ? `--${name}` : `${flags.config}: ${name}`;

  const namespace = pick('namespace') ?? env.POD_NAMESPACE;
  if (typeof namespace !== 'string' || namespace === '') {
    throw new Error(
      '--namespace (or POD_NAMESPACE): the operator namespace, where issuer key Secrets live, is required',
    );
  }
  const workersText = String(pick('workers') ?? '16');
  const workers = Number(workersText);
  if (!Number.isInteger(workers) || workers < 1 || workers > 64) {
    throw new Error(`${where('workers')}: "${workersText}" is not a whole number from 1 to 64`);
  }
  const resyncText = String(pick('resync-period') ?? '10m');
  const resyncPeriodMs = parseDuration(resyncText, where('resync-period'));
  if (resyncPeriodMs < 1000) throw new Error(`${where('resync-period')}: must be at least 1s`);
  const logLevel = String(pick('log-level') ?? 'info');
  if (!LOG_LEVELS.includes(logLevel)) {
    throw new Error(`${where('log-level')}: "${logLevel}" is not one of ${LOG_LEVELS.join(', ')}`);
  }
  const leaderElect = pick('leader-elect') ?? false;
  if (typeof leaderElect !== 'boolean') {
    throw new Error(`${where('leader-elect')}: "${String(leaderElect)}" is not true or false`);
  }
  const namespaces = namespaceList(pick('namespaces'), where('namespaces'));
  const verifyText = String(pick('nats-verify-period') ?? '30s');
  const verifyPeriodMs = parseDuration(verifyText, where('nats-verify-period'));
  if (verifyPeriodMs < 1000) throw new Error(`${where('nats-verify-period')}: must be at least 1s`);
  const webhook = webhookConfig(pick, where, namespace);
  const eventWindowMs = parseDuration(String(pick('audit-event-window') ?? '1m'), where('audit-event-window'));
  if (eventWindowMs < 1000) throw new Error(`${where('audit-event-window')}: must be at least 1s`);
  const metricsPortText = pick('metrics-port') ?? DEFAULT_METRICS_PORT;
  const metricsPort = metricsPortText === 0 || metricsPortText === '0' ? undefined : portNumber(metricsPortText, where('metrics-port'));
  const kubeconfig = pick('kubeconfig');
  return {
    kubeconfig: typeof kubeconfig === 'string' ? kubeconfig : undefined,
    namespace,
    workers,
    resyncPeriodMs,
    logLevel,
    leaderElect,
    namespaces,
    revocation: { ...REVOCATION_TIMING, verifyPeriodMs },
    webhook,
    metricsPort,
    audit: { ...AUDIT_TIMING, eventWindowMs },
  };
}

function portNumber(text: unknown, where: string): number {
  const port = Number(text);
  if (!Number.isInteger(port) || port < 1 || port > 65535) throw new Error(`${where}: "${String(text)}" is not a port number`);
  return port;
}

/** The webhook is off unless a port is given; its certificate names default to its Service's. */
function webhookConfig(
  pick: (name: keyof RawSettings) => unknown,
  where: (name: keyof RawSettings) => string,
  namespace: string,
): WebhookConfig | undefined {
  const portText = pick('webhook-port');
  if (portText === undefined) return undefined;
  const port = portNumber(portText, where('webhook-port'));
  const certDir = pick('webhook-cert-dir');
  const service = `workspace-nats-operator-webhook.${namespace}.svc`;
  const hosts = listOf(pick('webhook-hosts'));
  return {
    port,
    certDir: typeof certDir === 'string' && certDir !== '' ? certDir : undefined,
    hosts: hosts.length > 0 ? hosts : [service, `${service}.cluster.local`],
    configName: String(pick('webhook-config') ?? 'workspace-nats-operator'),
  };
}

/** A comma-separated string (flag) or a list (config file). */
function listOf(value: unknown): string[] {
  if (value === undefined) return [];
  const items = Array.isArray(value) ? value : String(value).split(',');
  return items.map((item) => String(item).trim()).filter((item) => item !== '');
}

const NAMESPACE_NAME = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;

/** A comma-separated string (flag) or a list (config file) of namespace names. */
function namespaceList(value: unknown, where: string): string[] {
  const trimmed = listOf(value);
  const bad = trimmed.find((name) => !NAMESPACE_NAME.test(name) || name.length > 63);
  if (bad !== undefined) throw new Error(`${where}: "${bad}" is not a namespace name`);
  return [...new Set(trimmed)];
}

function readConfigFile(path: string): RawSettings {
  let parsed: unknown;
  try {
    parsed = parse(readFileSync(path, 'utf8'));
  } catch (error) {
    throw new Error(`--config ${path}: ${(error as Error).message}`);
  }
  if (parsed === null || parsed === undefined) return {};
  if (typeof parsed !== 'object' || Array.isArray(parsed)) {
    throw new Error(`--config ${path}: expected a mapping of settings`);
  }
  const known = Object.keys(runFlags).filter((k) => k !== 'config');
  for (const key of Object.keys(parsed)) {
    if (!known.includes(key)) throw new Error(`--config ${path}: unknown setting "${key}"; known: ${known.join(', ')}`);
  }
  return parsed as RawSettings;
}
