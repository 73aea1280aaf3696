import { readFileSync } from 'node:fs';

/**
 * CPU and memory of another process, read from /proc (Linux), so the worker's figures are its own and not the bench
 * process's (which also hosts the emulator). Elsewhere every figure is NaN and the table says n/a.
 */

/** Linux reports utime/stime in clock ticks; USER_HZ is 100 on every mainstream kernel configuration. */
const TICKS_PER_SECOND = 100;

export interface ProcSample {
  /** user + system CPU time since the process started, ms. */
  cpuMs: number;
  rssBytes: number;
  /** Peak RSS (VmHWM) since the process started. */
  peakRssBytes: number;
}

export function sampleProcess(pid: number | undefined): ProcSample {
  if (pid === undefined) return { cpuMs: Number.NaN, rssBytes: Number.NaN, peakRssBytes: Number.NaN };
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // The command name (field 2) may contain spaces; the fields after its closing parenthesis are fixed.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    const cpuMs = ((Number(fields[11]) + Number(fields[12])) * 1000) / TICKS_PER_SECOND;
    const status = readFileSync(`/proc/${pid}/status`, 'utf8');
    const kib = (key: string) =>
      Number(new RegExp(`^${key}:\\s+(\\d+) kB`, 'm').exec(status)?.[1] ?? Number.NaN) * 1024;
    return { cpuMs, rssBytes: kib('VmRSS'), peakRssBytes: kib('VmHWM') };
  } catch {
    return { cpuMs: Number.NaN, rssBytes: Number.NaN, peakRssBytes: Number.NaN };
  }
}

/** CPU used by a process between two points, as a share of one core, plus its peak RSS so far. */
export class ProcWindow {
  private readonly start: ProcSample;
  private readonly startMs = Date.now();

  constructor(private readonly pid: number | undefined) {
    this.start = sampleProcess(pid);
  }

  end(): { cpuMs: number; coreShare: number; peakRssBytes: number } {
    const now = sampleProcess(this.pid);
    const cpuMs = now.cpuMs - this.start.cpuMs;
    return { cpuMs, coreShare: cpuMs / Math.max(1, Date.now() - this.startMs), peakRssBytes: now.peakRssBytes };
  }
}
