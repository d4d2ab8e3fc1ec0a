// What each benchmark runs against: the local test environment, a namespace and issuer named
// `bench`, and the real operator as a child process. `stop()` ends all of it.

import { startEnvironment } from '../test/env/index.ts';
import { loadEnvState, writeEnvState, type EnvState } from '../test/env/state.ts';
import { OPERATOR_NAMESPACE, operatorKubeconfig, prepareCluster, type Clients } from '../test/env/cluster.ts';
import { OperatorProcess } from '../test/env/operator.ts';

export const BENCH = 'bench';

export interface Bench {
  state: EnvState;
  admin: Clients;
  stop(): Promise<void>;
}

/** Starts everything; `operatorArgs` are extra flags of `run`. */
export async function startBench(operatorArgs: string[]): Promise<Bench> {
  const env = await startEnvironment();
  let operator: OperatorProcess | undefined;
  const stop = async () => {
    await operator?.stop();
    await env.stop();
  };
  try {
    const state = loadEnvState(await writeEnvState(env));
    const admin = await prepareCluster(state, { issuer: BENCH, namespaces: [BENCH] });
    operator = new OperatorProcess(
      { kubeconfig: await operatorKubeconfig(state, [BENCH]), namespace: OPERATOR_NAMESPACE, serves: [BENCH], args: operatorArgs },
      state.root,
    );
    await operator.start();
    return { state, admin, stop };
  } catch (error) {
    await stop();
    throw error;
  }
}
