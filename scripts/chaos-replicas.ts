// Two (or more) leader-elected operator replicas, kept running as a Deployment would: a replica that
// exits (killed by the chaos run, or giving up a lease it could not renew) is started again after
// a second. Who leads is read from the Lease itself, never from the replicas' logs; each process
// gets its own identity (POD_NAME), so the Lease names the very process that holds it.

import { CoordinationV1Api, type KubeConfig, type V1Lease } from '@kubernetes/client-node';
import { appendFileSync } from 'node:fs';
import { join } from 'node:path';
import { startProcess, type ManagedProcess } from '../test/env/processes.ts';

const MAIN = join(import.meta.dirname, '..', 'src', 'cli', 'main.ts');
/** The Lease the operator elects its leader with (src/cli/main.ts). */
const LEASE = 'workspace-nats-operator';
/** How often a candidate tries the Lease (src/kube/leader-election.ts's default). */
export const RETRY_PERIOD_MS = 2000;
const RESTART_DELAY_MS = 1000;

export interface ReplicaOptions {
  count: number;
  kubeconfig: string;
  /** The operator's namespace (where the Lease lives). */
  namespace: string;
  serves: string[];
  /** Folder for the replicas' logs (one file per slot, kept across restarts). */
  dir: string;
  /** Admin access, to read the Lease. */
  adminKubeConfig: KubeConfig;
  logLevel: string;
}

export interface Failover {
  /** From the SIGKILL to another replica holding the Lease. */
  ms: number;
  killedAt: number;
  leaseDurationMs: number;
  from: string;
  to: string;
  /**
   * The successor's process started after the kill: it had never seen the Lease renewed, so it
   * waits a whole lease from its own first look, and the takeover time says nothing of the lease.
   */
  successorStartedLater: boolean;
}

interface Slot {
  process: ManagedProcess | undefined;
  identity: string;
  startedAt: number;
  logFile: string;
}

export class Replicas {
  private readonly options: ReplicaOptions;
  private readonly slots: Slot[];
  private readonly coordination: CoordinationV1Api;
  private supervising = false;
  private started = 0;
  /** Exits the chaos run did not cause (a replica that lost its lease exits by design). */
  unexpectedExits: string[] = [];

  constructor(options: ReplicaOptions) {
    this.options = options;
    this.coordination = options.adminKubeConfig.makeApiClient(CoordinationV1Api);
    this.slots = Array.from({ length: options.count }, (_, i) => ({ process: undefined, identity: '', startedAt: 0, logFile: join(options.dir, `operator-${i}.log`) }));
  }

  /** Starts every replica, and starts again any that exits, until stop(). */
  start(): void {
    this.supervising = true;
    for (let i = 0; i < this.slots.length; i++) this.launch(i);
  }

  get logFiles(): string[] {
    return this.slots.map((slot) => slot.logFile);
  }

  /** The Lease as the API server has it, or undefined if it cannot be read now. */
  async lease(): Promise<V1Lease | undefined> {
    try {
      return await this.coordination.readNamespacedLease({ name: LEASE, namespace: this.options.namespace });
    } catch {
      return undefined;
    }
  }

  /** The slot whose current process holds the Lease, if any. */
  async leaderSlot(): Promise<number | undefined> {
    const holder = (await this.lease())?.spec?.holderIdentity;
    const slot = this.slots.findIndex((s) => s.identity === holder && s.process?.isRunning());
    return slot >= 0 ? slot : undefined;
  }

  /** Waits until a running replica of ours holds the Lease; returns its slot. */
  async waitForLeader(timeoutMs: number): Promise<number> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const slot = await this.leaderSlot();
      if (slot !== undefined) return slot;
      if (Date.now() > deadline) throw new Error(`no replica holds the Lease ${this.options.namespace}/${LEASE} after ${timeoutMs} ms`);
      await new Promise((resolve) => setTimeout(resolve, 200));
    }
  }

  /**
   * SIGKILLs replica `slot` (the supervisor starts it again) and waits until it is gone. If it led,
   * returns the wait for another process to hold the Lease (wrapped, so that the caller may await it
   * later).
   */
  async kill(slot: number, timeoutMs: number): Promise<{ takeover: Promise<Failover> } | undefined> {
    const lease = await this.lease();
    const victim = this.slots[slot];
    if (!victim?.process?.isRunning()) return undefined;
    const { identity } = victim;
    const led = lease?.spec?.holderIdentity === identity;
    const killedAt = Date.now();
    this.note(slot, `chaos: SIGKILL (${led ? 'leader' : 'follower'})`);
    process.kill(victim.process.pid, 'SIGKILL');
    await victim.process.exited;
    return led ? { takeover: this.takeover(identity, killedAt, (lease?.spec?.leaseDurationSeconds ?? 0) * 1000, timeoutMs) } : undefined;
  }

  private async takeover(from: string, killedAt: number, leaseDurationMs: number, timeoutMs: number): Promise<Failover> {
    for (;;) {
      const to = (await this.lease())?.spec?.holderIdentity;
      if (to && to !== from) {
        const successor = this.slots.find((s) => s.identity === to);
        const successorStartedLater = !successor || successor.startedAt > killedAt;
        return { ms: Date.now() - killedAt, killedAt, leaseDurationMs, from, to, successorStartedLater };
      }
      if (Date.now() > killedAt + timeoutMs) throw new Error(`no replica took the Lease over from ${from} within ${timeoutMs} ms`);
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  }

  /** Stops every replica (SIGTERM: they release the Lease) and starts none again. */
  async stop(): Promise<void> {
    this.supervising = false;
    await Promise.all(this.slots.map((slot) => slot.process?.stop()));
  }

  private launch(i: number): void {
    const slot = this.slots[i]!;
    slot.identity = `chaos-operator-${i}-${++this.started}`;
    slot.startedAt = Date.now();
    this.note(i, `chaos: starting ${slot.identity}`);
    const child = startProcess({
      name: slot.identity,
      command: process.execPath,
      args: [MAIN, 'run', '--kubeconfig', this.options.kubeconfig, '--namespace', this.options.namespace, '--namespaces', this.options.serves.join(','), '--leader-elect', '--log-level', this.options.logLevel],
      env: { POD_NAME: slot.identity },
      logFile: slot.logFile,
    });
    slot.process = child;
    void child.exited.then(({ code, signal }) => {
      if (!this.supervising) return;
      if (signal !== 'SIGKILL') this.unexpectedExits.push(`${slot.identity} exited (${signal ?? `code ${code}`})`);
      setTimeout(() => {
        if (this.supervising) this.launch(i);
      }, RESTART_DELAY_MS);
    });
  }

  /** A line of our own in the replica's log, so that its log reads with the faults in place. */
  private note(i: number, text: string): void {
    appendFileSync(this.slots[i]!.logFile, `${JSON.stringify({ time: Date.now(), chaos: text })}\n`);
  }
}
