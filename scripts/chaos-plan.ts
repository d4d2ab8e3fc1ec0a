// What one chaos round does, decided up front from the seeded generator alone (never from what
// happened), so that a seed replays the same plan: which accesses and GitPod workspaces are created
// and removed when, and which faults strike in which order. Pure.

import type { WorkspaceNatsBinding } from '../src/api/workspace-nats-binding.ts';
import { accessNameFor } from '../src/policy/bound-workspaces.ts';
import type { Random } from './chaos-random.ts';

/** The WorkspaceNatsBinding that binds the run's GitPod workspaces. */
export const BINDING = 'chaos';

/** A workspace of the run: a WorkspaceNatsAccess created directly, or a GitPod Workspace the binder serves. */
export interface Subject {
  kind: 'access' | 'gitpod';
  /** The workspace id (subjects ws.<id>.>). */
  workspaceId: string;
  /** The GitPod Workspace object's name (gitpod only). */
  instance?: string;
  /** The WorkspaceNatsAccess that serves it (named by the binder for gitpod). */
  accessName: string;
  round: number;
}

export type Removal = 'delete-access' | 'stop-workspace' | 'delete-workspace';

export interface Operation {
  atMs: number;
  action: 'create' | Removal;
  subject: Subject;
}

export type Fault =
  | { kind: 'kill-leader'; awaitTakeover: boolean }
  | { kind: 'kill-replica'; slot: number }
  | { kind: 'restart-nats'; nodes: number[]; wipe: boolean; downMs: number }
  | { kind: 'restart-apiserver'; downMs: number; kill: boolean };

export interface RoundPlan {
  round: number;
  /** In time order. */
  operations: Operation[];
  /**
   * Run one after another: the first after `firstFaultMs`, each next `gapMs` after the last ended
   * (a killed leader's successor is not waited for: faults strike while no replica leads, too).
   */
  faults: { gapMs: number; fault: Fault }[];
  firstFaultMs: number;
}

export const BURST_MS = 25_000;
export const REPLICAS = 2;

export function describeFault(fault: Fault): string {
  switch (fault.kind) {
    case 'kill-leader':
      return `SIGKILL the leader${fault.awaitTakeover ? ' (next fault after the takeover)' : ''}`;
    case 'kill-replica':
      return `SIGKILL replica ${fault.slot}`;
    case 'restart-nats':
      return `restart nats-server ${fault.nodes.join(',')}${fault.wipe ? ' with an empty resolver directory' : ''} (down ${fault.downMs} ms)`;
    case 'restart-apiserver':
      return `${fault.kill ? 'SIGKILL and restart' : 'restart'} kube-apiserver (down ${fault.downMs} ms)`;
  }
}

/** The round's plan; `live` are the subjects of earlier rounds not removed yet (some go now). */
export function planRound(random: Random, round: number, live: readonly Subject[], natsNodes: number): RoundPlan {
  const operations: Operation[] = [];
  const count = random.int(12, 30);
  for (let i = 0; i < count; i++) {
    const gitpod = random.chance(0.35);
    const id = `r${round}-${i}`;
    const subject: Subject = gitpod
      ? { kind: 'gitpod', workspaceId: `gp-${id}`, instance: `ws-${id}`, accessName: accessNameFor({ metadata: { name: BINDING } } as WorkspaceNatsBinding, `ws-${id}`), round }
      : { kind: 'access', workspaceId: `wna-${id}`, accessName: `wna-${id}`, round };
    const createdAt = random.int(0, Math.floor(BURST_MS * 0.7));
    operations.push({ atMs: createdAt, action: 'create', subject });
    // Some go again in the same burst: half of them at once (likely before or while the operator
    // issues), half once their credentials are likely out.
    if (random.chance(0.4)) {
      const after = random.chance(0.5) ? random.int(0, 1500) : random.int(5000, 15_000);
      operations.push({ atMs: createdAt + after, action: removalOf(random, subject), subject });
    }
  }
  for (const subject of live) {
    if (random.chance(0.3)) operations.push({ atMs: random.int(0, BURST_MS), action: removalOf(random, subject), subject });
  }
  operations.sort((a, b) => a.atMs - b.atMs);

  const restartNats = (): Fault => {
    const all = random.chance(0.4);
    const nodes = all ? Array.from({ length: natsNodes }, (_, i) => i) : [random.int(0, natsNodes - 1)];
    return { kind: 'restart-nats', nodes, wipe: random.chance(0.5), downMs: random.int(300, 3000) };
  };
  const others: Fault[] = [restartNats(), { kind: 'restart-apiserver', downMs: random.int(500, 6000), kill: random.chance(0.5) }];
  if (random.chance(0.5)) others.push({ kind: 'kill-replica', slot: random.int(0, REPLICAS - 1) });
  const ordered = random.shuffle(others);
  // The leader dies while the burst is still creating: first or second. Half the time the next
  // fault waits for the takeover, so that at least those failovers are timed undisturbed.
  ordered.splice(random.int(0, 1), 0, { kind: 'kill-leader', awaitTakeover: random.chance(0.5) });
  return {
    round,
    operations,
    faults: ordered.map((fault) => ({ gapMs: random.int(1000, 5000), fault })),
    firstFaultMs: random.int(2000, 8000),
  };
}

function removalOf(random: Random, subject: Subject): Removal {
  if (subject.kind === 'access') return 'delete-access';
  return random.chance(0.5) ? 'stop-workspace' : 'delete-workspace';
}
