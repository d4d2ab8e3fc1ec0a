// Syntax rules shared by the CRD schema (admission) and the controller (templates expanded at
// reconcile time). They are regular expressions valid in both ECMAScript and Go's RE2, because the
// API server evaluates the CRD's `pattern`s with RE2.

/** Placeholders a subject template may hold, each written `{{name}}` without spaces. */
export const PLACEHOLDERS = ['workspace.id', 'workspace.owner', 'namespace'] as const;

/**
 * One subject token: printable ASCII without `.`, `*`, `>`, `{` and `}`, and placeholders, or a
 * lone `*`. Whitespace, control characters and non-ASCII are rejected: nats-server accepts some of
 * them, but they are a source of subjects that look alike and are not. Braces only ever open and
 * close a known placeholder, so a misspelt template is refused at admission.
 */
const PLACEHOLDER = String.raw`\{\{(?:${PLACEHOLDERS.map((p) => p.replace('.', String.raw`\.`)).join('|')})\}\}`;
const TOKEN = String.raw`(?:(?:[\x21-\x29\x2b-\x2d\x2f-\x3d\x3f-\x7a\x7c\x7e]|${PLACEHOLDER})+|\*)`;

/** A user tag, name:value: printable ASCII without braces in the value, save known placeholders. */
export const USER_TAG_PATTERN = String.raw`^[a-z0-9_-]+:(?:[\x21-\x7a\x7c\x7e]|${PLACEHOLDER})+$`;

/** A NATS subject or subject filter: tokens split by dots, `>` only as the whole last token. */
export const SUBJECT_PATTERN = String.raw`^(?:${TOKEN}\.)*(?:${TOKEN}|>)$`;
export const SUBJECT_MAX_LENGTH = 256;
export const SUBJECTS_MAX_ITEMS = 64;

/** A Go-style duration made of whole units: `90s`, `15m`, `1h30m`. */
export const DURATION_PATTERN = String.raw`^(?:[0-9]+(?:ms|s|m|h))+$`;

/** An nkey public key of an account: `A` and 55 base32 characters. */
export const ACCOUNT_PUBLIC_KEY_PATTERN = '^A[A-Z2-7]{55}$';

/** A Kubernetes object name (DNS subdomain). */
export const OBJECT_NAME_PATTERN = String.raw`^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$`;
