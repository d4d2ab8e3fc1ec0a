// Reading a watch response: newline-delimited JSON events, split across chunks anywhere. Pure.

export type WatchEventType = 'ADDED' | 'MODIFIED' | 'DELETED' | 'BOOKMARK' | 'ERROR';

export interface WatchEvent<T = Record<string, unknown>> {
  type: WatchEventType;
  /** The object; for ERROR, a Status (code 410: the resourceVersion is too old, relist). */
  object: T;
}

const TYPES = new Set<string>(['ADDED', 'MODIFIED', 'DELETED', 'BOOKMARK', 'ERROR']);

/**
 * Calls `onLine` for each complete line of `pending + chunk`, and returns what is left after the
 * last newline (the start of the next line).
 */
export function splitLines(pending: string, chunk: string, onLine: (line: string) => void): string {
  const text = pending + chunk;
  let start = 0;
  for (let end = text.indexOf('\n'); end >= 0; end = text.indexOf('\n', start)) {
    const line = text.slice(start, end).trim();
    if (line !== '') onLine(line);
    start = end + 1;
  }
  return text.slice(start);
}

/**
 * One line of a watch response as an event (its object as the watch's `T`, or a Status for ERROR);
 * an Error naming what is wrong (never quoting the line) otherwise.
 */
export function parseWatchEvent<T = Record<string, unknown>>(line: string): WatchEvent<T> {
  let event: { type?: unknown; object?: unknown };
  try {
    event = JSON.parse(line) as typeof event;
  } catch {
    throw new Error(`watch: a line of ${line.length} characters is not JSON`);
  }
  if (typeof event?.type !== 'string' || !TYPES.has(event.type)) throw new Error(`watch: unknown event type ${JSON.stringify(event?.type ?? null)}`);
  if (typeof event.object !== 'object' || event.object === null) throw new Error(`watch: a ${event.type} event without an object`);
  return event as WatchEvent<T>;
}
