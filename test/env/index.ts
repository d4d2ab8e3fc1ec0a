// Owns the whole test environment's lifecycle: one temp root (wno-env-*), the binaries, the control
// plane (or an external cluster), NATS and its trust material; and stopping all of it, also when
// startup fails half way (processes.ts covers exits, signals and crashes).
import path from 'node:path';
import { mkdir } from 'node:fs/promises';
import { ensureComponents, isExecutable } from './components.ts';
import type { ComponentPaths } from './components.ts';
import { startKube } from './kube.ts';
import type { KubeEnv } from './kube.ts';
import { createNatsTrust, startNats } from './nats.ts';
import type { NatsEnv, NatsTrust } from './nats.ts';
import { makeTempDir, removeTempDir } from './processes.ts';

export interface StartEnvironmentOptions {
  natsNodes?: 1 | 3;
  /** Use this cluster instead of starting one (kube is then undefined). Default: $WNO_EXTERNAL_KUBECONFIG. */
  externalKubeconfig?: string;
  /** Progress lines; default stderr. */
  log?: (line: string) => void;
  /** Binaries to run instead of the pinned, cached ones (e.g. a locally patched build). */
  components?: Partial<ComponentPaths>;
}

export interface Environment {
  /** Undefined when running against an external cluster. */
  kube: KubeEnv | undefined;
  /** The admin kubeconfig: the started cluster's, or the external one. */
  kubeconfigPath: string;
  nats: NatsEnv;
  trust: NatsTrust;
  components: ComponentPaths;
  /** The temp root holding everything of this run. */
  root: string;
  stop(): Promise<void>;
}

export async function startEnvironment(opts: StartEnvironmentOptions = {}): Promise<Environment> {
  const log = opts.log ?? ((l: string) => process.stderr.write(`[wno-env] ${l}\n`));
  const external = opts.externalKubeconfig ?? (process.env.WNO_EXTERNAL_KUBECONFIG || undefined);
  const started = Date.now();
  // Against an external cluster only nats-server is needed; kubectl comes from the cache if it was
  // built before, else from PATH (a machine with kind has one).
  const built = await ensureComponents(external ? { log, only: ['nats-server'] } : { log });
  const kubectl = external && !(await isExecutable(built.kubectl)) ? 'kubectl' : built.kubectl;
  const components: ComponentPaths = { ...built, kubectl, ...opts.components };
  const root = await makeTempDir('wno-env-');
  let kube: KubeEnv | undefined;
  let nats: NatsEnv | undefined;
  const stop = async () => {
    // NATS and kube are independent; stop both even if one fails, then remove the files.
    await Promise.allSettled([nats?.stop(), kube?.stop()]);
    await removeTempDir(root);
  };
  try {
    const trust = await createNatsTrust();
    const natsDir = path.join(root, 'nats');
    await mkdir(natsDir);
    // Both at once: NATS is up in well under a second, the control plane takes longer.
    const natsStart = startNats(trust, { natsServer: components.natsServer, dir: natsDir, nodes: opts.natsNodes ?? 1, log });
    natsStart.catch(() => undefined); // awaited below; this only avoids an unhandled-rejection crash meanwhile
    try {
      if (external) {
        log(`using the external cluster of ${external} (no local control plane)`);
      } else {
        const kubeDir = path.join(root, 'kube');
        await mkdir(kubeDir);
        kube = await startKube({ components, dir: kubeDir, log });
      }
    } finally {
      // Even when kube failed, wait for NATS so stop() below can stop it too.
      nats = await natsStart.catch((err: unknown) => {
        if (kube || external) throw err;
        return undefined;
      });
    }
    log(`environment ready in ${((Date.now() - started) / 1000).toFixed(1)}s (root ${root})`);
    return { kube, kubeconfigPath: external ?? kube!.kubeconfigPath, nats: nats!, trust, components, root, stop };
  } catch (err) {
    await stop();
    throw err;
  }
}
