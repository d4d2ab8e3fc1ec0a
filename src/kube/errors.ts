// Reading errors from the Kubernetes client: status codes, and one-line messages fit for logs,
// Events and conditions.

/** The HTTP status of a failed API call, if it was one. */
export function statusCode(error: unknown): number | undefined {
  const code = (error as { code?: unknown } | null)?.code;
  return typeof code === 'number' ? code : undefined;
}

export const isNotFound = (error: unknown) => statusCode(error) === 404;
/** 409: the object changed since it was read, or already exists. */
export const isConflict = (error: unknown) => statusCode(error) === 409;

/** What `call` answers, or undefined when the API server says 404 (the object is not there). */
export async function unlessNotFound<T>(call: Promise<T>): Promise<T | undefined> {
  try {
    return await call;
  } catch (error) {
    if (isNotFound(error)) return undefined;
    throw error;
  }
}

/**
 * Runs `call`; true when it succeeded, false when the API server answered one of `codes` (for a
 * delete, 404: gone already; for a guarded write, 409: someone else was first).
 */
export async function succeeded(call: Promise<unknown>, codes: readonly number[]): Promise<boolean> {
  try {
    await call;
    return true;
  } catch (error) {
    const code = statusCode(error);
    if (code !== undefined && codes.includes(code)) return false;
    throw error;
  }
}

/**
 * A one-line description of an error from the Kubernetes client: the HTTP status and the API
 * server's Status message, not the whole response (which may quote the object sent).
 */
export function describeError(error: unknown): string {
  if (!error || typeof error !== 'object') return String(error);
  const { code, body, message } = error as { code?: unknown; body?: unknown; message?: unknown };
  if (typeof code === 'number') return `HTTP ${code}: ${statusMessage(body) ?? 'no message'}`;
  return typeof message === 'string' ? (message.split('\n')[0] ?? '') : String(error);
}

function statusMessage(body: unknown): string | undefined {
  const message = parseStatus(body)?.message;
  return typeof message === 'string' ? message : undefined;
}

/** The client hands the response body over as text or as parsed JSON. */
function parseStatus(body: unknown): { message?: unknown } | undefined {
  if (typeof body !== 'string') return (body ?? undefined) as { message?: unknown } | undefined;
  try {
    return JSON.parse(body) as { message?: unknown };
  } catch {
    return undefined;
  }
}
