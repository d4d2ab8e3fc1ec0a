// Kubernetes Events about the objects this operator manages, so `kubectl describe` shows what
// happened and why. Messages are written by the controller and never carry secret material.

import type { KubernetesObject } from '@kubernetes/client-node';
import type { CoreApi } from './api.ts';
import { systemClock, type Clock } from '../api/clock.ts';
import type { Logger } from '../log.ts';
import { describeError } from './errors.ts';

export type EventType = 'Normal' | 'Warning';

export interface EventSeries {
  count: number;
  /** When the first of them happened. */
  since: Date;
}

export interface EventRecorder {
  /** `series`: how many occurrences the Event stands for, since when (aggregated ones; default: this one). */
  record(object: KubernetesObject, type: EventType, reason: string, message: string, series?: EventSeries): Promise<void>;
}

export const COMPONENT = 'workspace-nats-operator';

/** Where Events about cluster-scoped objects (issuers) go; RBAC grants creating Events there. */
export const CLUSTER_EVENTS_NAMESPACE = 'default';

export class ApiEventRecorder implements EventRecorder {
  private readonly core: CoreApi;
  private readonly log: Logger;
  private readonly instance: string;
  private readonly clock: Clock;

  constructor(core: CoreApi, log: Logger, instance: string, clock: Clock = systemClock) {
    this.core = core;
    this.log = log;
    this.instance = instance;
    this.clock = clock;
  }

  /** Records an Event; a failure is logged, not thrown: events are best effort. */
  async record(object: KubernetesObject, type: EventType, reason: string, message: string, series?: EventSeries) {
    const { metadata } = object;
    // The API server takes an Event about a cluster-scoped object only in "default" (where
    // Kubernetes puts those about nodes): its namespace must match the object's, which has none.
    const namespace = metadata?.namespace ?? CLUSTER_EVENTS_NAMESPACE;
    const now = this.clock();
    try {
      await this.core.createNamespacedEvent({
        namespace,
        body: {
          metadata: { generateName: `${metadata?.name ?? 'object'}.`, namespace },
          involvedObject: {
            apiVersion: object.apiVersion,
            kind: object.kind,
            name: metadata?.name,
            namespace: metadata?.namespace,
            uid: metadata?.uid,
            resourceVersion: metadata?.resourceVersion,
          },
          type,
          reason,
          message: message.slice(0, 1024),
          source: { component: COMPONENT },
          reportingComponent: COMPONENT,
          reportingInstance: this.instance,
          firstTimestamp: series?.since ?? now,
          lastTimestamp: now,
          count: series?.count ?? 1,
        },
      });
    } catch (error) {
      this.log.warn({ reason, object: metadata?.name, error: describeError(error) }, 'event not recorded');
    }
  }
}
