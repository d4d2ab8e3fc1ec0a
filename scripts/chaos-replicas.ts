// Two (or more) leader-elected operator replicas, kept running as a Deployment would: a replica that
// exits (killed by the chaos run, or giving up a lease it could not renew) is started again after
// a second. Who leads is read from the Lease itself, never from the replicas' logs; each process
// gets its own identity (POD_NAME), so the Lease names the very process that holds it.

import { CoordinationV1Api, type KubeConfig, type V1Lease } from '@kubernetes/client-node';
import { appendFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { LEADER_LEASE } from '../test/env/operator.ts';
import { startProcess, type ManagedProcess } from '../test/env/processes.ts';

const MAIN = join(import.meta.dirname, '..', 'src', 'cli', 'main.ts');
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
   * The successor first found the Lease held only after the kill (or never: it found it free). It
   * had seen no renewal, so it waits a whole lease from its own first look, and the takeover time
   * says nothing of the lease. Judged by its log ("waiting for the leader lease"), not by when its
   * process started: a replica takes a second or more to start, and to look.
   */
  successorLookedLater: boolean;
}

interface Slot {
  process: ManagedProcess | undefined;
  identity: string;
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
    this.slots = Array.from({ length: options.count }, (_, i) => ({ process: undefined, identity: '', logFile: join(options.dir, `operator-${i}.log`) }));
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
      return await this.coordination.readNamespacedLease({ name: LEADER_LEASE, namespace: this.options.namespace });
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
      if (Date.now() > deadline) throw new Error(`no replica holds the Lease ${this.options.namespace}/${LEADER_LEASE} after ${timeoutMs} ms`);
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
        const ms = Date.now() - killedAt;
        const lookedAt = await this.firstLookAt(to);
        return { ms, killedAt, leaseDurationMs, from, to, successorLookedLater: lookedAt === undefined || lookedAt > killedAt };
      }
      if (Date.now() > killedAt + timeoutMs) throw new Error(`no replica took the Lease over from ${from} within ${timeoutMs} ms`);
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  }

  /**
   * When process `identity` first found the Lease held, by its log's clock (this machine's): the
   * line it logs then, after the note that started it. Undefined if it never did.
   */
  private async firstLookAt(identity: string): Promise<number | undefined> {
    const slot = this.slots.find((s) => s.identity === identity);
    const lines = slot ? (await readFile(slot.logFile, 'utf8').catch(() => '')).split('\n') : [];
    const started = lines.findIndex((l) => l.includes(`"chaos":"chaos: starting ${identity}"`));
    const waiting = started < 0 ? undefined : lines.slice(started).find((l) => l.includes('"msg":"waiting for the leader lease"'));
    return waiting ? (JSON.parse(waiting) as { time: number }).time : undefined;
  }

  /** Stops every replica (SIGTERM: they release the Lease) and starts none again. */
  async stop(): Promise<void> {
    this.supervising = false;
    await Promise.all(this.slots.map((slot) => slot.process?.stop()));
  }

  private launch(i: number): void {
    const slot = this.slots[i]!;
    slot.identity = `chaos-operator-${i}-${++this.started}`;
    this.note(i, `chaos: starting ${slot.identity}`);
    // No metrics port: the replicas share this machine, where only one could have the default 8080.
    const child = startProcess({
      name: slot.identity,
      command: process.execPath,
      args: [MAIN, 'run', '--kubeconfig', this.options.kubeconfig, '--namespace', this.options.namespace, '--namespaces', this.options.serves.join(','), '--leader-elect', '--log-level', this.options.logLevel, '--metrics-port', '0'],
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
