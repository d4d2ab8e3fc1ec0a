// Status conditions, as Kubernetes API conventions describe them: one entry per type, and a
// lastTransitionTime that moves only when the status itself changes. Pure.

import type { Condition } from '../api/workspace-nats-access.ts';
import { byCodeUnits } from '../api/order.ts';

export type ConditionUpdate = Omit<Condition, 'lastTransitionTime'>;

/** RFC 3339 in whole seconds, as Kubernetes writes timestamps. */
export const timestamp = (date: Date) => date.toISOString().replace(/\.\d{3}Z$/, 'Z');

export function setCondition(
  conditions: readonly Condition[] | undefined,
  update: ConditionUpdate,
  now: Date,
): Condition[] {
  const existing = conditions?.find((c) => c.type === update.type);
  const lastTransitionTime =
    existing && existing.status === update.status ? existing.lastTransitionTime : now.toISOString();
  const next: Condition = { ...update, lastTransitionTime };
  const others = (conditions ?? []).filter((c) => c.type !== update.type);
  return [...others, next].sort((a, b) => byCodeUnits(a.type, b.type));
}

export function findCondition(
  conditions: readonly Condition[] | undefined,
  type: string,
): Condition | undefined {
  return conditions?.find((c) => c.type === type);
}

interface StatusWithConditions {
  conditions?: Condition[];
  observedGeneration?: number;
}

/** Status fields to set; undefined removes one. */
export type StatusFields<S> = { [K in keyof S]?: S[K] | undefined };

/**
 * The status after `update` and `fields`, observed at `generation`; a field set to undefined is
 * removed. Compare it with the current one before writing: equal means there is nothing to write.
 */
export function nextStatus<S extends StatusWithConditions>(
  current: S | undefined,
  update: ConditionUpdate,
  fields: StatusFields<S>,
  generation: number,
  now: Date,
): S {
  const status: Record<string, unknown> = {
    ...current,
    ...fields,
    observedGeneration: generation,
    conditions: setCondition(current?.conditions, { ...update, observedGeneration: generation }, now),
  };
  for (const [key, value] of Object.entries(status)) if (value === undefined) delete status[key];
  return status as S;
}

/** True when `update` says something other than `before` (worth an Event). */
export function conditionChanged(before: Condition | undefined, update: ConditionUpdate): boolean {
  return (
    before?.status !== update.status ||
    before.reason !== update.reason ||
    before.message !== update.message
  );
}
