// Status conditions, as Kubernetes API conventions describe them: one entry per type, and a
// lastTransitionTime that moves only when the status itself changes. Pure.

import type { Condition } from '../api/workspace-nats-access.ts';

export type ConditionUpdate = Omit<Condition, 'lastTransitionTime'>;

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
  return [...others, next].sort((a, b) => a.type.localeCompare(b.type));
}

export function findCondition(
  conditions: readonly Condition[] | undefined,
  type: string,
): Condition | undefined {
  return conditions?.find((c) => c.type === type);
}
