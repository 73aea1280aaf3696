import { daysInMonth } from '../../common/expressions';
import type { Diagnostics } from '../diagnostics';
import { str } from '../json';
import { HOUR, MINUTE } from './calendar';
import type { Local } from './zoned-time';
import { localIn, zonedToUtc } from './zoned-time';

const TIME = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2})(?::(\d{2})(?:\.\d+)?)?(Z|[+-]\d{2}:\d{2})?$/i;

/**
 * Reads one trigger file: errors go to the Diagnostics with the file and JSON path; approximations (`warnings`) and
 * what a Temporal spec cannot express (`unmapped`) stay with the mapping, as `path: message` text.
 */
export class TriggerReader {
  readonly warnings: string[] = [];
  readonly unmapped: string[] = [];
  private readonly errorsBefore: number;

  constructor(
    readonly file: string,
    readonly d: Diagnostics,
  ) {
    this.errorsBefore = d.errors.length;
  }

  fail(path: string, message: string): undefined {
    return this.d.error(this.file, path, message);
  }

  /** Whether this file has reported an error so far. */
  get failed(): boolean {
    return this.d.errors.length > this.errorsBefore;
  }

  /** A trigger time: with `Z`/offset it is absolute; without, it is wall-clock time in the trigger's zone. */
  time(v: unknown, path: string, zone: string): { date: Date; local: Local } | undefined {
    if (typeof v !== 'string') return this.fail(path, 'must be an ISO 8601 time such as 2024-01-01T02:00:00');
    const m = TIME.exec(v.trim());
    if (!m) return this.fail(path, `'${v}' is not an ISO 8601 time such as 2024-01-01T02:00:00`);
    const local: Local = { y: +m[1], mo: +m[2], d: +m[3], h: +m[4], mi: +m[5], s: +(m[6] ?? 0) };
    // Date.UTC would roll 2024-02-30 over to March 1st; ADF refuses it, and so do we.
    if (local.mo < 1 || local.mo > 12 || local.d < 1 || local.d > daysInMonth(local.y, local.mo)) {
      return this.fail(
        path,
        `'${v}' is not a date (${local.y}-${String(local.mo).padStart(2, '0')} has no day ${local.d})`,
      );
    }
    if (local.h > 23 || local.mi > 59 || local.s > 59) return this.fail(path, `'${v}' is not a time of day`);
    const off = m[7];
    if (off) {
      let ms = Date.UTC(local.y, local.mo - 1, local.d, local.h, local.mi, local.s);
      if (off.toUpperCase() !== 'Z') {
        const sign = off.startsWith('-') ? -1 : 1;
        ms -= sign * (Number(off.slice(1, 3)) * HOUR + Number(off.slice(4, 6)) * MINUTE);
      }
      if (zone !== 'Etc/UTC') {
        this.warnings.push(`${path}: '${v}' carries an offset; ADF writes local times without one for non-UTC zones`);
      }
      return { date: new Date(ms), local: localIn(zone, ms) };
    }
    return { date: zonedToUtc(local, zone), local };
  }

  ints(v: unknown, path: string, min: number, max: number, allowNegative = false): number[] | undefined {
    if (v === undefined || v === null) return undefined;
    if (!Array.isArray(v) || v.length === 0) return this.fail(path, 'must be a non-empty array of integers');
    const out: number[] = [];
    v.forEach((x: unknown, i) => {
      const ok =
        Number.isInteger(x) &&
        (((x as number) >= min && (x as number) <= max) ||
          (allowNegative && (x as number) <= -min && (x as number) >= -max));
      if (!ok)
        this.fail(
          `${path}[${i}]`,
          `${str(x)} is out of range (${min}..${max}${allowNegative ? ` or -${max}..-${min}` : ''})`,
        );
      else if (!out.includes(x as number)) out.push(x as number);
    });
    return out.sort((a, b) => a - b);
  }
}
