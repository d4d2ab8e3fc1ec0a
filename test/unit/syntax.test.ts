import { DURATION_PATTERN, SUBJECT_PATTERN } from '../../src/api/patterns.ts';
import { formatDuration, parseDuration } from '../../src/policy/duration.ts';
import { expandSubject } from '../../src/policy/templates.ts';

const subject = new RegExp(SUBJECT_PATTERN);
const duration = new RegExp(DURATION_PATTERN);

describe('subject syntax (the CRD pattern)', () => {
  test.each([
    'foo',
    'foo.bar',
    'ws.abc-123.>',
    'ws.*.events',
    '*',
    '>',
    '_INBOX.>',
    '$JS.API.INFO',
    'ws.{{workspace.id}}.>',
    'u.{{workspace.owner}}-{{workspace.id}}.*',
    'ns.{{namespace}}',
  ])('accepts %p', (s) => expect(subject.test(s)).toBe(true));

  test.each([
    '',
    ' ',
    'foo..bar',
    '.foo',
    'foo.',
    '>.x',
    'a.>.b',
    'a*',
    'a.b*',
    '*a',
    'a>',
    'foo bar',
    'foo\tbar',
    'föö',
    'a.\u00a0.b',
    '{{ workspace.id }}',
    'ws.{{workspace.id}.>',
    'ws.{{workspace.name}}',
    'a{b',
    'a}b',
  ])('rejects %p', (s) => expect(subject.test(s)).toBe(false));
});

describe('durations', () => {
  test.each([
    ['90s', 90_000],
    ['15m', 900_000],
    ['1h30m', 5_400_000],
    ['250ms', 250],
    ['2h0m5s', 7_205_000],
  ])('%s is %d ms', (text, ms) => {
    expect(duration.test(text)).toBe(true);
    expect(parseDuration(text, 'spec.ttl')).toBe(ms);
  });

  test.each(['', '1', 'h', '1.5h', '-1h', '1d', '1h 30m', '1H'])('%p is rejected, naming the field', (text) => {
    expect(duration.test(text)).toBe(false);
    expect(() => parseDuration(text, 'spec.ttl')).toThrow(/^spec\.ttl: /);
  });

  test('formatDuration is the shortest whole-unit form', () => {
    expect(formatDuration(5_400_000)).toBe('1h30m');
    expect(formatDuration(10_000)).toBe('10s');
    expect(formatDuration(0)).toBe('0s');
  });
});

describe('subject templates', () => {
  const values = { 'workspace.id': 'ws1', 'workspace.owner': 'alice', namespace: 'team-a' };

  test('expands every placeholder', () => {
    expect(expandSubject('ws.{{workspace.id}}.{{workspace.owner}}.>', values, 'f')).toBe('ws.ws1.alice.>');
    expect(expandSubject('ns.{{namespace}}.*', values, 'f')).toBe('ns.team-a.*');
    expect(expandSubject('plain.subject', values, 'f')).toBe('plain.subject');
  });

  test('an unknown placeholder is an error naming the field and the known ones', () => {
    expect(() => expandSubject('ws.{{workspace.name}}', values, 'spec.permissions.publish.allow[0]')).toThrow(
      'spec.permissions.publish.allow[0]: unknown placeholder {{workspace.name}} in "ws.{{workspace.name}}"; known: {{workspace.id}}, {{workspace.owner}}, {{namespace}}',
    );
  });

  test('a placeholder without a value is an error', () => {
    expect(() => expandSubject('u.{{workspace.owner}}', { ...values, 'workspace.owner': undefined }, 'f')).toThrow(
      /f: \{\{workspace.owner\}\} in "u.\{\{workspace.owner\}\}" has no value/,
    );
  });

  test('an expansion longer than a subject may be is an error', () => {
    const long = 'x'.repeat(260);
    expect(() => expandSubject('ws.{{workspace.id}}.>', { ...values, 'workspace.id': long }, 'f')).toThrow(
      'f: "ws.{{workspace.id}}.>" expands to 265 characters, more than 256',
    );
  });

  test('an expansion that is not a subject is an error', () => {
    expect(() => expandSubject('a.{{namespace}}', { ...values, namespace: 'x y' }, 'f')).toThrow(
      /not a valid NATS subject/,
    );
  });
});
