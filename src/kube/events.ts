// Kubernetes Events about the objects this operator manages, so `kubectl describe` shows what
// happened and why. Messages are written by the controller and never carry secret material.

import type { CoreV1Api, KubernetesObject } from '@kubernetes/client-node';
import { systemClock, type Clock } from '../api/clock.ts';
import type { Logger } from '../log.ts';
import { describeError } from './errors.ts';

export type EventType = 'Normal' | 'Warning';

export interface EventRecorder {
  record(object: KubernetesObject, type: EventType, reason: string, message: string): Promise<void>;
}

export const COMPONENT = 'workspace-nats-operator';

export class ApiEventRecorder implements EventRecorder {
  private readonly core: CoreV1Api;
  private readonly log: Logger;
  private readonly instance: string;
  /** Where Events about cluster-scoped objects go: the operator's own namespace. */
  private readonly clusterEventsNamespace: string;

  private readonly clock: Clock;

  constructor(core: CoreV1Api, log: Logger, instance: string, clusterEventsNamespace: string, clock: Clock = systemClock) {
    this.clock = clock;
    this.core = core;
    this.log = log;
    this.instance = instance;
    this.clusterEventsNamespace = clusterEventsNamespace;
  }

  /** Records an Event; a failure is logged, not thrown: events are best effort. */
  async record(object: KubernetesObject, type: EventType, reason: string, message: string) {
    const { metadata } = object;
    // kubectl describe finds Events of cluster-scoped objects in any namespace; the operator's
    // own is the one it may always write to.
    const namespace = metadata?.namespace ?? this.clusterEventsNamespace;
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
          firstTimestamp: now,
          lastTimestamp: now,
          count: 1,
        },
      });
    } catch (error) {
      this.log.warn({ reason, object: metadata?.name, error: describeError(error) }, 'event not recorded');
    }
  }
}
