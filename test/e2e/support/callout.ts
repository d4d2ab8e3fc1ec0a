// Setting up an auth callout for e2e suites: the callout account's keys and creds as Secrets in the
// operator's namespace (from the environment's trust, test/env/nats.ts), a ClusterNatsAuthCallout
// for them, and waiting for its status.

import type { ClusterNatsAuthCallout, IdentityProvider } from '../../../src/api/cluster-nats-auth-callout.ts';
import { CALLOUT_PLURAL, GROUP, VERSION } from '../../../src/api/constants.ts';
import { OPERATOR_NAMESPACE, waitFor, type Clients } from '../../env/cluster.ts';
import type { NatsTrust } from '../../env/nats.ts';

/** The Secrets a callout reads, by role; `suffix` keeps those of another trust apart. */
export const calloutSecrets = (suffix = '') => ({
  signingKey: `callout-signing-key${suffix}`,
  xkey: `callout-xkey${suffix}`,
  authUser: `callout-auth-creds${suffix}`,
  sentinel: `callout-sentinel-creds${suffix}`,
});

export async function createCalloutSecrets(admin: Clients, trust: NatsTrust, suffix = ''): Promise<void> {
  const names = calloutSecrets(suffix);
  const { calloutAccount } = trust;
  const secrets: [string, Record<string, string>][] = [
    [names.signingKey, { seed: calloutAccount.signingKey.seed }],
    [names.xkey, { seed: calloutAccount.xkey.seed }],
    [names.authUser, { 'nats.creds': calloutAccount.authUser.creds }],
    [names.sentinel, { 'nats.creds': calloutAccount.sentinel.creds }],
  ];
  for (const [name, stringData] of secrets) {
    try {
      await admin.core.createNamespacedSecret({ namespace: OPERATOR_NAMESPACE, body: { metadata: { name }, stringData } });
    } catch (error) {
      if ((error as { code?: number }).code !== 409) throw error;
    }
  }
}

export function calloutBody(name: string, trust: NatsTrust, urls: string[], identityProviders: IdentityProvider[], suffix = ''): ClusterNatsAuthCallout {
  const names = calloutSecrets(suffix);
  return {
    apiVersion: `${GROUP}/${VERSION}`,
    kind: 'ClusterNatsAuthCallout',
    metadata: { name },
    spec: {
      nats: { urls, authUserCredentialsSecretRef: { name: names.authUser }, sentinelCredentialsSecretRef: { name: names.sentinel } },
      account: { publicKey: trust.calloutAccount.publicKey, signingKeySecretRef: { name: names.signingKey } },
      xkeySecretRef: { name: names.xkey },
      identityProviders,
    },
  };
}

export async function createCallout(admin: Clients, body: ClusterNatsAuthCallout): Promise<void> {
  await admin.custom.createClusterCustomObject({ group: GROUP, version: VERSION, plural: CALLOUT_PLURAL, body, fieldValidation: 'Strict' });
}

export async function getCallout(admin: Clients, name: string): Promise<ClusterNatsAuthCallout> {
  return (await admin.custom.getClusterCustomObject({ group: GROUP, version: VERSION, plural: CALLOUT_PLURAL, name })) as ClusterNatsAuthCallout;
}

/** Waits until the callout's Ready condition is True (Serving). */
export function waitForCalloutReady(admin: Clients, name: string, timeoutMs = 30_000): Promise<ClusterNatsAuthCallout> {
  return waitFor(
    async () => {
      const callout = await getCallout(admin, name);
      const ready = callout.status?.conditions?.find((c) => c.type === 'Ready');
      if (ready?.status === 'True') return callout;
      // Thrown, so that a timeout says where it stood.
      throw new Error(ready ? `Ready=${ready.status} ${ready.reason}: ${ready.message}` : 'no Ready condition');
    },
    { what: `callout ${name} Ready`, timeoutMs },
  );
}
