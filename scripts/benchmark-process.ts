// What a process has cost so far, as Linux accounts it in /proc: CPU time (user + system) and
// resident memory. The benchmarks read the operator child process's before and after a burst, and
// sample its memory during one for the peak.

import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';

/** Clock ticks per second of /proc's CPU times (USER_HZ), asked once rather than assumed. */
const TICKS_PER_S = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim());

/** CPU time `pid` has used so far, in ms. */
export function cpuMs(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  // The command name (field 2) may hold spaces and parentheses: count fields after its last ')'.
  // Field 3 (state) is the first of these, so utime (14) and stime (15) are the 12th and 13th.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  const ticks = Number(fields[11]) + Number(fields[12]);
  if (!Number.isFinite(ticks)) throw new Error(`/proc/${pid}/stat: no utime and stime`);
  return (ticks * 1000) / TICKS_PER_S;
}

/** Resident memory of `pid` (VmRSS), in bytes. */
export function residentBytes(pid: number): number {
  const kb = /^VmRSS:\s+(\d+) kB$/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1];
  if (kb === undefined) throw new Error(`/proc/${pid}/status: no VmRSS`);
  return Number(kb) * 1024;
}

/** Samples of a process's resident memory, taken on a timer until stopped. */
export interface ResidentSampler {
  /** Stops sampling; the highest resident memory seen (bytes), the last sample included. */
  stop(): number;
}

/**
 * Reads `pid`'s resident memory every `everyMs` (a timer of this process, so late when its event
 * loop is busy). Sampling ends by itself if the process is gone; the peak so far is kept.
 */
export function sampleResident(pid: number, everyMs = 100): ResidentSampler {
  let peak = residentBytes(pid);
  const read = () => {
    try {
      peak = Math.max(peak, residentBytes(pid));
    } catch {
      clearInterval(timer);
    }
  };
  const timer = setInterval(read, everyMs);
  return {
    stop() {
      clearInterval(timer);
      read();
      return peak;
    },
  };
}
