// Lease-based leader election, as client-go does it, so that of several operator replicas exactly
// one reconciles at a time. Written here because @kubernetes/client-node has none.
//
// A candidate takes the Lease when it is free, released, or not renewed for leaseDuration; the
// leader renews it every retryPeriod, and gives up (the process should exit) when it could not
// renew for renewDeadline. Expiry is judged by this process's own clock from the moment it saw the
// Lease last change, never by the other holder's timestamps, so clock skew between nodes is harmless.

import type { CoordinationV1Api, V1Lease } from '@kubernetes/client-node';
import { systemClock, type Clock } from '../api/clock.ts';
import type { Logger } from '../log.ts';
import { describeError, isConflict, isNotFound } from './errors.ts';

export interface LeaderElectionOptions {
  coordination: CoordinationV1Api;
  namespace: string;
  name: string;
  /** Unique per process: the pod name, or host name and pid. */
  identity: string;
  leaseDurationMs?: number;
  renewDeadlineMs?: number;
  retryPeriodMs?: number;
  log: Logger;
  clock?: Clock;
}

/** What the Lease said when this process last saw it change, and when that was. */
interface Observation {
  holder: string;
  resourceVersion: string;
  observedAtMs: number;
}

/** True when `holder`'s claim, unchanged since `observedAtMs`, may be taken over at `nowMs`. */
export function leaseExpired(observation: Observation | undefined, leaseDurationMs: number, nowMs: number): boolean {
  return !observation || observation.holder === '' || observation.observedAtMs + leaseDurationMs <= nowMs;
}

/** Lease times are MicroTime: RFC 3339 with exactly six fractional digits. */
const microTime = (date: Date) => date.toISOString().replace(/Z$/, '000Z') as unknown as Date;

const sleep = (ms: number, signal?: AbortSignal) =>
  new Promise<void>((resolve) => {
    const timer = setTimeout(resolve, ms);
    signal?.addEventListener('abort', () => (clearTimeout(timer), resolve()), { once: true });
  });

export class LeaderElector {
  private readonly options: Required<LeaderElectionOptions>;
  private observation: Observation | undefined;
  private renewing: NodeJS.Timeout | undefined;
  private deadline: NodeJS.Timeout | undefined;
  /** When the request of the last successful acquire or renewal was sent. */
  private lastRenewMs = 0;

  constructor(options: LeaderElectionOptions) {
    this.options = { leaseDurationMs: 15_000, renewDeadlineMs: 10_000, retryPeriodMs: 2_000, clock: systemClock, ...options };
  }

  /** Resolves once this process holds the Lease (false if `signal` aborted first). */
  async acquire(signal?: AbortSignal): Promise<boolean> {
    const { log, identity, retryPeriodMs } = this.options;
    let waitingLogged = false;
    while (!signal?.aborted) {
      if (await this.tryAcquireOrRenew()) {
        log.info({ identity, lease: this.leaseName() }, 'became leader');
        return true;
      }
      if (!waitingLogged) {
        log.info({ holder: this.observation?.holder, lease: this.leaseName() }, 'waiting for the leader lease');
        waitingLogged = true;
      }
      await sleep(retryPeriodMs, signal);
    }
    return false;
  }

  /**
   * Renews every retryPeriod; calls `onLost` once when another holder is seen, or when no renewal
   * succeeded for renewDeadline. The deadline is a timer of its own, so a request that hangs (a
   * partitioned API server) cannot keep this process leading past it.
   */
  keepRenewing(onLost: () => void): void {
    const { retryPeriodMs, renewDeadlineMs, log } = this.options;
    let lost = false;
    const lose = () => {
      if (lost) return;
      lost = true;
      clearTimeout(this.renewing);
      clearTimeout(this.deadline);
      log.error({ lease: this.leaseName(), holder: this.observation?.holder }, 'lost the leader lease');
      onLost();
    };
    const armDeadline = (renewStartedMs: number) => {
      clearTimeout(this.deadline);
      this.deadline = setTimeout(lose, Math.max(renewStartedMs + renewDeadlineMs - this.options.clock().getTime(), 0));
    };
    const renew = async () => {
      const held = await this.tryAcquireOrRenew();
      if (lost) return;
      if (held) armDeadline(this.lastRenewMs);
      else if (this.observation?.holder !== this.options.identity) return lose();
      this.renewing = setTimeout(() => void renew(), retryPeriodMs);
    };
    armDeadline(this.lastRenewMs);
    this.renewing = setTimeout(() => void renew(), retryPeriodMs);
  }

  /** Stops renewing and frees the Lease, so another replica takes over at once. */
  async release(): Promise<void> {
    clearTimeout(this.renewing);
    clearTimeout(this.deadline);
    const { coordination, namespace, name, identity, log } = this.options;
    try {
      const lease = await coordination.readNamespacedLease({ name, namespace });
      if (lease.spec?.holderIdentity !== identity) return;
      lease.spec = { ...lease.spec, holderIdentity: '', renewTime: microTime(this.options.clock()), leaseDurationSeconds: 1 };
      await coordination.replaceNamespacedLease({ name, namespace, body: lease });
      log.info({ lease: this.leaseName() }, 'released the leader lease');
    } catch (error) {
      log.warn({ lease: this.leaseName(), error: describeError(error) }, 'could not release the leader lease');
    }
  }

  private leaseName(): string {
    return `${this.options.namespace}/${this.options.name}`;
  }

  /** One round of client-go's tryAcquireOrRenew: true if this process holds the Lease now. */
  private async tryAcquireOrRenew(): Promise<boolean> {
    const { coordination, namespace, name, identity, leaseDurationMs, log } = this.options;
    const now = this.options.clock();
    // Our claim runs from when we asked, not from when the answer came.
    const requestedMs = now.getTime();
    const spec = (previous?: V1Lease['spec']): V1Lease['spec'] => {
      const changingHands = previous?.holderIdentity !== identity;
      return {
        holderIdentity: identity,
        leaseDurationSeconds: Math.ceil(leaseDurationMs / 1000),
        renewTime: microTime(now),
        acquireTime: changingHands || !previous?.acquireTime ? microTime(now) : previous.acquireTime,
        leaseTransitions: (previous?.leaseTransitions ?? 0) + (changingHands && previous ? 1 : 0),
      };
    };
    try {
      let lease: V1Lease;
      try {
        lease = await coordination.readNamespacedLease({ name, namespace });
      } catch (error) {
        if (!isNotFound(error)) throw error;
        const created = await coordination.createNamespacedLease({ namespace, body: { metadata: { name, namespace }, spec: spec() } });
        // Remembered as for a replace: a renewal that fails must not read as another holder's lease.
        this.observation = { holder: identity, resourceVersion: created.metadata?.resourceVersion ?? '', observedAtMs: this.options.clock().getTime() };
        this.lastRenewMs = requestedMs;
        return true;
      }
      const holder = lease.spec?.holderIdentity ?? '';
      const resourceVersion = lease.metadata?.resourceVersion ?? '';
      if (this.observation?.resourceVersion !== resourceVersion) {
        this.observation = { holder, resourceVersion, observedAtMs: this.options.clock().getTime() };
      }
      if (holder !== identity && !leaseExpired(this.observation, leaseDurationMs, this.options.clock().getTime())) return false;
      lease.spec = spec(lease.spec);
      const updated = await coordination.replaceNamespacedLease({ name, namespace, body: lease });
      this.observation = { holder: identity, resourceVersion: updated.metadata?.resourceVersion ?? '', observedAtMs: this.options.clock().getTime() };
      this.lastRenewMs = requestedMs;
      return true;
    } catch (error) {
      // Someone else wrote the Lease between our read and write: they won this round.
      if (!isConflict(error)) log.warn({ lease: this.leaseName(), error: describeError(error) }, 'leader lease request failed');
      return false;
    }
  }
}
