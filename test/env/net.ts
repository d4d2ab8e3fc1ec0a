// Owns the small network helpers the harness needs: free loopback ports picked at run time, and
// polling until a component answers (or has died, which ends the wait early).
import net from 'node:net';
import type { ManagedProcess } from './processes.ts';

const handedOut = new Set<number>();

/** A loopback TCP port that is free right now and not handed out before by this process. */
export async function freePort(): Promise<number> {
  for (;;) {
    const port = await new Promise<number>((resolve, reject) => {
      const srv = net.createServer();
      srv.unref();
      srv.on('error', reject);
      srv.listen(0, '127.0.0.1', () => {
        const addr = srv.address();
        srv.close(() => (typeof addr === 'object' && addr ? resolve(addr.port) : reject(new Error('no port'))));
      });
    });
    // The kernel may hand the same ephemeral port out twice before anyone binds it.
    if (!handedOut.has(port)) {
      handedOut.add(port);
      return port;
    }
  }
}

export interface WaitOptions {
  what: string;
  timeoutMs: number;
  intervalMs?: number;
  /** Stop waiting at once (with an error) if any of these exits. */
  watch?: ManagedProcess[];
}

/** Polls check() until it returns a non-undefined value; errors from check() count as "not yet". */
export async function waitFor<T>(check: () => Promise<T | undefined>, opts: WaitOptions): Promise<T> {
  const deadline = Date.now() + opts.timeoutMs;
  let lastError: unknown;
  for (;;) {
    const dead = opts.watch?.find((p) => !p.isRunning());
    if (dead) throw new Error(`${dead.name} exited (${dead.exitDescription() ?? '?'}) while waiting for ${opts.what}`);
    try {
      const value = await check();
      if (value !== undefined) return value;
    } catch (err) {
      lastError = err;
    }
    if (Date.now() > deadline) {
      const why = lastError instanceof Error ? `: ${lastError.message}` : '';
      throw new Error(`timed out after ${opts.timeoutMs}ms waiting for ${opts.what}${why}`);
    }
    await new Promise((r) => setTimeout(r, opts.intervalMs ?? 200));
  }
}

/** Plain HTTP GET on loopback; resolves with status and body. */
export async function httpGet(url: string, timeoutMs = 2000): Promise<{ status: number; body: string }> {
  const res = await fetch(url, { signal: AbortSignal.timeout(timeoutMs) });
  return { status: res.status, body: await res.text() };
}
