/**
 * Memory and CPU of another process, read from Linux's /proc (the bot runs as a child process, so its
 * figures are not mixed with the benchmark's own: Dovecot clients, the fake Bot API).
 */
import { execFileSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';

export const MIB = 1024 * 1024;

/** One reading of a process. */
export interface ProcessSample {
  /** When it was taken, ms since the epoch. */
  at: number;
  /** Resident set size now (VmRSS), bytes. */
  rssBytes: number;
  /** Highest RSS since the start or since {@link resetPeakRss} (VmHWM), bytes. */
  peakRssBytes: number;
  /** User + system CPU time used so far, seconds. */
  cpuSeconds: number;
  /** The system (kernel) part of `cpuSeconds`. */
  systemCpuSeconds: number;
}

let clockTicks: number | null = null;

/** Kernel clock ticks per second, the unit of utime/stime in /proc/<pid>/stat (usually 100). */
function ticksPerSecond(): number {
  clockTicks ??= Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;
  return clockTicks;
}

function statusField(status: string, name: string): number {
  const match = new RegExp(`^${name}:\\s+(\\d+) kB`, 'm').exec(status);
  if (!match) throw new Error(`/proc status has no ${name}`);
  return Number(match[1]) * 1024;
}

/** Reads RSS, peak RSS and CPU time of `pid`. */
export function sampleProcess(pid: number): ProcessSample {
  const at = Date.now();
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  // the command name (field 2) may contain spaces and parentheses: count fields after the last ')'
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  // fields[0] is field 3 (state); utime and stime are fields 14 and 15
  const userTicks = Number(fields[11]);
  const systemTicks = Number(fields[12]);
  return {
    at,
    rssBytes: statusField(status, 'VmRSS'),
    peakRssBytes: statusField(status, 'VmHWM'),
    cpuSeconds: (userTicks + systemTicks) / ticksPerSecond(),
    systemCpuSeconds: systemTicks / ticksPerSecond(),
  };
}

/** Starts a new peak-RSS period for `pid` (writes 5 to /proc/<pid>/clear_refs; Linux ≥ 4.0). */
export function resetPeakRss(pid: number): void {
  writeFileSync(`/proc/${pid}/clear_refs`, '5');
}

/** Samples a process at an interval and keeps the highest RSS seen (a cross-check of VmHWM). */
export class RssSampler {
  maxRssBytes = 0;
  samples = 0;
  private readonly timer: NodeJS.Timeout;

  constructor(
    private readonly pid: number,
    intervalMs: number,
  ) {
    this.timer = setInterval(() => this.sample(), intervalMs);
    this.sample();
  }

  private sample(): void {
    try {
      this.maxRssBytes = Math.max(this.maxRssBytes, sampleProcess(this.pid).rssBytes);
      this.samples++;
    } catch {
      // the process ended; the benchmark notices on its own
    }
  }

  stop(): void {
    clearInterval(this.timer);
    this.sample();
  }
}

/** The 1-minute load average, to show how busy the machine was during a benchmark. */
export function loadAverage(): number {
  return Number(readFileSync('/proc/loadavg', 'utf8').split(' ')[0]);
}

/** Bytes as MiB with one decimal. */
export function mib(bytes: number): string {
  return `${(bytes / MIB).toFixed(1)} MiB`;
}
