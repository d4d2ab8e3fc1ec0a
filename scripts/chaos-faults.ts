// Carries out a round's faults, one after another: SIGKILL of the leading (or any) operator
// replica, timed until another replica holds the Lease (in the background: the next faults strike
// while nobody leads); nats-server restarts, some with an empty resolver directory (the account JWT
// and its revocations gone from that server); and API server restarts, graceful or SIGKILL. Each
// fault returns once its component is back (the replicas' supervisor restarts killed ones).

import type { KubeEnv } from '../test/env/kube.ts';
import type { NatsEnv } from '../test/env/nats.ts';
import { describeFault, type RoundPlan } from './chaos-plan.ts';
import type { Failover, Replicas } from './chaos-replicas.ts';

export interface FaultContext {
  kube: KubeEnv;
  nats: NatsEnv;
  replicas: Replicas;
  log: (line: string) => void;
}

export interface JudgedFailover extends Failover {
  /** Why its time says nothing about the lease, if it does not. */
  unjudged?: string;
}

/** Longest wait for a leader or a takeover: well past any lease, so that a slow one is measured, not cut. */
const LEADER_WAIT_MS = 90_000;
/** How often the leader renews and a follower polls (src/kube/leader-election.ts's default). */
const RETRY_PERIOD_MS = 2_000;
/**
 * How long before a kill the API server must have been back for the failover to be judged. The
 * successor sees the leader's last renewal (up to a retry period before the kill) on time only
 * through its watch of the Lease; after an outage that watch is restarted within a retry period
 * of the server's return (and then lists, a moment). Until it is, the follower's polls see
 * renewals up to a retry period late: a failover slower by as much, by design.
 */
const WATCH_BACK_MS = 2 * RETRY_PERIOD_MS + 1_000;

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Runs the faults; resolves once all are over and every killed leader has a successor. */
export async function runFaults(plan: RoundPlan, context: FaultContext, roundStart: number): Promise<JudgedFailover[]> {
  const { kube, nats, replicas, log } = context;
  const at = () => `${((Date.now() - roundStart) / 1000).toFixed(1)} s`;
  const takeovers: Promise<Failover>[] = [];
  /**
   * When the API server was down: a takeover needs it, so a failover overlapping these is not
   * judged, nor one that began less than WATCH_BACK_MS after one.
   */
  const apiserverDown: [number, number][] = [];
  const leaderKill = async (killed: { takeover: Promise<Failover> } | undefined) => {
    if (!killed) return;
    takeovers.push(killed.takeover);
    const { to, from, ms } = await killed.takeover;
    log(`  ${at()}: ${to} took the Lease over from ${from}, ${(ms / 1000).toFixed(1)} s after the kill`);
  };
  const announced: Promise<void>[] = [];
  const announce = (killing: Promise<void>) => {
    killing.catch(() => undefined); // awaited after the last fault; this only avoids an unhandled-rejection crash meanwhile
    announced.push(killing);
  };
  await sleep(plan.firstFaultMs);
  for (const [i, { gapMs, fault }] of plan.faults.entries()) {
    if (i > 0) await sleep(gapMs);
    log(`  ${at()}: ${describeFault(fault)}`);
    switch (fault.kind) {
      case 'kill-leader': {
        const killing = leaderKill(await replicas.kill(await replicas.waitForLeader(LEADER_WAIT_MS), LEADER_WAIT_MS));
        if (fault.awaitTakeover) await killing;
        announce(killing);
        break;
      }
      case 'kill-replica':
        announce(leaderKill(await replicas.kill(fault.slot, LEADER_WAIT_MS)));
        break;
      case 'restart-nats':
        await Promise.all(fault.nodes.map((node) => nats.stopNode(node)));
        await sleep(fault.downMs);
        for (const node of fault.nodes) await nats.startNode(node, { wipeResolver: fault.wipe });
        break;
      case 'restart-apiserver': {
        const window: [number, number] = [Date.now(), Infinity];
        apiserverDown.push(window);
        await kube.restartApiserver(fault.downMs, { kill: fault.kill });
        window[1] = Date.now();
        break;
      }
    }
  }
  await Promise.all(announced);
  const failovers = await Promise.all(takeovers);
  return failovers.map((failover) => {
    const end = failover.killedAt + failover.ms;
    const overlapped = apiserverDown.some(([from, to]) => from < end && to + WATCH_BACK_MS > failover.killedAt);
    if (overlapped) return { ...failover, unjudged: 'the API server restarted meanwhile, or just before' };
    if (failover.successorLookedLater) return { ...failover, unjudged: 'its successor first looked at the Lease after the kill' };
    return failover;
  });
}
