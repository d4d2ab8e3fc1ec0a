// The issuer's bounds on what a workspace may get: subjects, responses, connection limits and
// types, and which namespaces may use it. Pure. What an access asks beyond them is refused with
// PolicyViolation, naming the field; it is never clamped silently.

import type { ClusterNatsIssuer } from '../api/cluster-nats-issuer.ts';
import { Failure } from '../api/failure.ts';
import { Reason } from '../api/reasons.ts';

export type IssuerPolicy = NonNullable<ClusterNatsIssuer['spec']['policy']>;
export type NamespaceSelector = NonNullable<IssuerPolicy['namespaceSelector']>;

/**
 * True when every subject `subject` matches is also matched by `bound` (both may hold wildcards):
 * `ws.a.>` lies within `ws.*.>` and `ws.>`, but not within `ws.a.*` (which `ws.a.b.c` escapes).
 */
export function subjectWithin(subject: string, bound: string): boolean {
  const s = subject.split('.');
  const b = bound.split('.');
  for (let i = 0; i < b.length; i++) {
    const want = b[i];
    const have = s[i];
    if (want === '>') return have !== undefined;
    if (have === undefined || have === '>') return false;
    if (want === '*') continue;
    if (have !== want) return false;
  }
  return s.length === b.length;
}

/**
 * True when `labels` satisfy `selector`, with Kubernetes label selector semantics. Written here
 * because @kubernetes/client-node has no selector matcher; the cases are few and tested.
 */
export function labelsMatch(selector: NamespaceSelector, labels: Record<string, string>): boolean {
  const exact = Object.entries(selector.matchLabels ?? {}).every(([key, value]) => labels[key] === value);
  return (
    exact &&
    (selector.matchExpressions ?? []).every(({ key, operator, values = [] }) => {
      const has = key in labels;
      switch (operator) {
        case 'In':
          return has && values.includes(labels[key] as string);
        case 'NotIn':
          return !has || !values.includes(labels[key] as string);
        case 'Exists':
          return has;
        case 'DoesNotExist':
          return !has;
      }
    })
  );
}

/** A list of subjects to check, and the field they came from, for the message. */
export interface GrantedSubjects {
  field: string;
  subjects: readonly string[];
}

/** Refuses the first granted subject that lies within none of `bounds` (already expanded). */
export function assertWithin(granted: GrantedSubjects, bounds: readonly string[], issuerName: string): void {
  const index = granted.subjects.findIndex((subject) => !bounds.some((bound) => subjectWithin(subject, bound)));
  if (index < 0) return;
  throw new Failure(Reason.PolicyViolation,
    `${granted.field}[${index}]: "${granted.subjects[index]}" is outside what issuer ${issuerName} allows (${bounds.join(', ') || 'nothing'})`,
  );
}

/**
 * A connection limit: the access's own value, which may not exceed the cap; else the cap; else
 * unlimited (-1).
 */
export function cappedLimit(asked: number | undefined, cap: number | undefined, field: string, issuerName: string): number {
  if (asked !== undefined && cap !== undefined && asked > cap) {
    throw new Failure(Reason.PolicyViolation, `${field}: ${asked} exceeds the maximum ${cap} of issuer ${issuerName}`);
  }
  return asked ?? cap ?? -1;
}
