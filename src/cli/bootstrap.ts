// `workspace-nats-operator bootstrap`: a NATS operator-mode trust made from nothing (or read from
// nsc or seed files), written to a folder as a nats-server config, JWTs, seed and creds files
// (mode 0600) and the Kubernetes objects the operator needs; with --apply, those objects applied.
// Prints paths and public keys only: seeds and JWTs go to files, never to the terminal.

import { chmodSync, existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { stringify } from 'yaml';
import { CALLOUT_PLURAL, GROUP, ISSUER_PLURAL, VERSION } from '../api/constants.ts';
import { createOrReplace } from '../kube/apply.ts';
import { statusCode } from '../kube/errors.ts';
import { loadClusterConfig } from '../kube/kubeconfig.ts';
import { KubeTransport } from '../kube/transport.ts';
import { renderServerConfig } from '../nats/server-config.ts';
import { accountJwts, createTrust, type Trust } from '../nats/trust.ts';
import { bootstrapObjects, identityProviders, renderManifest, type ManifestObject, type OperatorMaterial } from './bootstrap-manifest.ts';
import { parseBootstrapArgs, type BootstrapSettings, type KeySource } from './bootstrap-flags.ts';
import { materialFromFiles, materialFromNsc } from './bootstrap-sources.ts';

/** A file to write: its name in the output folder, text, and whether it holds a seed. */
interface OutputFile {
  name: string;
  text: string;
  secret: boolean;
}

export const MANIFEST_FILE = 'kubernetes.yaml';
export const SERVER_CONFIG_FILE = 'nats-server.conf';
export const SERVER_SECRET_FILE = 'nats-server-secret.yaml';
export const ACCESS_FILE = 'workspace-nats-access.yaml';
const FIELD_MANAGER = 'workspace-nats-operator-bootstrap';
const PLURALS: Record<string, string> = { Namespace: 'namespaces', Secret: 'secrets', ClusterNatsIssuer: ISSUER_PLURAL, ClusterNatsAuthCallout: CALLOUT_PLURAL };

export async function bootstrap(args: string[], env: NodeJS.ProcessEnv, print: (line: string) => void): Promise<void> {
  const settings = parseBootstrapArgs(args, env);
  const { material, files, trust } = await keysFrom(settings);
  const objects = bootstrapObjects(material, {
    namespace: settings.namespace,
    natsUrls: settings.natsUrls,
    issuerName: settings.issuerName,
    calloutName: settings.calloutName,
    secretSuffix: settings.secretSuffix,
    identityProviders: identityProviders(settings.issuerName, settings.serviceAccountIssuer, settings.oidcIssuer),
  });
  files.push({ name: MANIFEST_FILE, text: renderManifest(objects), secret: true }, { name: ACCESS_FILE, text: firstAccess(settings), secret: false });
  const out = resolve(settings.out);
  writeOutput(out, files, settings.force);

  print(`wrote ${files.length} files to ${out} (seeds and creds with mode 0600; keep the folder safe):`);
  for (const file of files) print(`  ${file.name}`);
  if (trust) {
    print(`operator ${trust.operator.name}: ${trust.operator.publicKey} (signing key ${trust.operator.signingKey.publicKey})`);
    print(`system account SYS: ${trust.systemAccount.publicKey}`);
  }
  print(`workspace account ${settings.accountName}: ${material.workspaceAccount.publicKey}${material.workspaceAccount.scoped ? ' (scoped signing key)' : ''}`);
  if (material.callout) print(`callout account: ${material.callout.accountPublicKey}`);
  if (settings.apply) {
    await applyObjects(objects, settings.kubeconfig, print);
  } else {
    print(`next: kubectl apply -f ${join(out, MANIFEST_FILE)}   (or run bootstrap with --apply)`);
  }
  if (trust) print(`NATS: run nats-server -c ${join(out, SERVER_CONFIG_FILE)}, or in a cluster: kubectl apply -f ${join(out, SERVER_SECRET_FILE)} -f scripts/kind/nats-server.yaml`);
}

async function keysFrom(settings: BootstrapSettings): Promise<{ material: OperatorMaterial; files: OutputFile[]; trust: Trust | undefined }> {
  const { source } = settings;
  if (source.kind === 'nsc') return { material: materialFromNsc(source, settings.accountName, settings.scoped), files: [], trust: undefined };
  if (source.kind === 'files') return { material: materialFromFiles(source, settings.scoped), files: [], trust: undefined };
  const trust = await createTrust({
    operatorName: source.operatorName,
    workspaceAccountName: settings.accountName,
    signingKeys: { plain: !settings.scoped, scoped: settings.scoped },
    calloutAccountName: settings.callout ? 'AUTH' : undefined,
  });
  return { material: materialOf(trust), files: trustFiles(trust, source), trust };
}

/** What the operator needs of a trust made here. */
export function materialOf(trust: Trust): OperatorMaterial {
  const { workspaceAccount: ws, calloutAccount: auth } = trust;
  const signingKey = ws.scopedSigningKey ?? ws.signingKey;
  if (!signingKey) throw new Error('the workspace account has no signing key');
  return {
    operatorSigningKeySeed: trust.operator.signingKey.seed,
    systemCreds: trust.systemUser.creds,
    workspaceAccount: { publicKey: ws.publicKey, signingKeySeed: signingKey.seed, scoped: ws.scopedSigningKey !== undefined },
    callout: auth && {
      accountPublicKey: auth.publicKey,
      signingKeySeed: auth.signingKey.seed,
      xkeySeed: auth.xkey.seed,
      authUserCreds: auth.authUser.creds,
      sentinelCreds: auth.sentinel.creds,
    },
  };
}

/** The server config, every JWT, and every seed and creds file of a trust made here. */
export function trustFiles(trust: Trust, source: Extract<KeySource, { kind: 'generate' }>): OutputFile[] {
  const config = renderServerConfig({
    operatorJwt: trust.operator.jwt,
    systemAccount: trust.systemAccount.publicKey,
    accounts: accountJwts(trust),
    resolverDir: source.resolverDir,
    // Monitoring, for the probes of a NATS in Kubernetes (GET /healthz).
    http: '0.0.0.0:8222',
  });
  const seed = (name: string, value: string): OutputFile => ({ name: `${name}.nk`, text: `${value}\n`, secret: true });
  const ws = trust.workspaceAccount;
  const files: OutputFile[] = [
    { name: SERVER_CONFIG_FILE, text: config, secret: false },
    { name: SERVER_SECRET_FILE, text: serverConfigSecret(config, source.natsNamespace), secret: false },
    { name: 'operator.jwt', text: trust.operator.jwt, secret: false },
    { name: 'SYS.jwt', text: trust.systemAccount.jwt, secret: false },
    { name: `${ws.name}.jwt`, text: ws.jwt, secret: false },
    seed('operator', trust.operator.seed),
    seed('operator-signing', trust.operator.signingKey.seed),
    seed('SYS', trust.systemAccount.seed),
    { name: 'sys.creds', text: trust.systemUser.creds, secret: true },
    seed(ws.name, ws.seed),
    ...(ws.signingKey ? [seed(`${ws.name}-signing`, ws.signingKey.seed)] : []),
    ...(ws.scopedSigningKey ? [seed(`${ws.name}-scoped-signing`, ws.scopedSigningKey.seed)] : []),
  ];
  const auth = trust.calloutAccount;
  if (auth) {
    files.push(
      { name: `${auth.name}.jwt`, text: auth.jwt, secret: false },
      seed(auth.name, auth.seed),
      seed(`${auth.name}-signing`, auth.signingKey.seed),
      seed(`${auth.name}-xkey`, auth.xkey.seed),
      { name: 'callout.creds', text: auth.authUser.creds, secret: true },
      { name: 'sentinel.creds', text: auth.sentinel.creds, secret: true },
    );
  }
  return files;
}

/** The server config as a Secret in NATS's namespace (with the Namespace), for a NATS in Kubernetes. */
function serverConfigSecret(config: string, namespace: string): string {
  const objects = [
    { apiVersion: 'v1', kind: 'Namespace', metadata: { name: namespace } },
    { apiVersion: 'v1', kind: 'Secret', metadata: { name: 'nats-config', namespace }, type: 'Opaque', stringData: { [SERVER_CONFIG_FILE]: config } },
  ];
  return objects.map((object) => stringify(object, { lineWidth: 0 })).join('---\n');
}

/** A first WorkspaceNatsAccess of the issuer: kubectl apply -n <namespace> -f it. */
function firstAccess(settings: BootstrapSettings): string {
  return stringify({
    apiVersion: `${GROUP}/${VERSION}`,
    kind: 'WorkspaceNatsAccess',
    metadata: { name: 'first-workspace' },
    spec: { issuerRef: { name: settings.issuerName }, workspace: { id: 'first-workspace' } },
  });
}

/** Writes `files` into `out`, refusing to replace any of them unless `force`. */
export function writeOutput(out: string, files: OutputFile[], force: boolean): void {
  const present = files.filter((file) => existsSync(join(out, file.name))).map((file) => file.name);
  if (present.length > 0 && !force) {
    throw new Error(
      `${out} already holds ${present.join(', ')}: not replacing keys that may be in use. ` +
        `Use another --out folder; apply what is there (kubectl apply -f ${join(out, MANIFEST_FILE)}); ` +
        'or pass --force to replace them (credentials of the old keys stop working once NATS and the operator get the new ones).',
    );
  }
  mkdirSync(out, { recursive: true, mode: 0o700 });
  for (const file of files) {
    const path = join(out, file.name);
    const mode = file.secret ? 0o600 : 0o644;
    writeFileSync(path, file.text, { mode });
    // A replaced file keeps its old mode otherwise.
    chmodSync(path, mode);
  }
}

async function applyObjects(objects: ManifestObject[], kubeconfig: string | undefined, print: (line: string) => void): Promise<void> {
  const cluster = loadClusterConfig(kubeconfig);
  const transport = new KubeTransport(cluster);
  try {
    for (const object of objects) {
      const plural = PLURALS[object.kind];
      if (!plural) throw new Error(`cannot apply a ${object.kind}`);
      const where = `${object.kind} ${object.metadata.namespace ? `${object.metadata.namespace}/` : ''}${object.metadata.name}`;
      let outcome: string;
      try {
        outcome = await createOrReplace(transport, object, plural, FIELD_MANAGER);
      } catch (error) {
        const hint = statusCode(error) === 404 && plural !== 'secrets' && plural !== 'namespaces' ? ' (are the CRDs installed? helm install, or kubectl apply -f crds/)' : '';
        throw new Error(`applying ${where} to ${transport.server}: ${(error as Error).message}${hint}`, { cause: error });
      }
      print(`${where}: ${outcome}`);
    }
  } finally {
    await transport.close();
  }
}

