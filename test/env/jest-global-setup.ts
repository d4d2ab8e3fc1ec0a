// Jest global setup for the e2e project: builds missing binaries, starts the environment (one
// NATS node; a local control plane unless $WNO_EXTERNAL_KUBECONFIG names a cluster) and tells the
// test workers where it is through environment variables they inherit.
import { startEnvironment } from './index.ts';
import type { Environment } from './index.ts';
import { ENV_STATE_VAR, writeEnvState } from './state.ts';

/** Where teardown finds the environment: setup and teardown run in the same (parent) process. */
export const GLOBAL_KEY = '__wnoTestEnvironment';

export default async function setup(): Promise<void> {
  const env: Environment = await startEnvironment({ natsNodes: 1 });
  (globalThis as Record<string, unknown>)[GLOBAL_KEY] = env;
  const statePath = await writeEnvState(env);
  process.env.WNO_KUBECONFIG = env.kubeconfigPath;
  process.env.WNO_NATS_URLS = env.nats.urls.join(',');
  process.env[ENV_STATE_VAR] = statePath;
}
