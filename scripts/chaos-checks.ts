// The invariants a chaos round ends with, each checked by reads of our own (the API server, etcd's
// record of every Secret version, and logins at each NATS server), never by the operator's logs:
//   1. every user ever stored for a removed workspace is refused by every NATS server;
//   2. no operator-managed Secret exists without its access;
//   3. no finalizer is stuck: every removed workspace's access is gone within a bound;
//   4. every live workspace's access is Ready, and its creds connect and pass a message round trip;
// and, from the same records, no access was issued twice (its spec never changes in the chaos run,
// so a second user stored in its Secret is a second issuance for the same generation).

import type { V1Secret } from '@kubernetes/client-node';
import { ACCESS_NAME_LABEL, ACCESS_PLURAL, CREDS_KEY, GROUP, MANAGED_BY_LABEL, MANAGED_BY_VALUE, VERSION } from '../src/api/constants.ts';
import type { WorkspaceNatsAccess } from '../src/api/workspace-nats-access.ts';
import { readCredentials } from '../src/nats/credentials.ts';
import type { Clients } from '../test/env/cluster.ts';
import type { EtcdHistory } from '../test/env/etcd-history.ts';
import { ACCEPTED, connectWithCreds, loginOutcome, roundTrip } from '../test/env/nats-client.ts';
import type { Subject } from './chaos-plan.ts';

/** How long, once everything is up, removed accesses may take to go and live ones to be Ready. */
export const CONVERGE_MS = 60_000;
/** How long a server that lost the account JWT (restart, empty resolver) may take to refuse revoked users again. */
export const REFUSE_MS = 45_000;
const REFUSAL = 'Authorization Violation';
const PARALLEL = 6;

export interface Tally {
  checked: number;
  violated: number;
}

export interface CheckReport {
  deletedUsersRefused: Tally;
  orphanSecrets: Tally;
  stuckFinalizers: Tally;
  liveRoundTrips: Tally;
  doubleIssuances: Tally;
  /** One line per violation, naming the objects. */
  violations: string[];
  /** The accesses named by violations (for log excerpts). */
  culprits: Set<string>;
}

export interface CheckInput {
  admin: Clients;
  namespace: string;
  natsUrls: string[];
  history: EtcdHistory;
  live: readonly Subject[];
  removed: readonly Subject[];
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const secretOf = (subject: Subject) => `${subject.accessName}-nats`;
const readyOf = (access: WorkspaceNatsAccess) => access.status?.conditions?.find((c) => c.type === 'Ready');
const describeReady = (access: WorkspaceNatsAccess) => {
  const ready = readyOf(access);
  return ready ? `Ready=${ready.status} ${ready.reason}: ${ready.message}` : 'no Ready condition';
};

/** Runs `task` over `items`, at most PARALLEL at a time. */
async function inParallel<T>(items: readonly T[], task: (item: T) => Promise<void>): Promise<void> {
  const queue = [...items];
  await Promise.all(Array.from({ length: PARALLEL }, async () => {
    for (let item = queue.shift(); item !== undefined; item = queue.shift()) await task(item);
  }));
}

async function listAccesses({ custom }: Clients, namespace: string): Promise<Map<string, WorkspaceNatsAccess>> {
  const list = (await custom.listNamespacedCustomObject({ group: GROUP, version: VERSION, plural: ACCESS_PLURAL, namespace })) as { items: WorkspaceNatsAccess[] };
  return new Map(list.items.map((access) => [access.metadata.name, access]));
}

/** Polls the accesses until `settled` holds for all of them or CONVERGE_MS passed; returns the last list. */
async function converge(input: CheckInput, settled: (accesses: Map<string, WorkspaceNatsAccess>) => boolean) {
  const deadline = Date.now() + CONVERGE_MS;
  for (;;) {
    const accesses = await listAccesses(input.admin, input.namespace).catch(() => undefined);
    if (accesses && (settled(accesses) || Date.now() > deadline)) return accesses;
    await sleep(500);
  }
}

export async function checkInvariants(input: CheckInput): Promise<CheckReport> {
  const report: CheckReport = {
    deletedUsersRefused: { checked: 0, violated: 0 },
    orphanSecrets: { checked: 0, violated: 0 },
    stuckFinalizers: { checked: 0, violated: 0 },
    liveRoundTrips: { checked: 0, violated: 0 },
    doubleIssuances: { checked: 0, violated: 0 },
    violations: [],
    culprits: new Set(),
  };
  const violation = (tally: Tally, line: string, access?: string) => {
    tally.violated++;
    report.violations.push(line);
    if (access) report.culprits.add(access);
  };
  const { admin, namespace } = input;

  // 3. Removed workspaces' accesses go, once NATS answers (their users revoked first).
  const afterRemoval = await converge(input, (accesses) => input.removed.every((s) => !accesses.has(s.accessName)));
  for (const subject of input.removed) {
    report.stuckFinalizers.checked++;
    const access = afterRemoval.get(subject.accessName);
    if (!access) continue;
    const state = access.metadata.deletionTimestamp
      ? `deleting since ${access.metadata.deletionTimestamp}, finalizers [${(access.metadata.finalizers ?? []).join(', ')}]`
      : 'not even being deleted';
    violation(report.stuckFinalizers, `stuck: ${namespace}/${subject.accessName} (${subject.kind}, round ${subject.round}) still exists ${CONVERGE_MS / 1000} s after recovery: ${state}; ${describeReady(access)}`, subject.accessName);
  }

  // 4. Live workspaces' accesses are Ready, and their creds work on the servers.
  const ready = (access: WorkspaceNatsAccess | undefined) => readyOf(access ?? ({} as WorkspaceNatsAccess))?.status === 'True';
  const afterIssue = await converge(input, (accesses) => input.live.every((s) => ready(accesses.get(s.accessName))));
  await inParallel(input.live, async (subject) => {
    report.liveRoundTrips.checked++;
    const access = afterIssue.get(subject.accessName);
    const name = `${namespace}/${subject.accessName} (${subject.kind}, round ${subject.round})`;
    if (!access || !ready(access)) {
      violation(report.liveRoundTrips, `not Ready: ${name}: ${access ? describeReady(access) : 'no such access'}`, subject.accessName);
      return;
    }
    const problem = await roundTripProblem(input, subject, access);
    if (problem) violation(report.liveRoundTrips, `live access fails: ${name}: ${problem}`, subject.accessName);
  });

  // From here on the record must hold every Secret version written so far.
  const sync = await admin.core.replaceNamespacedSecret({ name: 'chaos-sync', namespace, body: { metadata: { name: 'chaos-sync' }, stringData: { at: new Date().toISOString() } } });
  await input.history.caughtUpTo(Number(sync.metadata?.resourceVersion), 30_000);

  // One issuance per access: its spec (and so its generation) never changes in the chaos run.
  for (const subject of [...input.live, ...input.removed]) {
    const users = input.history.usersOf(secretOf(subject));
    if (users.length === 0) continue;
    report.doubleIssuances.checked++;
    if (users.length > 1) {
      const list = users.map((u) => `${u.publicKey} (etcd revision ${u.revision})`).join(', ');
      violation(report.doubleIssuances, `issued ${users.length} times: ${namespace}/${subject.accessName}: users ${list}`, subject.accessName);
    }
  }

  // 1. Every user a removed workspace ever held is refused by every server, in the server's words.
  const gone = input.removed.filter((s) => !afterRemoval.has(s.accessName));
  const logins = gone.flatMap((subject) => input.history.usersOf(secretOf(subject)).map((user) => ({ subject, user })));
  const deadline = Date.now() + REFUSE_MS;
  await inParallel(logins, async ({ subject, user }) => {
    report.deletedUsersRefused.checked++;
    const answers = await Promise.all(input.natsUrls.map((url) => refusal(url, user.creds, deadline)));
    const wrong = answers.map((answer, i) => ({ answer, url: input.natsUrls[i] })).filter(({ answer }) => answer !== REFUSAL);
    if (wrong.length === 0) return;
    const detail = wrong.map(({ url, answer }) => `${url}: ${answer}`).join('; ');
    violation(report.deletedUsersRefused, `not refused: user ${user.publicKey} of removed ${namespace}/${subject.accessName} (round ${subject.round}): ${detail}`, subject.accessName);
  });

  // 2. No Secret of ours outlives its access.
  const secrets = await admin.core.listNamespacedSecret({ namespace, labelSelector: `${MANAGED_BY_LABEL}=${MANAGED_BY_VALUE}` });
  const accesses = await listAccesses(admin, namespace);
  for (const secret of secrets.items) {
    report.orphanSecrets.checked++;
    const owner = ownerOf(secret, accesses);
    if (!owner) {
      const label = secret.metadata?.labels?.[ACCESS_NAME_LABEL] ?? '';
      violation(report.orphanSecrets, `orphan Secret ${namespace}/${secret.metadata?.name} (access ${label || '?'} is gone)`, label);
    }
  }
  return report;
}

/** The access `secret` belongs to, if it still exists (same name and uid). */
function ownerOf(secret: V1Secret, accesses: Map<string, WorkspaceNatsAccess>): WorkspaceNatsAccess | undefined {
  const access = accesses.get(secret.metadata?.labels?.[ACCESS_NAME_LABEL] ?? '');
  const uid = secret.metadata?.ownerReferences?.find((ref) => ref.controller)?.uid;
  return access && access.metadata.uid === uid ? access : undefined;
}

/** What the server at `url` answers `creds` with, asking again while it lets them in, until `deadline`. */
async function refusal(url: string, creds: string, deadline: number): Promise<string> {
  for (;;) {
    let answer: string;
    try {
      answer = await loginOutcome([url], creds);
    } catch (error) {
      answer = `no answer (${(error as Error).message})`;
    }
    if (answer !== ACCEPTED || Date.now() > deadline) return answer === ACCEPTED ? 'accepted (still valid)' : answer;
    await sleep(1000);
  }
}

/** Why the access's creds fail a message round trip, if they do. */
async function roundTripProblem(input: CheckInput, subject: Subject, access: WorkspaceNatsAccess): Promise<string | undefined> {
  const secretName = access.status?.secretName ?? secretOf(subject);
  let creds: string;
  try {
    const secret = await input.admin.core.readNamespacedSecret({ name: secretName, namespace: input.namespace });
    creds = Buffer.from(secret.data?.[CREDS_KEY] ?? '', 'base64').toString('utf8');
  } catch (error) {
    return `Secret ${secretName} unreadable: ${(error as Error).message}`;
  }
  let user: string;
  try {
    user = readCredentials(creds).userPublicKey;
  } catch (error) {
    return `Secret ${secretName}: ${(error as Error).message}`;
  }
  if (user !== access.status?.userPublicKey) return `status names user ${access.status?.userPublicKey} but Secret ${secretName} holds ${user}`;
  // Each live workspace on one server, the servers taken in turn: a revocation wrongly in force
  // anywhere shows. One connection both ways, as interest across routes is not instant.
  const url = input.natsUrls[input.live.indexOf(subject) % input.natsUrls.length] ?? '';
  try {
    const nc = await connectWithCreds([url], creds);
    try {
      const got = await roundTrip(nc, nc, `ws.${subject.workspaceId}.chaos`);
      return got === 'hello' ? undefined : `round trip at ${url} returned "${got}"`;
    } finally {
      await nc.close();
    }
  } catch (error) {
    return `user ${user} at ${url}: ${(error as Error).message}`;
  }
}
