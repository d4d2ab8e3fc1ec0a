// The reads behind `inspect`: an access or issuer and what surrounds it, from the API server (with
// the operator's own client) and from the NATS servers (through the issuer's system account). Reads
// only, and each part on its own: a part that cannot be read is a Result that says why, so the
// rest is still shown. The only secret touched is the system account's creds file, to connect; it
// is never returned.

import type { V1Secret } from '@kubernetes/client-node';
import type { ClusterNatsIssuer } from '../api/cluster-nats-issuer.ts';
import { ACCESS_PLURAL, GROUP, ISSUER_PLURAL, VERSION } from '../api/constants.ts';
import { notOk, ok, type Result } from '../api/failure.ts';
import type { WorkspaceNatsAccess } from '../api/workspace-nats-access.ts';
import { IssuerKeys } from '../issuer/issuer-keys.ts';
import { resourcePath, type KubeClient } from '../kube/api.ts';
import { describeError, unlessNotFound } from '../kube/errors.ts';
import { readAccountJwt } from '../nats/account-jwt.ts';
import { NatsSystemClient, type SystemClientOptions } from '../nats/system-client.ts';
import { RevocationStore, type RevocationEntry } from '../revocation/revocation-store.ts';
import type { NatsReading } from './observed.ts';

const API_BASE = `/apis/${GROUP}/${VERSION}`;

export async function readAccess(client: KubeClient, namespace: string, name: string): Promise<WorkspaceNatsAccess | undefined> {
  const call = client.customObjects.getNamespacedCustomObject({ group: GROUP, version: VERSION, plural: ACCESS_PLURAL, namespace, name });
  return (await unlessNotFound(call)) as WorkspaceNatsAccess | undefined;
}

export async function readIssuer(client: KubeClient, name: string): Promise<ClusterNatsIssuer | undefined> {
  return unlessNotFound(client.transport.request<ClusterNatsIssuer>('GET', resourcePath(API_BASE, ISSUER_PLURAL, undefined, name)));
}

/** The labels of `namespace` (the issuer's namespaceSelector reads them). */
export async function readNamespaceLabels(client: KubeClient, namespace: string): Promise<Result<Record<string, string>>> {
  try {
    const object = await client.transport.request<{ metadata?: { labels?: Record<string, string> } }>('GET', resourcePath('/api/v1', 'namespaces', undefined, namespace));
    return ok(object.metadata?.labels ?? {});
  } catch (error) {
    return notOk(`namespace ${namespace}: ${describeError(error)}`);
  }
}

/** The revocation list of `account` as stored in the operator's namespace. */
export async function readRevocationList(client: KubeClient, operatorNamespace: string, account: string): Promise<Result<Map<string, RevocationEntry>>> {
  try {
    return ok(await new RevocationStore(client.core, operatorNamespace, 'workspace-nats-operator-inspect').load(account));
  } catch (error) {
    return notOk(`ConfigMaps ${RevocationStore.configMapName(account)}* in ${operatorNamespace}: ${describeError(error)}`);
  }
}

/** How inspect connects: the issuer's operator URLs, as a user of the system account. */
async function systemClientOptions(client: KubeClient, operatorNamespace: string, issuer: ClusterNatsIssuer): Promise<SystemClientOptions> {
  const ref = issuer.spec.nats.systemCredentialsSecretRef;
  let secret: V1Secret | undefined;
  try {
    secret = await unlessNotFound(client.core.readNamespacedSecret({ name: ref.name, namespace: operatorNamespace }));
  } catch (error) {
    throw new Error(`Secret ${operatorNamespace}/${ref.name}: ${describeError(error)}`);
  }
  const secrets = { get: (name: string) => (name === ref.name ? secret : undefined), list: () => (secret ? [secret] : []) };
  const { creds } = new IssuerKeys(secrets, operatorNamespace).credentials(ref);
  return { servers: [...(issuer.spec.nats.operatorUrls ?? issuer.spec.nats.urls)], creds, onChange: () => undefined, requestTimeoutMs: 2000 };
}

/**
 * What the NATS servers of `issuer` say about its account: each server's account JWT in force
 * (read, never kept) and every client connection of the account.
 */
export async function readNats(client: KubeClient, operatorNamespace: string, issuer: ClusterNatsIssuer): Promise<Result<NatsReading>> {
  let options: SystemClientOptions;
  try {
    options = await systemClientOptions(client, operatorNamespace, issuer);
  } catch (error) {
    return notOk(`cannot connect as the system account: ${(error as Error).message}`);
  }
  let nats: NatsSystemClient;
  try {
    nats = await NatsSystemClient.connect(options);
  } catch (error) {
    return notOk(`NATS unreachable at ${options.servers.join(', ')}: ${(error as Error).message}`);
  }
  try {
    const account = issuer.spec.account.publicKey;
    const servers = await nats.servers();
    const expected = Math.max(servers.length, 1);
    const inForce = await nats.accountInForce(account, expected);
    const listings = await nats.connectionListing(account, expected);
    return ok({
      servers: servers.map((server) => {
        const jwt = inForce.find((entry) => entry.server.id === server.id)?.jwt;
        return { ...server, account: jwt === undefined ? undefined : accountOf(jwt) };
      }),
      connections: listings.flatMap(({ server, connections }) => connections.map((connection) => ({ server: server.name, ...connection }))),
    });
  } catch (error) {
    return notOk(`NATS did not answer: ${(error as Error).message}`);
  } finally {
    await nats.close().catch(() => undefined);
  }
}

/** What inspect keeps of an account JWT: never the JWT itself. */
function accountOf(jwt: string): NatsReading['servers'][number]['account'] {
  try {
    const info = readAccountJwt(jwt);
    return { subject: info.subject, signer: info.issuer, issuedAt: new Date(info.issuedAt * 1000).toISOString(), revocations: info.revocations, signingKeys: info.signingKeys.map((entry) => entry.key) };
  } catch (error) {
    return { unreadable: (error as Error).message };
  }
}
