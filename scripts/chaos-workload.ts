// Carries out a round's creates and removals against the API server, each at its planned moment,
// as a user would: through API server restarts, by retrying until the server answers. A retried
// create that finds its object (409) was stored the first time; a retried removal likewise.

import { ACCESS_PLURAL, GROUP, VERSION } from '../src/api/constants.ts';
import { statusCode } from '../src/kube/errors.ts';
import { accessBody, createAccess, type Clients } from '../test/env/cluster.ts';
import { createWorkspace, deleteWorkspace, setWorkspacePhase } from '../test/env/gitpod.ts';
import type { Operation, Subject } from './chaos-plan.ts';

/** What every workspace of the run may do on NATS: its own subjects. */
export const PERMISSIONS = { publish: { allow: ['ws.{{workspace.id}}.>'] }, subscribe: { allow: ['ws.{{workspace.id}}.>'] } };

/** How long to keep retrying one request: longer than any planned outage. */
const RETRY_FOR_MS = 90_000;

export interface WorkloadResult {
  done: Record<Operation['action'], number>;
  /** Requests that failed (no answer, 5xx) and were sent again. */
  retries: number;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Runs `operations` (in time order), each at `atMs` after the start; a removal waits for its create. */
export async function runOperations(admin: Clients, namespace: string, issuer: string, operations: readonly Operation[]): Promise<WorkloadResult> {
  const result: WorkloadResult = { done: { create: 0, 'delete-access': 0, 'stop-workspace': 0, 'delete-workspace': 0 }, retries: 0 };
  const started = Date.now();
  const last = new Map<string, Promise<void>>();
  const runs = operations.map((operation) => {
    const key = `${operation.subject.kind}/${operation.subject.accessName}`;
    const before = last.get(key) ?? Promise.resolve();
    const run = (async () => {
      await before;
      await sleep(Math.max(0, started + operation.atMs - Date.now()));
      const request = () => send(admin, namespace, issuer, operation);
      await retrying(`${operation.action} ${key}`, request, done(operation.action), () => result.retries++);
      result.done[operation.action]++;
    })();
    last.set(key, run);
    return run;
  });
  await Promise.all(runs);
  return result;
}

/** The status that means a retried request had already taken effect. */
const done = (action: Operation['action']): number[] => (action === 'create' ? [409] : [404]);

function send(admin: Clients, namespace: string, issuer: string, { action, subject }: Operation): Promise<unknown> {
  const { custom } = admin;
  switch (action) {
    case 'create':
      return create(admin, namespace, issuer, subject);
    case 'delete-access':
      return custom.deleteNamespacedCustomObject({ group: GROUP, version: VERSION, plural: ACCESS_PLURAL, namespace, name: subject.accessName });
    case 'stop-workspace':
      return setWorkspacePhase(custom, namespace, instanceOf(subject), 'Stopping');
    case 'delete-workspace':
      return deleteWorkspace(custom, namespace, instanceOf(subject));
  }
}

function create(admin: Clients, namespace: string, issuer: string, subject: Subject): Promise<unknown> {
  if (subject.kind === 'gitpod') return createWorkspace(admin.custom, namespace, instanceOf(subject), subject.workspaceId);
  return createAccess(
    admin.custom,
    namespace,
    accessBody(subject.accessName, { issuerRef: { name: issuer }, workspace: { id: subject.workspaceId }, permissions: PERMISSIONS }),
  );
}

const instanceOf = (subject: Subject) => {
  if (!subject.instance) throw new Error(`${subject.accessName} has no GitPod Workspace`);
  return subject.instance;
};

/** Sends `request` until the API server answers it (or answers one of `alreadyDone`). */
async function retrying(what: string, request: () => Promise<unknown>, alreadyDone: number[], onRetry: () => void): Promise<void> {
  const deadline = Date.now() + RETRY_FOR_MS;
  for (;;) {
    try {
      await request();
      return;
    } catch (error) {
      const code = statusCode(error);
      if (code !== undefined && alreadyDone.includes(code)) return;
      const unanswered = code === undefined || code >= 500 || code === 429;
      if (!unanswered || Date.now() > deadline) throw new Error(`${what}: ${String((error as Error).message ?? error)}`, { cause: error });
      onRetry();
      await sleep(500);
    }
  }
}
