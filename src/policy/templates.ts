// Templates: the subject `ws.{{workspace.id}}.>` becomes `ws.abc123.>` for workspace abc123, the
// user tag `ws:{{workspace.id}}` becomes `ws:abc123`. Pure.

import { Failure } from '../api/failure.ts';
import { PLACEHOLDERS, SUBJECT_MAX_LENGTH, SUBJECT_PATTERN } from '../api/patterns.ts';
import { Reason } from '../api/reasons.ts';

const invalid = (message: string) => new Failure(Reason.InvalidSpec, message);

export type TemplateValues = Record<(typeof PLACEHOLDERS)[number], string | undefined>;

const PLACEHOLDER = /\{\{([^{}]*)\}\}/g;
const SUBJECT = new RegExp(SUBJECT_PATTERN);

function isPlaceholder(name: string): name is keyof TemplateValues {
  return (PLACEHOLDERS as readonly string[]).includes(name);
}

/**
 * Expands every `{{name}}` in `template`. Throws an InvalidSpec Failure naming `field` on an unknown placeholder or a
 * placeholder without a value for this workspace.
 */
export function expandTemplate(template: string, values: TemplateValues, field: string): string {
  return template.replace(PLACEHOLDER, (_whole, name: string) => {
    if (!isPlaceholder(name)) {
      const known = PLACEHOLDERS.map((p) => `{{${p}}}`).join(', ');
      throw invalid(`${field}: unknown placeholder {{${name}}} in "${template}"; known: ${known}`);
    }
    const value = values[name];
    if (value === undefined || value === '') {
      throw invalid(`${field}: {{${name}}} in "${template}" has no value for this workspace`);
    }
    return value;
  });
}

/** Expands a subject template; fails, naming `field`, if the result is no valid subject. */
export function expandSubject(template: string, values: TemplateValues, field: string): string {
  const subject = expandTemplate(template, values, field);
  if (!SUBJECT.test(subject)) {
    throw invalid(`${field}: "${template}" expands to "${subject}", not a valid NATS subject`);
  }
  if (subject.length > SUBJECT_MAX_LENGTH) {
    throw invalid(`${field}: "${template}" expands to ${subject.length} characters, more than ${SUBJECT_MAX_LENGTH}`);
  }
  return subject;
}
