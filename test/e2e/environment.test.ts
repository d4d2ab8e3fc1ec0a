// Proves the test harness itself: the control plane answers through @kubernetes/client-node, its
// garbage collector runs, the audit log records who wrote what, NATS in operator mode accepts a
// user signed by the WS account signing key but refuses one signed by an unknown key, and the auth
// callout account AUTH is in force: the servers hand a sentinel's login, sealed to AUTH's xkey, to
// its callout user, and refuse it when nobody answers.
import { nativeCredsAuthenticator } from '../../src/nats/native-creds.ts';
import { ApiException, CoreV1Api, KubeConfig } from '@kubernetes/client-node';
import { decode, encodeUser, fmtCreds } from '@nats-io/jwt';
import type { AuthorizationRequest } from '@nats-io/jwt';
import { createAccount, createUser, fromCurveSeed, fromSeed } from '@nats-io/nkeys';
import { ConnectionError, connect, type Msg } from '@nats-io/transport-node';
import { randomUUID } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { ACCEPTED, connectWithCreds, loginOutcome, tokenLoginOutcome } from '../env/nats-client.ts';
import { startNats } from '../env/nats.ts';
import type { NatsEnv } from '../env/nats.ts';
import { waitFor } from '../env/net.ts';
import { loadEnvState } from '../env/state.ts';

const env = loadEnvState();

function coreApi(kubeconfigPath: string): CoreV1Api {
  const kc = new KubeConfig();
  kc.loadFromFile(kubeconfigPath);
  return kc.makeApiClient(CoreV1Api);
}

interface AuditEvent {
  user?: { username?: string };
  verb?: string;
  stage?: string;
  objectRef?: { name?: string };
}

async function auditEvents(file: string): Promise<AuditEvent[]> {
  return (await readFile(file, 'utf8'))
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l) as AuditEvent);
}

describe('kubernetes', () => {
  const api = coreApi(env.kubeconfig);

  it('answers the admin kubeconfig', async () => {
    const list = await api.listNamespace();
    expect(list.items.map((n) => n.metadata?.name)).toEqual(expect.arrayContaining(['default', 'kube-system']));
  });

  it('garbage-collects a ConfigMap whose owner is gone', async () => {
    const ns = 'default';
    const suffix = randomUUID().slice(0, 8);
    const owner = await api.createNamespacedConfigMap({ namespace: ns, body: { metadata: { name: `owner-${suffix}` } } });
    await api.deleteNamespacedConfigMap({ namespace: ns, name: `owner-${suffix}` });
    await api.createNamespacedConfigMap({
      namespace: ns,
      body: {
        metadata: {
          name: `dependent-${suffix}`,
          ownerReferences: [{ apiVersion: 'v1', kind: 'ConfigMap', name: `owner-${suffix}`, uid: owner.metadata!.uid! }],
        },
      },
    });
    await waitFor(
      async () => {
        try {
          await api.readNamespacedConfigMap({ namespace: ns, name: `dependent-${suffix}` });
          return undefined;
        } catch (err) {
          if (err instanceof ApiException && err.code === 404) return true;
          throw err;
        }
      },
      { what: 'the dependent ConfigMap to be collected', timeoutMs: 60_000 },
    );
    if (env.kube) {
      // ...and it was the garbage collector that deleted it.
      const deleters = (await auditEvents(env.kube.auditLogPath))
        .filter((e) => e.verb === 'delete' && e.objectRef?.name === `dependent-${suffix}` && e.stage === 'ResponseComplete')
        .map((e) => e.user?.username);
      expect(deleters).toEqual(['system:serviceaccount:kube-system:generic-garbage-collector']);
    }
  });

  // An external cluster has no CA key or audit log of ours: there, kubeconfigFor says so.
  it('authenticates kubeconfigFor users and audits their writes', async () => {
    if (!env.kube) {
      await expect(env.kubeconfigFor('anyone', [])).rejects.toThrow('not available against an external cluster');
      return;
    }
    const user = `audit-probe-${randomUUID().slice(0, 8)}`;
    // system:masters so the write is allowed without setting up RBAC for this probe.
    const probe = coreApi(await env.kubeconfigFor(user, ['system:masters']));
    await probe.createNamespacedConfigMap({ namespace: 'default', body: { metadata: { name: user } } });
    await probe.deleteNamespacedConfigMap({ namespace: 'default', name: user });
    const writes = (await auditEvents(env.kube.auditLogPath)).filter((e) => e.user?.username === user && e.stage === 'ResponseComplete').map((e) => e.verb);
    expect(writes.sort()).toEqual(['create', 'delete']);
  });
});

const ws = env.trust.workspaceAccount;

async function credsFor(signingSeed: string, issuerAccount: string): Promise<Uint8Array> {
  const user = createUser();
  const jwt = await encodeUser('harness-probe', user, issuerAccount, { pub: { allow: ['probe.>'] }, sub: { allow: ['probe.>'] } }, {
    signer: fromSeed(new TextEncoder().encode(signingSeed)),
    exp: Math.floor(Date.now() / 1000) + 600,
  });
  return fmtCreds(jwt, user);
}

describe('nats', () => {
  it('accepts a user signed by the WS account signing key, and pub/sub works', async () => {
    const nc = await connect({ servers: env.nats.urls, authenticator: nativeCredsAuthenticator(await credsFor(ws.signingKey.seed, ws.publicKey)) });
    try {
      const sub = nc.subscribe('probe.hello', { max: 1 });
      const got = (async () => {
        for await (const m of sub) return m.string();
        return undefined;
      })();
      await nc.flush();
      nc.publish('probe.hello', 'hi');
      await expect(got).resolves.toBe('hi');
    } finally {
      await nc.close();
    }
  });

  it('lets the system user talk to the servers (as the operator will, to push account JWTs)', async () => {
    const nc = await connect({
      servers: env.nats.urls,
      authenticator: nativeCredsAuthenticator(env.trust.systemUser.creds),
    });
    try {
      const reply = await nc.request('$SYS.REQ.SERVER.PING', '', { timeout: 5000 });
      expect((reply.json() as { server?: { name?: string } }).server?.name).toMatch(/^wno-nats-/);
    } finally {
      await nc.close();
    }
  });

  it('refuses a user signed by a key the account does not list', async () => {
    const rogue = createAccount();
    const creds = await credsFor(new TextDecoder().decode(rogue.getSeed()), ws.publicKey);
    expect(await loginOutcome(env.nats.urls, new TextDecoder().decode(creds))).toBe('Authorization Violation');
  });

  describe('auth callout account AUTH', () => {
    const auth = env.trust.calloutAccount;

    it('lets its callout user in', async () => {
      expect(await loginOutcome(env.nats.urls, auth.authUser.creds)).toBe(ACCEPTED);
    });

    it('refuses the sentinel with a token when no callout service answers (after the auth timeout)', async () => {
      expect(await tokenLoginOutcome(env.nats.urls, auth.sentinel.creds, 'nobody-checks-this')).toBe('Authorization Violation');
    });

    it('sends the callout user the login, sealed to the xkey, with the token in connect_opts', async () => {
      const service = await connectWithCreds(env.nats.urls, auth.authUser.creds);
      try {
        const requests: Msg[] = [];
        service.subscribe('$SYS.REQ.USER.AUTH', {
          callback: (error, msg) => {
            if (!error) requests.push(msg);
          },
        });
        await service.flush();
        const token = `probe-${randomUUID()}`;
        // Nobody answers, so the login is refused; the server sent the request before giving up.
        expect(await tokenLoginOutcome(env.nats.urls, auth.sentinel.creds, token)).toBe('Authorization Violation');
        await service.flush();
        expect(requests).toHaveLength(1);
        const msg = requests[0]!;
        const serverXkey = msg.headers?.get('Nats-Server-Xkey') ?? '';
        expect(serverXkey).toMatch(/^X/);
        const opened = fromCurveSeed(new TextEncoder().encode(auth.xkey.seed)).open(msg.data, serverXkey);
        if (!opened) throw new Error('the request could not be opened with the AUTH xkey');
        const request = decode<AuthorizationRequest>(new TextDecoder().decode(opened)).nats;
        // The public key, not the JWT: a failed expectation prints both sides.
        expect(request.connect_opts?.nkey).toBe(auth.sentinel.publicKey);
        expect(request.connect_opts?.auth_token).toBe(token);
      } finally {
        await service.close();
      }
    });
  });
});

describe('nats cluster (3 nodes)', () => {
  let cluster: NatsEnv | undefined;

  beforeAll(async () => {
    cluster = await startNats(env.trust, { nodes: 3, natsServer: env.binaries.natsServer });
  });
  afterAll(async () => {
    await cluster?.stop();
  });

  it('routes messages between nodes, and a node restarts on its ports with an empty resolver', async () => {
    const c = cluster!;
    const creds = await credsFor(ws.signingKey.seed, ws.publicKey);
    const sub = await connect({ servers: c.urls[2]!, authenticator: nativeCredsAuthenticator(creds) });
    const pub = await connect({ servers: c.urls[0]!, authenticator: nativeCredsAuthenticator(creds) });
    try {
      const s = sub.subscribe('probe.routed', { max: 1 });
      await sub.flush();
      // Interest propagates over routes asynchronously; publish until it arrives.
      const got = (async () => {
        for await (const m of s) return m.string();
        return undefined;
      })();
      const ticker = setInterval(() => pub.publish('probe.routed', 'across'), 100);
      await expect(got).resolves.toBe('across');
      clearInterval(ticker);
    } finally {
      await Promise.all([sub.close(), pub.close()]);
    }

    const url = c.urls[1]!;
    await c.stopNode(1);
    // Stopped: nothing listens on its port (a ConnectionError, not a refusal by a server).
    await expect(connect({ servers: url, reconnect: false, authenticator: nativeCredsAuthenticator(creds) })).rejects.toThrow(ConnectionError);
    await c.startNode(1, { wipeResolver: true });
    expect(c.urls[1]).toBe(url);
    const again = await connect({ servers: url, authenticator: nativeCredsAuthenticator(creds) });
    await again.close();
  });
});
