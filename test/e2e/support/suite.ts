// What most suites start with: the environment's state, a cluster prepared for them (CRDs, their
// namespaces, an issuer) and the operator running under its deployment RBAC.

import type { ClusterNatsIssuer } from '../../../src/api/cluster-nats-issuer.ts';
import { createNatsTrust, startNats, type NatsEnv, type NatsTrust } from '../../env/nats.ts';
import { loadEnvState, type EnvState } from '../../env/state.ts';
import { createIssuer, OPERATOR_NAMESPACE, operatorKubeconfig, prepareCluster, type Clients } from '../../env/cluster.ts';
import { OperatorProcess } from '../../env/operator.ts';

export interface Suite {
  state: EnvState;
  admin: Clients;
  operator: OperatorProcess;
}

export interface SuiteSetup {
  namespaces: string[];
  /** An issuer of the environment's NATS account, with `spec` over the defaults. */
  issuer: { name: string; spec?: Partial<ClusterNatsIssuer['spec']> };
  /** More set-up before the operator starts (Secrets it must find, say). */
  prepare?: (admin: Clients, state: EnvState) => Promise<void>;
  /** Extra flags of `run`. */
  operatorArgs?: string[];
  /** The API server address the operator is given, if not the real one (a connection counter, say). */
  apiServer?: string;
}

/** Prepares the cluster and starts the operator; stop it with `suite.operator.stop()`. */
export async function startSuite(setup: SuiteSetup): Promise<Suite> {
  const state = loadEnvState();
  const admin = await prepareCluster(state, { issuer: setup.issuer.name, namespaces: setup.namespaces, spec: setup.issuer.spec });
  await setup.prepare?.(admin, state);
  const operator = new OperatorProcess(
    {
      kubeconfig: await operatorKubeconfig(state, setup.namespaces, setup.apiServer),
      namespace: OPERATOR_NAMESPACE,
      serves: setup.namespaces,
      ...(setup.operatorArgs ? { args: setup.operatorArgs } : {}),
    },
    state.root,
  );
  await operator.start();
  return { state, admin, operator };
}


export interface OwnNatsSuite extends Suite {
  /** NATS trust of its own: an account whose revocations are this suite's alone. */
  trust: NatsTrust;
  /** nats-server processes of its own, which the suite may stop, wipe and restart. */
  nats: NatsEnv;
}

/**
 * A suite with its own NATS trust and servers, and an issuer named `issuer` for them (besides the
 * environment's `${issuer}-env`). Stop both with `suite.operator.stop()` and `suite.nats.stop()`.
 */
export async function startSuiteWithOwnNats(setup: { issuer: string; namespaces: string[]; nodes: 1 | 3; operatorArgs?: string[] }): Promise<OwnNatsSuite> {
  const trust = await createNatsTrust();
  const nats = await startNats(trust, { nodes: setup.nodes });
  try {
    const suite = await startSuite({
      issuer: { name: `${setup.issuer}-env` },
      namespaces: setup.namespaces,
      ...(setup.operatorArgs ? { operatorArgs: setup.operatorArgs } : {}),
      prepare: async (clients, env) => {
        await createIssuer(clients, { ...env, trust, nats: { ...env.nats, urls: nats.urls } }, setup.issuer, {}, `-${setup.issuer}`);
      },
    });
    return { ...suite, trust, nats };
  } catch (error) {
    await nats.stop();
    throw error;
  }
}
