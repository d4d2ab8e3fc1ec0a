// A burst: requests for many accesses sent with a fixed number in flight, each access timed from
// its first request to the observer seeing it reach a milestone (its Secret, Ready, gone). A run
// issues a burst (32 accesses in progress at a time, each until it is Ready), checks that every
// access is Ready with its Secret, deletes them all at once (32 requests in flight) and checks that
// every one is gone, whoever does the work (the operator, or the plain client).

import type { V1Secret } from '@kubernetes/client-node';
import { ACCESS_NAME_LABEL, ACCESS_PLURAL, GROUP, VERSION } from '../src/api/constants.ts';
import type { WorkspaceNatsAccess } from '../src/api/workspace-nats-access.ts';
import type { Clients } from '../test/env/cluster.ts';
import { isReady, observe, type Milestone, type Observer } from './benchmark-observer.ts';

/** Requests in flight during a burst, as a busy workspace platform might send them. */
export const IN_FLIGHT = 32;

export interface BurstTimes {
  /** Per access, in ms. */
  latencies: number[];
  /** From the first request to the last access done, in ms. */
  totalMs: number;
}

/**
 * Runs `send` for each of `names`, `inFlight` at a time, and waits until `observer` reports each
 * one reaching `milestone`. A failed request fails the burst; so does `timeoutMs` passing, with how
 * many got there.
 */
export async function timeBurst(
  names: readonly string[],
  send: (name: string) => Promise<unknown>,
  observer: Observer,
  milestone: Milestone,
  { inFlight = IN_FLIGHT, timeoutMs = 60_000 + names.length * 500 } = {},
): Promise<BurstTimes> {
  const sentAt = new Map<string, number>();
  const begin = performance.now();
  let timer: NodeJS.Timeout | undefined;
  const timedOut = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      const missing = names.filter((name) => observer.count([name], milestone) === 0);
      const which = `${missing.slice(0, 5).join(', ')}${missing.length > 5 ? ', ...' : ''}`;
      reject(new Error(`${missing.length} of ${names.length} accesses not ${milestone} after ${timeoutMs / 1000} s: ${which}`));
    }, timeoutMs);
  });
  try {
    const [, doneAt] = await Promise.race([
      Promise.all([
        inParallel(names, inFlight, async (name) => {
          sentAt.set(name, performance.now());
          await send(name);
        }),
        Promise.all(names.map((name) => observer.arrival(name, milestone))),
      ]),
      timedOut,
    ]);
    return {
      latencies: names.map((name, i) => (doneAt[i] ?? NaN) - (sentAt.get(name) ?? NaN)),
      totalMs: Math.max(...doneAt) - begin,
    };
  } finally {
    clearTimeout(timer);
  }
}

/** `fn` over `items` with at most `limit` calls running at a time. */
async function inParallel<T>(items: readonly T[], limit: number, fn: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  const lane = async () => {
    while (next < items.length) await fn(items[next++] as T);
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, lane));
}

/** Who issues and deletes the accesses of a burst, and where. */
export interface Writer {
  namespace: string;
  issue(name: string): Promise<unknown>;
  delete(name: string): Promise<unknown>;
}

export interface BurstRun<S> {
  issued: BurstTimes;
  deleted: BurstTimes;
  /**
   * `sample()` before the burst, once all were Ready, as the deletion began (after `whileHeld`; the
   * same as `held` without it), and once all were gone.
   */
  samples: { before: S; held: S; deleting: S; after: S };
}

/**
 * Issues `names` as a burst, checks them, runs `whileHeld` (if given), deletes them as a burst and
 * checks that they are gone.
 */
export async function runBurst<S>(
  admin: Clients,
  writer: Writer,
  names: readonly string[],
  sample: () => Promise<S>,
  whileHeld?: () => Promise<void>,
): Promise<BurstRun<S>> {
  const { namespace } = writer;
  // With `untilReached`, an access holds its place among those in flight until the observer sees it
  // reach the milestone, whoever does the work. The operator's creates answer at once: without it
  // its whole burst would wait in its work queue together, timed from the create, where the plain
  // client's accesses wait for a free place before they start (and before their clocks do).
  const observed = async (milestone: Milestone, send: (name: string) => Promise<unknown>, untilReached: boolean) => {
    const observer = await observe(admin.kubeconfigPath, namespace);
    const placeHeld = async (name: string) => {
      await send(name);
      await observer.arrival(name, milestone);
    };
    try {
      return await timeBurst(names, untilReached ? placeHeld : send, observer, milestone);
    } finally {
      await observer.stop();
    }
  };
  const before = await sample();
  const issued = await observed('ready', (name) => writer.issue(name), true);
  const held = await sample();
  await checkIssued(admin, namespace, names);
  let deleting = held;
  if (whileHeld) {
    await whileHeld();
    deleting = await sample();
  }
  // Deleted at once (32 requests in flight), as a workspace platform winding down would.
  const deleted = await observed('gone', (name) => writer.delete(name), false);
  const after = await sample();
  await checkGone(admin, namespace, names);
  return { issued, deleted, samples: { before, held, deleting, after } };
}

async function listed(admin: Clients, namespace: string) {
  const [accesses, secrets] = await Promise.all([
    admin.custom.listNamespacedCustomObject({ group: GROUP, version: VERSION, plural: ACCESS_PLURAL, namespace }) as Promise<{ items: WorkspaceNatsAccess[] }>,
    admin.core.listNamespacedSecret({ namespace, labelSelector: ACCESS_NAME_LABEL }),
  ]);
  const secretOf = (secret: V1Secret) => secret.metadata?.labels?.[ACCESS_NAME_LABEL] ?? '';
  return { accesses: accesses.items, secretsFor: new Set(secrets.items.map(secretOf)) };
}

/** Fails unless every one of `names` is Ready=True and has its Secret, as the API server lists them. */
async function checkIssued(admin: Clients, namespace: string, names: readonly string[]): Promise<void> {
  const { accesses, secretsFor } = await listed(admin, namespace);
  const ready = new Set(accesses.filter(isReady).map((access) => access.metadata.name));
  const broken = names.filter((name) => !ready.has(name) || !secretsFor.has(name));
  if (broken.length > 0) {
    throw new Error(`${broken.length} of ${names.length} accesses in ${namespace} are not Ready with a Secret: ${broken.slice(0, 5).join(', ')}`);
  }
}

/** Fails if any of `names`, or a Secret of one, is still there. */
async function checkGone(admin: Clients, namespace: string, names: readonly string[]): Promise<void> {
  const { accesses, secretsFor } = await listed(admin, namespace);
  const left = new Set(accesses.map((access) => access.metadata.name));
  const remaining = names.filter((name) => left.has(name) || secretsFor.has(name));
  if (remaining.length > 0) {
    throw new Error(`${remaining.length} of ${names.length} accesses in ${namespace}, or their Secrets, remain after deletion: ${remaining.slice(0, 5).join(', ')}`);
  }
}
