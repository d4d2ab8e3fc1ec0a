// What each benchmark runs against: the local test environment, a namespace and issuer named
// `bench`, and the real operator as a child process, optionally behind a connection counter.
// `stop()` ends all of it.

import { pino } from 'pino';
import { startEnvironment, type Environment } from '../test/env/index.ts';
import { loadEnvState, writeEnvState, type EnvState } from '../test/env/state.ts';
import { OPERATOR_NAMESPACE, operatorKubeconfig, prepareCluster, type Clients } from '../test/env/cluster.ts';
import { startConnectionCounter, type ConnectionCounter } from '../test/env/connection-counter.ts';
import { OperatorProcess } from '../test/env/operator.ts';

export const BENCH = 'bench';

/** The benchmark's own warnings (a watch restarted, an Event not recorded), on stderr, apart from the figures. */
export const benchLog = pino({ level: 'warn', base: { app: 'benchmark' } }, pino.destination(2));

export interface BenchOptions {
  /** Namespaces to create that the operator does not serve. */
  unserved?: string[];
  /** Put the operator behind a connection counter. */
  countConnections?: boolean;
}

export interface Bench {
  /** The processes themselves (the callout benchmark reads nats-server's CPU time). */
  env: Environment;
  state: EnvState;
  admin: Clients;
  operator: OperatorProcess;
  /** The operator's connections to the API server, with `countConnections`. */
  connections: ConnectionCounter | undefined;
  stop(): Promise<void>;
}

/** Starts everything; `operatorArgs` are extra flags of `run`. */
export async function startBench(operatorArgs: string[], options: BenchOptions = {}): Promise<Bench> {
  const env = await startEnvironment();
  let operator: OperatorProcess | undefined;
  let connections: ConnectionCounter | undefined;
  const stop = async () => {
    await operator?.stop();
    await connections?.stop();
    await env.stop();
  };
  try {
    const state = loadEnvState(await writeEnvState(env));
    const admin = await prepareCluster(state, { issuer: BENCH, namespaces: [BENCH, ...(options.unserved ?? [])] });
    const server = admin.kubeConfig.getCurrentCluster()?.server;
    if (options.countConnections && server) connections = await startConnectionCounter(server);
    operator = new OperatorProcess(
      {
        kubeconfig: await operatorKubeconfig(state, [BENCH], connections?.url),
        namespace: OPERATOR_NAMESPACE,
        serves: [BENCH],
        args: operatorArgs,
      },
      state.root,
    );
    await operator.start();
    return { env, state, admin, operator, connections, stop };
  } catch (error) {
    await stop();
    throw error;
  }
}
