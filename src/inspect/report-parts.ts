// Parts both reports of `inspect` share: the Ready condition as shown, and a NATS section that is
// either what the servers said or why they could not be asked. Pure.

import type { Result } from '../api/failure.ts';
import type { Condition } from '../api/workspace-nats-access.ts';

export interface ConditionView {
  status: string;
  reason: string;
  message: string;
  since?: string;
}

export function conditionView(conditions: readonly Condition[] | undefined): ConditionView | undefined {
  const ready = conditions?.find((condition) => condition.type === 'Ready');
  if (!ready) return undefined;
  return { status: ready.status, reason: ready.reason, message: ready.message, ...(ready.lastTransitionTime ? { since: ready.lastTransitionTime } : {}) };
}

/** Parsed as JSON by scripts: `reachable` says which of the two shapes it is. */
export type NatsSection<T> = ({ reachable: true } & T) | { reachable: false; error: string };

export function natsSection<R, T>(read: Result<R>, view: (reading: R) => T): NatsSection<T> {
  return read.ok ? { reachable: true, ...view(read.value) } : { reachable: false, error: read.message };
}
