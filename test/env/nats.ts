// Owns NATS for the tests: trust material generated at run time (operator with a signing key, the
// SYS account and its user, the workspace account WS with an account signing key, the auth callout
// account AUTH with its callout user and sentinel), and nats-server processes in operator mode with
// the full resolver, as one node or a 3-node cluster whose nodes can be stopped and restarted on the
// same ports.
import { Algorithms, encodeAccount, encodeOperator, encodeUser, fmtCreds, newScopedSigner } from '@nats-io/jwt';
import type { Account } from '@nats-io/jwt';
import { createAccount, createCurve, createOperator, createUser } from '@nats-io/nkeys';
import type { KeyPair } from '@nats-io/nkeys';
import { mkdir, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { freePort, httpGet, waitFor } from './net.ts';
import { ensureComponents } from './components.ts';
import { describeLogs, makeTempDir, removeTempDir, startProcess } from './processes.ts';
import type { ManagedProcess } from './processes.ts';

export interface NKeyMaterial {
  publicKey: string;
  seed: string;
}

export interface NatsTrust {
  operator: NKeyMaterial & { name: string; jwt: string; signingKey: NKeyMaterial };
  systemAccount: NKeyMaterial & { name: 'SYS'; jwt: string };
  /** A user of SYS (signed by the SYS identity key), e.g. to push account JWT updates. */
  systemUser: NKeyMaterial & { jwt: string; creds: string };
  /**
   * The account workspace users live in; its JWT is signed by the operator signing key. It lists a
   * plain signing key and a scoped one, whose template gives a user with tag `ws:<id>` the subjects
   * `ws.<id>.>` (and its inbox `_INBOX_<id>.>`), whatever the user JWT itself says.
   */
  workspaceAccount: NKeyMaterial & {
    name: 'WS';
    jwt: string;
    signingKey: NKeyMaterial;
    scopedSigningKey: NKeyMaterial & { role: string };
  };
  /**
   * The auth callout account: its JWT (signed by the operator signing key) names `authUser` as the
   * one user that answers `$SYS.REQ.USER.AUTH`, WS as the account the answers may place users in,
   * and `xkey` as the curve key the servers encrypt requests to. Any other user of AUTH, such as
   * the sentinel, is sent to the callout to be authorized.
   */
  calloutAccount: NKeyMaterial & {
    name: 'AUTH';
    jwt: string;
    signingKey: NKeyMaterial;
    /** Curve key pair (public X..., seed SX...). */
    xkey: NKeyMaterial;
    /** The callout service's user, allowed everything; signed by the AUTH signing key. */
    authUser: NKeyMaterial & { jwt: string; creds: string };
    /**
     * A bearer user allowed nothing, signed by the AUTH signing key: what a workspace logs in with,
     * its OIDC or ServiceAccount token in CONNECT's auth_token; the callout decides who it becomes.
     */
    sentinel: NKeyMaterial & { jwt: string; creds: string };
  };
}

/** The scoped signing key's role and template in the WS account JWT. */
export const SCOPED_ROLE = 'workspace';
export const SCOPED_TEMPLATE = {
  pub: { allow: ['ws.{{tag(ws)}}.>'] },
  sub: { allow: ['ws.{{tag(ws)}}.>', '_INBOX_{{tag(ws)}}.>'] },
  subs: 100,
};

const material = (kp: KeyPair): NKeyMaterial => ({
  publicKey: kp.getPublicKey(),
  seed: new TextDecoder().decode(kp.getSeed()),
});

// Without explicit limits an account JWT reads as "0 connections allowed".
const UNLIMITED: Account['limits'] = { subs: -1, data: -1, payload: -1, imports: -1, exports: -1, wildcards: true, conn: -1, leaf: -1 };
const v2 = { algorithm: Algorithms.v2 };
const credsText = (jwt: string, kp: KeyPair) => new TextDecoder().decode(fmtCreds(jwt, kp));

export async function createNatsTrust(): Promise<NatsTrust> {
  const operator = createOperator();
  const operatorSigner = createOperator();
  const sys = createAccount();
  const ws = createAccount();
  const wsSigner = createAccount();
  const wsScopedSigner = createAccount();
  const sysUser = createUser();
  const auth = createAccount();
  const authSigner = createAccount();
  const authXkey = createCurve();
  const authUser = createUser();
  const sentinel = createUser();

  const operatorJwt = await encodeOperator(
    'wno-test-operator',
    operator,
    { signing_keys: [operatorSigner.getPublicKey()], system_account: sys.getPublicKey() },
    v2,
  );
  // Account JWTs are signed by the operator signing key, as a real deployment would do, so the
  // operator identity seed is never needed after setup.
  const sysJwt = await encodeAccount('SYS', sys.getPublicKey(), { limits: UNLIMITED }, { ...v2, signer: operatorSigner });
  const wsJwt = await encodeAccount(
    'WS',
    ws.getPublicKey(),
    {
      limits: UNLIMITED,
      signing_keys: [wsSigner.getPublicKey(), newScopedSigner(wsScopedSigner, SCOPED_ROLE, SCOPED_TEMPLATE)],
    },
    { ...v2, signer: operatorSigner },
  );
  const sysUserJwt = await encodeUser('sys', sysUser, sys, {}, v2);
  const authJwt = await encodeAccount(
    'AUTH',
    auth.getPublicKey(),
    {
      limits: UNLIMITED,
      signing_keys: [authSigner.getPublicKey()],
      authorization: { auth_users: [authUser.getPublicKey()], allowed_accounts: [ws.getPublicKey()], xkey: authXkey.getPublicKey() },
    },
    { ...v2, signer: operatorSigner },
  );
  // Both users are signed by the AUTH signing key (encodeUser then sets issuer_account to AUTH).
  const authUserJwt = await encodeUser('auth-callout', authUser, auth, {}, { ...v2, signer: authSigner });
  const denyAll = { deny: ['>'] };
  const sentinelJwt = await encodeUser(
    'sentinel',
    sentinel,
    auth,
    { bearer_token: true, pub: denyAll, sub: denyAll },
    { ...v2, signer: authSigner },
  );
  return {
    operator: { ...material(operator), name: 'wno-test-operator', jwt: operatorJwt, signingKey: material(operatorSigner) },
    systemAccount: { ...material(sys), name: 'SYS', jwt: sysJwt },
    systemUser: { ...material(sysUser), jwt: sysUserJwt, creds: credsText(sysUserJwt, sysUser) },
    workspaceAccount: {
      ...material(ws),
      name: 'WS',
      jwt: wsJwt,
      signingKey: material(wsSigner),
      scopedSigningKey: { ...material(wsScopedSigner), role: SCOPED_ROLE },
    },
    calloutAccount: {
      ...material(auth),
      name: 'AUTH',
      jwt: authJwt,
      signingKey: material(authSigner),
      xkey: material(authXkey),
      authUser: { ...material(authUser), jwt: authUserJwt, creds: credsText(authUserJwt, authUser) },
      sentinel: { ...material(sentinel), jwt: sentinelJwt, creds: credsText(sentinelJwt, sentinel) },
    },
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
  const lines = [
    `server_name: wno-nats-${i}`,
    `listen: "127.0.0.1:${me.client}"`,
    `http: "127.0.0.1:${me.http}"`,
    // Inline operator JWT: nats-server accepts a JWT or a path here.
    `operator: ${JSON.stringify(trust.operator.jwt)}`,
    `system_account: ${trust.systemAccount.publicKey}`,
    'resolver: {',
    '  type: full',
    `  dir: ${JSON.stringify(resolverDir)}`,
    '  allow_delete: false',
    '  interval: "2m"',
    '}',
    'resolver_preload: {',
    `  ${trust.systemAccount.publicKey}: ${JSON.stringify(trust.systemAccount.jwt)}`,
    `  ${trust.workspaceAccount.publicKey}: ${JSON.stringify(trust.workspaceAccount.jwt)}`,
    `  ${trust.calloutAccount.publicKey}: ${JSON.stringify(trust.calloutAccount.jwt)}`,
    '}',
  ];
  if (ports.length > 1) {
    lines.push(
      'cluster: {',
      '  name: wno',
      `  listen: "127.0.0.1:${me.cluster}"`,
      // Listing every node (itself included, which the server skips) keeps one config shape.
      `  routes: [${ports.map((p) => JSON.stringify(`nats-route://127.0.0.1:${p.cluster}`)).join(', ')}]`,
      '}',
    );
  }
  return lines.join('\n') + '\n';
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
