// The `inspect` command: reads an access or an issuer (src/inspect/observe.ts), builds its report
// (pure) and prints it as text, YAML or JSON. Exit codes: 0 everything was read; 3 the report is
// printed but a part could not be read (NATS unreachable, the revocation list unreadable: the
// Warnings section and `warnings` say which); 1 the object does not exist; 2 bad usage or the API
// server failed (from main).

import { parseArgs } from 'node:util';
import { stringify } from 'yaml';
import { notOk } from '../api/failure.ts';
import { accessReport } from '../inspect/access-report.ts';
import { issuerReport } from '../inspect/issuer-report.ts';
import { readAccess, readIssuer, readNamespaceLabels, readNats, readRevocationList } from '../inspect/observe.ts';
import { renderAccessText, renderIssuerText } from '../inspect/render-text.ts';
import { KubeClient } from '../kube/api.ts';
import { loadClusterConfig } from '../kube/kubeconfig.ts';

export const inspectUsage = `Usage: workspace-nats-operator inspect access NAME [-n NAMESPACE] [options]
       workspace-nats-operator inspect issuer NAME [options]
       kubectl natsaccess access NAME [-n NAMESPACE] [options]   (the same, as a kubectl plugin)

Shows what an access resolved to (subjects, limits, ttl, the issuer's bounds), its Ready condition,
its current and retired users, whether each NATS server has its revocations in force, and its live
connections; or an issuer's account, signing key, policy, revocation list, last push and each NATS
server's account JWT. Never prints a seed or a JWT.

Options:
  -n, --namespace NAME       the access's namespace (default: default)
  --operator-namespace NAME  the operator's namespace, holding the issuers' Secrets and the
                             revocation lists (default: $POD_NAMESPACE, then wno-system)
  --kubeconfig PATH          cluster to use (default: $KUBECONFIG, in-cluster, then ~/.kube/config)
  -o, --output FORMAT        text, yaml or json (default text)

Exit codes: 0 all read; 3 printed, but NATS or the revocation list could not be read (see
Warnings); 1 no such object; 2 bad usage or a Kubernetes API error.
`;

const FORMATS = ['text', 'yaml', 'json'] as const;
type Format = (typeof FORMATS)[number];

const flags = {
  namespace: { type: 'string', short: 'n' },
  'operator-namespace': { type: 'string' },
  kubeconfig: { type: 'string' },
  output: { type: 'string', short: 'o' },
  help: { type: 'boolean', short: 'h' },
} as const;

/** Runs `inspect` with `args`; resolves with the exit code. */
export async function inspect(args: string[], env: NodeJS.ProcessEnv, write: (text: string) => void): Promise<number> {
  const { values, positionals } = parseArgs({ args, options: flags, strict: true, allowPositionals: true });
  if (values.help) {
    write(inspectUsage);
    return 0;
  }
  const [kind, name, ...extra] = positionals;
  if ((kind !== 'access' && kind !== 'issuer') || !name || extra.length > 0) {
    throw new Error(`inspect takes "access NAME" or "issuer NAME"\n\n${inspectUsage}`);
  }
  const format = (values.output ?? 'text') as Format;
  if (!FORMATS.includes(format)) throw new Error(`--output: "${format}" is not one of ${FORMATS.join(', ')}`);
  const operatorNamespace = values['operator-namespace'] ?? (env.POD_NAMESPACE || 'wno-system');
  const client = new KubeClient(loadClusterConfig(values.kubeconfig));
  const now = new Date();

  if (kind === 'access') {
    const namespace = values.namespace ?? 'default';
    const access = await readAccess(client, namespace, name);
    if (!access) return notFound(`WorkspaceNatsAccess ${namespace}/${name} not found`);
    const issuer = await readIssuer(client, access.spec.issuerRef.name);
    const report = accessReport({
      access,
      issuer,
      namespaceLabels: await readNamespaceLabels(client, namespace),
      revocationList: issuer ? await readRevocationList(client, operatorNamespace, issuer.spec.account.publicKey) : undefined,
      nats: issuer ? await readNats(client, operatorNamespace, issuer) : notOk('no issuer'),
      now,
    });
    write(format === 'text' ? renderAccessText(report) : serialize(report, format));
    return report.warnings.length > 0 ? 3 : 0;
  }
  const issuer = await readIssuer(client, name);
  if (!issuer) return notFound(`ClusterNatsIssuer ${name} not found`);
  const report = issuerReport({
    issuer,
    revocationList: await readRevocationList(client, operatorNamespace, issuer.spec.account.publicKey),
    nats: await readNats(client, operatorNamespace, issuer),
    now,
  });
  write(format === 'text' ? renderIssuerText(report) : serialize(report, format));
  return report.warnings.length > 0 ? 3 : 0;
}

function notFound(message: string): number {
  process.stderr.write(`workspace-nats-operator: ${message}\n`);
  return 1;
}

const serialize = (report: object, format: 'yaml' | 'json') => (format === 'json' ? `${JSON.stringify(report, null, 2)}\n` : stringify(report));
