// Owns every child process and temp folder the harness creates, and the guarantee that none
// outlives it: stop() (SIGTERM, then SIGKILL after a grace period); cleanup on process exit,
// SIGINT/SIGTERM and uncaught errors; a watchdog process that cleans up if we die any other way
// (SIGKILL, or inside a jest test file where those hooks never fire); and a sweep at the next start
// for anything still left. The hooks are installed only while something is tracked, so a jest or
// CLI process gets its default signal behaviour back once we are done.
import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import type { Writable } from 'node:stream';
import { closeSync, openSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';

export interface ManagedProcess {
  readonly name: string;
  readonly pid: number;
  readonly logFile: string;
  /** Resolves when the process has exited (by itself or because it was stopped). */
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  isRunning(): boolean;
  /** How it ended ("code 1", "signal SIGKILL"), or undefined while running. */
  exitDescription(): string | undefined;
  /** SIGTERM, then SIGKILL after graceMs; resolves once it is gone. Safe to call twice. */
  stop(graceMs?: number): Promise<void>;
}

export interface StartProcessOptions {
  name: string;
  command: string;
  args: string[];
  logFile: string;
  cwd?: string;
  env?: Record<string, string>;
}

const DEFAULT_GRACE_MS = 5000;
const live = new Map<number, ManagedProcess>();
const tempDirs = new Set<string>();

export function startProcess(opts: StartProcessOptions): ManagedProcess {
  // Output goes straight to a file (not a pipe), so a busy child never blocks on a full pipe and the
  // log survives us for post-mortems.
  const fd = openSync(opts.logFile, 'a');
  const child = (() => {
    try {
      return spawn(opts.command, opts.args, {
        cwd: opts.cwd,
        env: { ...process.env, ...opts.env },
        stdio: ['ignore', fd, fd],
        // Own process group: a terminal's Ctrl-C reaches only us, and we stop children in order.
        detached: true,
      });
    } finally {
      closeSync(fd);
    }
  })();
  child.on('error', () => undefined); // reported through `exit`
  return track(opts.name, child, opts.logFile);
}

/**
 * Puts a child spawned elsewhere (with `detached: true`, so it leads its own process group) under
 * the same guarantees, e.g. the `go` builds, whose compiler processes die with the group.
 */
export function track(name: string, child: ChildProcess, logFile = ''): ManagedProcess {
  if (child.pid === undefined) {
    // spawn failures (ENOENT, EACCES) are reported asynchronously; surface them as a throw here.
    throw new Error(`could not start ${name} (${child.spawnfile})`);
  }
  const pid = child.pid;
  let running = true;
  let ended: string | undefined;
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => {
    child.on('exit', (code, signal) => {
      running = false;
      ended = signal ? `signal ${signal}` : `code ${code}`;
      live.delete(pid);
      reaper('-', String(pid));
      maybeUninstallHooks();
      resolve({ code, signal });
    });
  });
  let stopping: Promise<void> | undefined;
  const proc: ManagedProcess = {
    name,
    pid,
    logFile,
    exited,
    isRunning: () => running,
    exitDescription: () => ended,
    stop(graceMs = DEFAULT_GRACE_MS) {
      stopping ??= (async () => {
        if (!running) return;
        signalGroup(pid, 'SIGTERM');
        const timer = setTimeout(() => signalGroup(pid, 'SIGKILL'), graceMs);
        await exited;
        clearTimeout(timer);
      })();
      return stopping;
    },
  };
  live.set(pid, proc);
  reaper('+', String(pid));
  installHooks();
  return proc;
}

function signalGroup(pid: number, signal: NodeJS.Signals): void {
  for (const target of [-pid, pid]) {
    try {
      process.kill(target, signal);
      return;
    } catch {
      /* already gone, or the group is: try the pid itself */
    }
  }
}

const OWNER_FILE = '.owner-pid';

/**
 * A fresh folder (default: under the OS temp dir, prefix `wno-env-`), removed by removeTempDir or
 * at exit. It records our pid, so that a later run can clean up after one that was SIGKILLed.
 */
export async function makeTempDir(prefix = 'wno-env-', parent = os.tmpdir()): Promise<string> {
  reapStaleEnvironments();
  const dir = await mkdtemp(path.join(parent, prefix));
  writeFileSync(path.join(dir, OWNER_FILE), String(process.pid));
  trackTempDir(dir);
  return dir;
}

/** Removes `dir` at exit unless removeTempDir() was called first (e.g. a lock directory). */
export function trackTempDir(dir: string): void {
  tempDirs.add(dir);
  reaper('d', dir);
  installHooks();
}

export async function removeTempDir(dir: string): Promise<void> {
  await rm(dir, { recursive: true, force: true });
  tempDirs.delete(dir);
  reaper('r', dir);
  maybeUninstallHooks();
}

/**
 * SIGKILL (say, a CI timeout or an OOM kill of jest) skips every hook above and orphans the
 * children. They all name their run's folder on their command line (data dir, config, certs), so
 * a later run finds them in /proc by the folders whose owner is dead, kills them, and removes the
 * folder. Linux only; elsewhere this does nothing.
 */
export function reapStaleEnvironments(): void {
  let stale: string[];
  try {
    stale = readdirSync(os.tmpdir())
      .filter((n) => n.startsWith('wno-env-') || n.startsWith('wno-build-'))
      .map((n) => path.join(os.tmpdir(), n))
      .filter((dir) => {
        const owner = Number(readFileIfAny(path.join(dir, OWNER_FILE)));
        return owner > 0 && owner !== process.pid && !pidAlive(owner);
      });
  } catch {
    return;
  }
  if (stale.length === 0) return;
  let procs: string[] = [];
  try {
    procs = readdirSync('/proc').filter((n) => /^\d+$/.test(n));
  } catch {
    /* no /proc: nothing to find */
  }
  for (const pid of procs) {
    const cmdline = readFileIfAny(`/proc/${pid}/cmdline`).replaceAll('\0', ' ');
    if (stale.some((dir) => cmdline.includes(dir + path.sep))) {
      process.stderr.write(`[wno-env] killing leftover process ${pid} of a dead test run: ${cmdline.slice(0, 120)}\n`);
      try {
        process.kill(Number(pid), 'SIGKILL'); // that process only: it was matched by its own command line
      } catch {
        /* gone meanwhile */
      }
    }
  }
  for (const dir of stale) rmSync(dir, { recursive: true, force: true });
}

function readFileIfAny(file: string): string {
  try {
    return readFileSync(file, 'utf8');
  } catch {
    return '';
  }
}

export function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Stops every tracked process (in parallel, newest first gets its signal first). */
export async function stopAllProcesses(graceMs = DEFAULT_GRACE_MS): Promise<void> {
  await Promise.all([...live.values()].reverse().map((p) => p.stop(graceMs)));
}

export function trackedPids(): number[] {
  return [...live.keys()];
}

/** The last `lines` lines of a log file, for error messages. */
export async function tail(file: string, lines: number): Promise<string> {
  try {
    const text = await readFile(file, 'utf8');
    return text.trimEnd().split('\n').slice(-lines).join('\n');
  } catch {
    return `(no ${file})`;
  }
}

/** "name (log): last lines" for each given process; used in startup failure messages. */
export async function describeLogs(procs: ManagedProcess[], lines = 25): Promise<string> {
  const parts = await Promise.all(
    procs.map(async (p) => `--- ${p.name} (${p.logFile}), last ${lines} lines:\n${await tail(p.logFile, lines)}`),
  );
  return parts.join('\n');
}

// ---- last-resort cleanup ------------------------------------------------------------------------

// The hooks below run only in the real Node process: inside a jest test file `process` is a copy on
// which signal and exit listeners never fire, and nothing at all runs after a SIGKILL. So a small
// watchdog process mirrors what we track; when its stdin closes, i.e. when we are gone however we
// went, it stops the processes (SIGTERM, then SIGKILL) and removes the folders that are left.
const REAPER = `
const fs = require('node:fs');
const pids = new Set(), dirs = new Set();
let buf = '', done = false;
const alive = (p) => { try { process.kill(p, 0); return true; } catch { return false; } };
const signal = (p, s) => { try { process.kill(-p, s); } catch { try { process.kill(p, s); } catch {} } };
function cleanup() {
  if (done) return;
  done = true;
  for (const p of pids) signal(p, 'SIGTERM');
  const deadline = Date.now() + 5000;
  const tick = () => {
    if ([...pids].some(alive) && Date.now() < deadline) return setTimeout(tick, 100);
    for (const p of pids) signal(p, 'SIGKILL');
    for (const d of dirs) fs.rmSync(d, { recursive: true, force: true });
    process.exit(0);
  };
  tick();
}
process.stdin.setEncoding('utf8');
process.stdin.on('data', (d) => {
  buf += d;
  for (let i; (i = buf.indexOf('\\n')) >= 0; buf = buf.slice(i + 1)) {
    const op = buf[0], arg = buf.slice(2, i);
    if (op === '+') pids.add(Number(arg)); else if (op === '-') pids.delete(Number(arg));
    else if (op === 'd') dirs.add(arg); else if (op === 'r') dirs.delete(arg);
  }
});
process.stdin.on('end', cleanup);
process.stdin.on('error', cleanup);
for (const s of ['SIGINT', 'SIGHUP']) process.on(s, () => {});
process.on('SIGTERM', cleanup);
`;

let reaperStdin: Writable | undefined;

function reaper(op: '+' | '-' | 'd' | 'r', arg: string): void {
  if (!reaperStdin) {
    if (op === '-' || op === 'r') return;
    const child = spawn(process.execPath, ['-e', REAPER], {
      stdio: ['pipe', 'ignore', 'ignore'],
      // Own process group, so the Ctrl-C that stops us does not stop it before it has cleaned up.
      detached: true,
    });
    child.on('error', () => undefined);
    // It must not keep us alive: it only exists to outlive us.
    child.unref();
    (child.stdin as unknown as { unref?: () => void }).unref?.();
    child.stdin?.on('error', () => undefined);
    reaperStdin = child.stdin ?? undefined;
    child.on('exit', () => (reaperStdin = undefined));
  }
  reaperStdin?.write(`${op} ${arg}\n`);
}

let hooksInstalled = false;

function killAllNow(): void {
  for (const pid of live.keys()) signalGroup(pid, 'SIGKILL');
  live.clear();
  for (const dir of tempDirs) rmSync(dir, { recursive: true, force: true });
  tempDirs.clear();
}

const onExit = (): void => killAllNow();
// 'exit' is not emitted when an uncaught error kills the process, so watch for that separately; but
// leave everything running if someone (a test runner, say) handles the error and carries on.
const onFatal = (): void => {
  if (process.listenerCount('uncaughtException') === 0) killAllNow();
};
const onSignal = (signal: NodeJS.Signals): void => {
  // Someone else (env:up, a test runner) handles this signal and will stop us in order; without
  // them, Node's default would exit at once and leave the children running, so we do it.
  if (process.listenerCount(signal) > 1) return;
  process.stderr.write(`[wno-env] ${signal}: stopping test environment processes\n`);
  void stopAllProcesses(2000).finally(() => {
    killAllNow();
    process.exit(signal === 'SIGINT' ? 130 : 143);
  });
};

function installHooks(): void {
  if (hooksInstalled) return;
  hooksInstalled = true;
  process.on('exit', onExit);
  process.on('uncaughtExceptionMonitor', onFatal);
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  process.on('SIGHUP', onSignal);
}

function maybeUninstallHooks(): void {
  if (!hooksInstalled || live.size > 0 || tempDirs.size > 0) return;
  hooksInstalled = false;
  process.off('exit', onExit);
  process.off('uncaughtExceptionMonitor', onFatal);
  process.off('SIGINT', onSignal);
  process.off('SIGTERM', onSignal);
  process.off('SIGHUP', onSignal);
}
