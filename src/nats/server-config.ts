// A nats-server configuration in operator mode with the full resolver: the operator JWT inline,
// the system account, the resolver's JWT folder, and every account JWT preloaded, so that a new
// server knows the accounts before anyone pushes them. Pure: text in, text out. Strings are written
// as JSON strings, which nats-server's configuration syntax reads as quoted strings.

export interface ServerConfigInput {
  operatorJwt: string;
  systemAccount: string;
  /** Account public key -> account JWT. */
  accounts: Record<string, string>;
  /** Where the full resolver keeps account JWTs (a persistent volume in a cluster). */
  resolverDir: string;
  serverName?: string | undefined;
  /** host:port of client connections; nats-server's default (0.0.0.0:4222) when left out. */
  listen?: string | undefined;
  /** host:port of the monitoring endpoint (/healthz, /varz, ...); off when left out. */
  http?: string | undefined;
  /** A route cluster: its name, this node's route listener, and every node's route URL. */
  cluster?: { name: string; listen: string; routes: string[] } | undefined;
}

const quoted = (text: string) => JSON.stringify(text);

export function renderServerConfig(input: ServerConfigInput): string {
  const lines = [
    ...(input.serverName ? [`server_name: ${quoted(input.serverName)}`] : []),
    ...(input.listen ? [`listen: ${quoted(input.listen)}`] : []),
    ...(input.http ? [`http: ${quoted(input.http)}`] : []),
    // nats-server accepts the operator's JWT or a path to it here.
    `operator: ${quoted(input.operatorJwt)}`,
    `system_account: ${input.systemAccount}`,
    'resolver: {',
    '  type: full',
    `  dir: ${quoted(input.resolverDir)}`,
    // Deleting accounts is the operator's (nsc's) decision, never a pushed JWT's.
    '  allow_delete: false',
    // How often servers compare their JWTs with each other and fill in what they miss.
    '  interval: "2m"',
    '}',
    'resolver_preload: {',
    ...Object.entries(input.accounts).map(([publicKey, jwt]) => `  ${publicKey}: ${quoted(jwt)}`),
    '}',
  ];
  if (input.cluster) {
    lines.push(
      'cluster: {',
      `  name: ${quoted(input.cluster.name)}`,
      `  listen: ${quoted(input.cluster.listen)}`,
      `  routes: [${input.cluster.routes.map(quoted).join(', ')}]`,
      '}',
    );
  }
  return lines.join('\n') + '\n';
}
