// Lease-based leader election, as client-go does it, so that of several operator replicas exactly
// one reconciles at a time. Written here because @kubernetes/client-node has none.
//
// A candidate takes the Lease when it is free, released, or not renewed for leaseDuration; the
// leader renews it every retryPeriod, and gives up (the process should exit) when it could not
// renew for renewDeadline. Expiry is judged by this process's own clock from the moment it saw the
// Lease last change, never by the other holder's timestamps, so clock skew between nodes is harmless.
//
// Unlike client-go's, a candidate also watches the Lease: it sees each renewal within milliseconds
// rather than at its next poll, and tries at the very moment the claim it saw runs out. So a leader
// that dies is replaced a lease duration after its last renewal (plus the take-over's round trips),
// not up to two retry periods later. Seeing renewals sooner cannot make a take-over early: nobody
// sees a renewal before it is written, so nobody takes over sooner than leaseDuration after the
// leader sent its last one, and the leader gives up renewDeadline after sending it, well before.
// The candidate still polls every retryPeriod, which covers a watch that is down (an API server
// restart) or stalled.

import type { V1Lease } from '@kubernetes/client-node';
import { systemClock, type Clock } from '../api/clock.ts';
import type { Logger } from '../log.ts';
import type { CoordinationApi, KubeClient } from './api.ts';
import { describeError, isConflict, isNotFound } from './errors.ts';
import { ResilientInformer } from './informer.ts';

/**
 * Starts watching one Lease: `onChange` gets it at each change (undefined once deleted), until
 * stop(). A watch that fails is started again within `maxRestartDelayMs`.
 */
export type LeaseWatcher = (
  lease: { namespace: string; name: string; maxRestartDelayMs: number },
  onChange: (lease: V1Lease | undefined) => void,
) => { stop(): Promise<void> };

export interface LeaderElectionOptions {
  coordination: CoordinationApi;
  namespace: string;
  name: string;
  /** Unique per process: the pod name, or host name and pid. */
  identity: string;
  leaseDurationMs?: number;
  renewDeadlineMs?: number;
  retryPeriodMs?: number;
  /** How a candidate watches the Lease (leaseInformer); without one, it only polls. */
  watchLease?: LeaseWatcher;
  log: Logger;
  clock?: Clock;
}

/** What the Lease said when this process last saw it change, and when that was. */
interface Observation {
  holder: string;
  resourceVersion: string;
  observedAtMs: number;
}

/**
 * How many of the Lease's latest resourceVersions are remembered: enough that an answer arriving
 * late is known as old (see observe), when the Lease changes about once a retry period.
 */
const REMEMBERED_VERSIONS = 16;

/** When the claim seen may be taken over, by this process's clock (-Infinity: nobody holds it). */
export function leaseExpiresAtMs(observation: Observation | undefined, leaseDurationMs: number): number {
  return !observation || observation.holder === '' ? -Infinity : observation.observedAtMs + leaseDurationMs;
}

/** True when `holder`'s claim, unchanged since `observedAtMs`, may be taken over at `nowMs`. */
export function leaseExpired(observation: Observation | undefined, leaseDurationMs: number, nowMs: number): boolean {
  return leaseExpiresAtMs(observation, leaseDurationMs) <= nowMs;
}

/** A LeaseWatcher that keeps an informer on the one Lease (restarted after every error). */
export function leaseInformer(client: KubeClient, log: Logger): LeaseWatcher {
  return ({ namespace, name, maxRestartDelayMs }, onChange) => {
    const informer = new ResilientInformer<V1Lease>(client, {
      name: `lease ${namespace}/${name}`,
      path: `/apis/coordination.k8s.io/v1/namespaces/${namespace}/leases`,
      fieldSelector: `metadata.name=${name}`,
      maxRestartDelayMs,
      log,
      onChange: (lease, type) => onChange(type === 'delete' ? undefined : lease),
    });
    // Not awaited: it resolves only once listed, and the candidate polls meanwhile.
    void informer.start();
    return informer;
  };
}

/** Lease times are MicroTime: RFC 3339 with exactly six fractional digits. */
const microTime = (date: Date) => date.toISOString().replace(/Z$/, '000Z') as unknown as Date;

export class LeaderElector {
  private readonly options: Required<Omit<LeaderElectionOptions, 'watchLease'>> & Pick<LeaderElectionOptions, 'watchLease'>;
  private observation: Observation | undefined;
  /** The Lease's resourceVersions seen last, the newest last. */
  private seenVersions: string[] = [];
  /** Set while a candidate waits: takes the next try's time from the latest observation. */
  private wake: (() => void) | undefined;
  private renewing: NodeJS.Timeout | undefined;
  private deadline: NodeJS.Timeout | undefined;
  /** When the request of the last successful acquire or renewal was sent. */
  private lastRenewMs = 0;

  constructor(options: LeaderElectionOptions) {
    this.options = { leaseDurationMs: 15_000, renewDeadlineMs: 10_000, retryPeriodMs: 2_000, clock: systemClock, ...options };
  }

  /** Resolves once this process holds the Lease (false if `signal` aborted first). */
  async acquire(signal?: AbortSignal): Promise<boolean> {
    const { log, identity, namespace, name, watchLease, retryPeriodMs } = this.options;
    let waitingLogged = false;
    let waiting = true;
    let watch: { stop(): Promise<void> } | undefined;
    try {
      while (!signal?.aborted) {
        if (await this.tryAcquireOrRenew()) {
          log.info({ identity, lease: this.leaseName() }, 'became leader');
          return true;
        }
        if (!waitingLogged) {
          log.info({ holder: this.observation?.holder, lease: this.leaseName() }, 'waiting for the leader lease');
          waitingLogged = true;
        }
        // Started once the Lease is found held, so a replica that leads at once never watches. After
        // a failure (an API server restart) it backs off to a retry period at most: a relist costs
        // about what a poll does, and once it is back, renewals are seen on time again.
        watch ??= watchLease?.({ namespace, name, maxRestartDelayMs: retryPeriodMs }, (lease) => {
          if (waiting) this.observe(lease);
        });
        await this.untilNextTry(signal);
      }
      return false;
    } finally {
      waiting = false;
      await watch?.stop();
    }
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

  /**
   * Waits for the next try: the moment the claim last seen runs out (moved by each change the watch
   * brings), or a retryPeriod from now, the poll that stands in for a watch that is down, whichever
   * comes first. An expiry the last try already acted on (it lost the race, or the request failed)
   * waits for the poll, so that an API server that is down is not asked in a loop.
   */
  private untilNextTry(signal?: AbortSignal): Promise<void> {
    const { clock, leaseDurationMs, retryPeriodMs } = this.options;
    const triedMs = clock().getTime();
    const tried = this.observation;
    const pollMs = triedMs + retryPeriodMs;
    return new Promise((resolve) => {
      let timer: NodeJS.Timeout | undefined;
      const done = () => {
        clearTimeout(timer);
        this.wake = undefined;
        signal?.removeEventListener('abort', done);
        resolve();
      };
      this.wake = () => {
        const expiresMs = leaseExpiresAtMs(this.observation, leaseDurationMs);
        const dueMs = this.observation !== tried || expiresMs > triedMs ? Math.min(expiresMs, pollMs) : pollMs;
        clearTimeout(timer);
        timer = setTimeout(done, Math.max(dueMs - clock().getTime(), 0));
      };
      if (signal?.aborted) return done();
      signal?.addEventListener('abort', done, { once: true });
      this.wake();
    });
  }

  /**
   * Takes in the Lease as a read, a write or the watch found it (undefined: deleted, so free).
   * Expiry runs from the first sight of each change, so a resourceVersion seen before is no change:
   * the same version again, or an older one arriving after a newer (a read answered just before a
   * renewal that the watch brought first). resourceVersions are compared for equality only, as the
   * API asks: they are opaque.
   */
  private observe(lease: V1Lease | undefined): void {
    if (lease) {
      const resourceVersion = lease.metadata?.resourceVersion ?? '';
      if (this.seenVersions.includes(resourceVersion)) return;
      this.seenVersions = [...this.seenVersions.slice(1 - REMEMBERED_VERSIONS), resourceVersion];
      this.observation = { holder: lease.spec?.holderIdentity ?? '', resourceVersion, observedAtMs: this.options.clock().getTime() };
    } else {
      this.observation = undefined;
    }
    this.wake?.();
  }

  private leaseName(): string {
    return `${this.options.namespace}/${this.options.name}`;
  }

  /** The Lease as the API server has it now, taken in by observe (undefined: there is none). */
  private async readLease(): Promise<V1Lease | undefined> {
    const { coordination, namespace, name } = this.options;
    try {
      const lease = await coordination.readNamespacedLease({ name, namespace });
      this.observe(lease);
      return lease;
    } catch (error) {
      if (isNotFound(error)) return undefined;
      throw error;
    }
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
      let lease = await this.readLease();
      // Answered before a change the watch brought first: asked again, for the version to write over.
      if (lease && lease.metadata?.resourceVersion !== this.observation?.resourceVersion) lease = await this.readLease();
      if (!lease) {
        const created = await coordination.createNamespacedLease({ namespace, body: { metadata: { name, namespace }, spec: spec() } });
        // Remembered as for a replace: a renewal that fails must not read as another holder's lease.
        this.observe(created);
        this.lastRenewMs = requestedMs;
        return true;
      }
      if (this.observation?.holder !== identity && !leaseExpired(this.observation, leaseDurationMs, this.options.clock().getTime())) return false;
      lease.spec = spec(lease.spec);
      const updated = await coordination.replaceNamespacedLease({ name, namespace, body: lease });
      this.observe(updated);
      this.lastRenewMs = requestedMs;
      return true;
    } catch (error) {
      // Someone else wrote the Lease between our read and write: they won this round.
      if (!isConflict(error)) log.warn({ lease: this.leaseName(), error: describeError(error) }, 'leader lease request failed');
      return false;
    }
  }
}
