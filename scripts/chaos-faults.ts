// Carries out a round's faults, one after another: SIGKILL of the leading (or any) operator
// replica, timed until another replica holds the Lease; nats-server restarts, some with an empty
// resolver directory (the account JWT and its revocations gone from that server); and API server
// restarts. Each returns once the component is back (the replicas' supervisor restarts killed ones).

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

export interface FaultRecord {
  description: string;
  /** Since the round began. */
  atMs: number;
  tookMs: number;
  failover?: Failover;
}

/** Longest wait for a leader or a takeover: well past any lease, so that a slow one is measured, not cut. */
const LEADER_WAIT_MS = 90_000;

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

export async function runFaults(plan: RoundPlan, context: FaultContext, roundStart: number): Promise<FaultRecord[]> {
  const { kube, nats, replicas, log } = context;
  const records: FaultRecord[] = [];
  await sleep(plan.firstFaultMs);
  for (const [i, { gapMs, fault }] of plan.faults.entries()) {
    if (i > 0) await sleep(gapMs);
    const started = Date.now();
    const record: FaultRecord = { description: describeFault(fault), atMs: started - roundStart, tookMs: 0 };
    log(`  ${(record.atMs / 1000).toFixed(1)} s: ${record.description}`);
    switch (fault.kind) {
      case 'kill-leader': {
        const slot = await replicas.waitForLeader(LEADER_WAIT_MS);
        const failover = await replicas.kill(slot, LEADER_WAIT_MS);
        if (failover) record.failover = failover;
        break;
      }
      case 'kill-replica': {
        const failover = await replicas.kill(fault.slot, LEADER_WAIT_MS);
        if (failover) record.failover = failover;
        break;
      }
      case 'restart-nats':
        await Promise.all(fault.nodes.map((node) => nats.stopNode(node)));
        await sleep(fault.downMs);
        for (const node of fault.nodes) await nats.startNode(node, { wipeResolver: fault.wipe });
        break;
      case 'restart-apiserver':
        await kube.restartApiserver(fault.downMs);
        break;
    }
    record.tookMs = Date.now() - started;
    if (record.failover) {
      const { ms, from, to } = record.failover;
      log(`  ${((Date.now() - roundStart) / 1000).toFixed(1)} s: ${to} took the Lease over from ${from}, ${(ms / 1000).toFixed(1)} s after the kill`);
    }
    records.push(record);
  }
  return records;
}
