// What most suites start with: the environment's state, a cluster prepared for them (CRDs, their
// namespaces, an issuer) and the operator running under its deployment RBAC.

import type { ClusterNatsIssuer } from '../../../src/api/cluster-nats-issuer.ts';
import { loadEnvState, type EnvState } from '../../env/state.ts';
import { OPERATOR_NAMESPACE, operatorKubeconfig, prepareCluster, type Clients } from './cluster.ts';
import { OperatorProcess } from './operator.ts';

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
}

/** Prepares the cluster and starts the operator; stop it with `suite.operator.stop()`. */
export async function startSuite(setup: SuiteSetup): Promise<Suite> {
  const state = loadEnvState();
  const admin = await prepareCluster(state, { issuer: setup.issuer.name, namespaces: setup.namespaces, spec: setup.issuer.spec });
  await setup.prepare?.(admin, state);
  const operator = new OperatorProcess(
    { kubeconfig: await operatorKubeconfig(state, setup.namespaces), namespace: OPERATOR_NAMESPACE, serves: setup.namespaces },
    state.root,
  );
  await operator.start();
  return { state, admin, operator };
}

