// Owns NATS for the tests: trust material generated at run time (operator with a signing key, the
// SYS account and its user, the workspace account WS with an account signing key, the auth callout
// account AUTH with its callout user and sentinel), and nats-server processes in operator mode with
// the full resolver, as one node or a 3-node cluster whose nodes can be stopped and restarted on the
// same ports.
import { mkdir, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { accountJwts, createTrust, SCOPED_ROLE, SCOPED_TEMPLATE, type CalloutAccountMaterial, type NKeyMaterial, type Trust } from '../../src/nats/trust.ts';
import { renderServerConfig } from '../../src/nats/server-config.ts';
import { freePort, httpGet, waitFor } from './net.ts';
import { ensureComponents } from './components.ts';
import { describeLogs, makeTempDir, removeTempDir, startProcess } from './processes.ts';
import type { ManagedProcess } from './processes.ts';

export { SCOPED_ROLE, SCOPED_TEMPLATE };
export type { NKeyMaterial };

/** A trust with every part the suites use present. */
export interface NatsTrust extends Trust {
  /**
   * The account workspace users live in. It lists a plain signing key and a scoped one, whose
   * template gives a user with tag `ws:<id>` the subjects `ws.<id>.>` (and its inbox
   * `_INBOX_<id>.>`), whatever the user JWT itself says.
   */
  workspaceAccount: NKeyMaterial & { name: 'WS'; jwt: string; signingKey: NKeyMaterial; scopedSigningKey: NKeyMaterial & { role: string } };
  /** The auth callout account AUTH, whose sentinel the callout authorizes. */
  calloutAccount: CalloutAccountMaterial & { name: 'AUTH' };
}

/**
 * The environment's trust (src/nats/trust.ts): operator `wno-test-operator`, SYS and its user, WS
 * with a plain and a scoped signing key, and the callout account AUTH.
 */
export async function createNatsTrust(): Promise<NatsTrust> {
  const trust = await createTrust({
    operatorName: 'wno-test-operator',
    workspaceAccountName: 'WS',
    signingKeys: { plain: true, scoped: true },
    calloutAccountName: 'AUTH',
  });
  const { signingKey, scopedSigningKey } = trust.workspaceAccount;
  if (!signingKey || !scopedSigningKey || !trust.calloutAccount) throw new Error('createTrust left out a key it was asked for');
  return {
    ...trust,
    workspaceAccount: { ...trust.workspaceAccount, name: 'WS', signingKey, scopedSigningKey },
    calloutAccount: { ...trust.calloutAccount, name: 'AUTH' },
  };
}

export interface StartNatsOptions {
  nodes: 1 | 3;
  /** Default: the pinned, cached build (built if missing). */
  natsServer?: string;
  /** Folder for configs, resolver data and logs, which the caller removes; default: a temp folder removed by stop(). */
  dir?: string;
  startTimeoutMs?: number;
  log?: (line: string) => void;
}

export interface NatsNodeInfo {
  name: string;
  url: string;
  monitorUrl: string;
  configPath: string;
  logFile: string;
  resolverDir: string;
}

export interface NatsEnv {
  /** Client URLs, one per node (nats://127.0.0.1:<port>). */
  urls: string[];
  nodes: NatsNodeInfo[];
  processes(): ManagedProcess[];
  stop(): Promise<void>;
  stopNode(i: number): Promise<void>;
  /** Restarts a stopped node on the same ports; wipeResolver starts it with an empty JWT store. */
  startNode(i: number, opts?: { wipeResolver?: boolean }): Promise<void>;
  resolverDir(i: number): string;
}

interface NodePorts {
  client: number;
  http: number;
  cluster: number;
}

function nodeConfig(i: number, trust: NatsTrust, ports: NodePorts[], resolverDir: string): string {
  const me = ports[i]!;
  return renderServerConfig({
    serverName: `wno-nats-${i}`,
    listen: `127.0.0.1:${me.client}`,
    http: `127.0.0.1:${me.http}`,
    operatorJwt: trust.operator.jwt,
    systemAccount: trust.systemAccount.publicKey,
    accounts: accountJwts(trust),
    resolverDir,
    // Listing every node (itself included, which the server skips) keeps one config shape.
    cluster:
      ports.length > 1
        ? { name: 'wno', listen: `127.0.0.1:${me.cluster}`, routes: ports.map((p) => `nats-route://127.0.0.1:${p.cluster}`) }
        : undefined,
  });
}

export async function startNats(trust: NatsTrust, opts: StartNatsOptions): Promise<NatsEnv> {
  const log = opts.log ?? (() => undefined);
  const timeoutMs = opts.startTimeoutMs ?? 30_000;
  const natsServer = opts.natsServer ?? (await ensureComponents({ only: ['nats-server'] })).natsServer;
  const ownDir = opts.dir ? undefined : await makeTempDir('wno-env-nats-');
  const dir = opts.dir ?? ownDir!;
  const ports: NodePorts[] = [];
  for (let i = 0; i < opts.nodes; i++) ports.push({ client: await freePort(), http: await freePort(), cluster: await freePort() });

  const nodes: NatsNodeInfo[] = [];
  for (let i = 0; i < opts.nodes; i++) {
    const nodeDir = path.join(dir, `node-${i}`);
    const resolverDir = path.join(nodeDir, 'jwt');
    await mkdir(resolverDir, { recursive: true });
    const configPath = path.join(nodeDir, 'nats-server.conf');
    await writeFile(configPath, nodeConfig(i, trust, ports, resolverDir));
    nodes.push({
      name: `wno-nats-${i}`,
      url: `nats://127.0.0.1:${ports[i]!.client}`,
      monitorUrl: `http://127.0.0.1:${ports[i]!.http}`,
      configPath,
      logFile: path.join(nodeDir, 'nats-server.log'),
      resolverDir,
    });
  }
  const procs: (ManagedProcess | undefined)[] = nodes.map(() => undefined);
  const node = (i: number): NatsNodeInfo => {
    const n = nodes[i];
    if (!n) throw new Error(`no NATS node ${i} (have ${nodes.length})`);
    return n;
  };

  const launch = (i: number): ManagedProcess => {
    const n = node(i);
    const p = startProcess({ name: n.name, command: natsServer, args: ['-c', n.configPath], logFile: n.logFile });
    procs[i] = p;
    return p;
  };

  const waitReady = async (i: number): Promise<void> => {
    const n = node(i);
    const p = procs[i]!;
    await waitFor(async () => ((await httpGet(`${n.monitorUrl}/healthz`)).status === 200 ? true : undefined), {
      what: `${n.name} /healthz`,
      timeoutMs,
      watch: [p],
    });
    const peersUp = procs.filter((q, j) => j !== i && q?.isRunning()).length;
    if (peersUp > 0) {
      // Account JWT updates travel over routes, so "ready" includes being connected to the others.
      await waitFor(
        async () => {
          const { body } = await httpGet(`${n.monitorUrl}/routez`);
          const routes = (JSON.parse(body) as { routes?: { remote_name?: string }[] }).routes ?? [];
          return new Set(routes.map((r) => r.remote_name)).size >= peersUp ? true : undefined;
        },
        { what: `${n.name} routes to ${peersUp} peer(s)`, timeoutMs, watch: [p] },
      );
    }
  };

  const running = () => procs.filter((p): p is ManagedProcess => p !== undefined);
  const stop = async () => {
    await Promise.all(running().map((p) => p.stop()));
    if (ownDir) await removeTempDir(ownDir);
  };

  try {
    log(`starting ${opts.nodes} nats-server node(s) on ${nodes.map((n) => n.url).join(', ')}`);
    for (let i = 0; i < nodes.length; i++) launch(i);
    for (let i = 0; i < nodes.length; i++) await waitReady(i);
  } catch (err) {
    const logsText = await describeLogs(running());
    await stop();
    throw new Error(`starting nats-server failed: ${(err as Error).message}\n${logsText}`, { cause: err });
  }

  return {
    urls: nodes.map((n) => n.url),
    nodes,
    processes: running,
    stop,
    resolverDir: (i) => node(i).resolverDir,
    async stopNode(i) {
      node(i);
      await procs[i]?.stop();
    },
    async startNode(i, startOpts = {}) {
      const n = node(i);
      if (procs[i]?.isRunning()) throw new Error(`${n.name} is already running`);
      if (startOpts.wipeResolver) {
        await rm(n.resolverDir, { recursive: true, force: true });
        await mkdir(n.resolverDir, { recursive: true });
      }
      launch(i);
      try {
        await waitReady(i);
      } catch (err) {
        throw new Error(`restarting ${n.name} failed: ${(err as Error).message}\n${await describeLogs([procs[i]!])}`, {
          cause: err,
        });
      }
    },
  };
}
