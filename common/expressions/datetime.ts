/**
 * .NET DateTime semantics for ADF's date functions: ISO 8601 parsing, format strings and calendar arithmetic on UTC
 * instants. Deterministic: no clock is read here (`utcNow()` takes workflow time from the context).
 */
import { ExpressionError } from './syntax';
import { kindOf } from './values';

/** A UTC instant with .NET's 100 ns resolution: epoch milliseconds plus 0–9999 ticks within the millisecond. */
export interface Instant {
  ms: number;
  sub: number;
}

const TS = /^(\d{4})-(\d{2})-(\d{2})(?:[T ](\d{2}):(\d{2})(?::(\d{2})(?:\.(\d{1,7}))?)?)?\s*(Z|[+-]\d{2}:?\d{2})?$/i;

/** Days in a month of the proleptic Gregorian calendar (.NET's), for any year 1-9999. */
export function daysInMonth(year: number, month: number): number {
  if (month === 2) return (year % 4 === 0 && year % 100 !== 0) || year % 400 === 0 ? 29 : 28;
  return [4, 6, 9, 11].includes(month) ? 30 : 31;
}

export function parseTimestamp(v: unknown, fn: string): Instant {
  if (typeof v !== 'string') throw new ExpressionError(`${fn}: expected a timestamp string, got ${kindOf(v)}`);
  const m = TS.exec(v.trim());
  if (!m) throw new ExpressionError(`${fn}: '${v}' is not an ISO 8601 timestamp (e.g. 2024-01-31T02:00:00Z)`);
  const [, y, mo, d, h, mi, s, frac, off] = m;
  let ms = Date.UTC(Number(y), Number(mo) - 1, Number(d), Number(h ?? 0), Number(mi ?? 0), Number(s ?? 0));
  if (
    Number.isNaN(ms) ||
    Number(mo) < 1 ||
    Number(mo) > 12 ||
    Number(d) < 1 ||
    Number(d) > daysInMonth(Number(y), Number(mo)) ||
    Number(h ?? 0) > 23 ||
    Number(mi ?? 0) > 59 ||
    Number(s ?? 0) > 59
  ) {
    throw new ExpressionError(`${fn}: '${v}' is not a valid date`);
  }
  const f = (frac ?? '').padEnd(7, '0');
  ms += Number(f.slice(0, 3));
  const sub = Number(f.slice(3));
  if (off && off.toUpperCase() !== 'Z') {
    const om = /([+-])(\d{2}):?(\d{2})/.exec(off)!;
    const minutes = Number(om[2]) * 60 + Number(om[3]);
    ms -= (om[1] === '+' ? 1 : -1) * minutes * 60_000;
  }
  return { ms, sub };
}

const MONTHS = [
  'January',
  'February',
  'March',
  'April',
  'May',
  'June',
  'July',
  'August',
  'September',
  'October',
  'November',
  'December',
];
const DAYS = ['Sunday', 'Monday', 'Tuesday', 'Wednesday', 'Thursday', 'Friday', 'Saturday'];

/** .NET standard format strings, invariant culture. */
const STANDARD: Record<string, string> = {
  o: "yyyy'-'MM'-'dd'T'HH':'mm':'ss'.'fffffffK",
  O: "yyyy'-'MM'-'dd'T'HH':'mm':'ss'.'fffffffK",
  s: "yyyy'-'MM'-'dd'T'HH':'mm':'ss",
  u: "yyyy'-'MM'-'dd HH':'mm':'ss'Z'",
  R: "ddd, dd MMM yyyy HH':'mm':'ss 'GMT'",
  r: "ddd, dd MMM yyyy HH':'mm':'ss 'GMT'",
  d: 'MM/dd/yyyy',
  D: 'dddd, dd MMMM yyyy',
  f: 'dddd, dd MMMM yyyy HH:mm',
  F: 'dddd, dd MMMM yyyy HH:mm:ss',
  g: 'MM/dd/yyyy HH:mm',
  G: 'MM/dd/yyyy HH:mm:ss',
  m: 'MMMM dd',
  M: 'MMMM dd',
  t: 'HH:mm',
  T: 'HH:mm:ss',
  y: 'yyyy MMMM',
  Y: 'yyyy MMMM',
};

const pad = (n: number, w: number) => String(n).padStart(w, '0');

/** .NET DateTime.ToString(format) for a UTC instant (custom and standard format strings, invariant culture). */
export function formatInstant(t: Instant, format: string): string {
  let fmt = format;
  if (fmt.length === 1) {
    const std = STANDARD[fmt];
    if (!std) throw new ExpressionError(`formatDateTime: '${fmt}' is not a .NET standard date format`);
    fmt = std;
  }
  const d = new Date(t.ms);
  const Y = d.getUTCFullYear();
  const Mo = d.getUTCMonth() + 1;
  const D = d.getUTCDate();
  const H = d.getUTCHours();
  const Mi = d.getUTCMinutes();
  const S = d.getUTCSeconds();
  const fraction = pad(d.getUTCMilliseconds(), 3) + pad(t.sub, 4);
  let out = '';
  let i = 0;
  while (i < fmt.length) {
    const c = fmt[i];
    if (c === "'" || c === '"') {
      const end = fmt.indexOf(c, i + 1);
      if (end < 0) throw new ExpressionError(`formatDateTime: unterminated quote in '${format}'`);
      out += fmt.slice(i + 1, end);
      i = end + 1;
      continue;
    }
    if (c === '\\') {
      out += fmt[i + 1] ?? '';
      i += 2;
      continue;
    }
    if (c === '%') {
      i++;
      continue;
    }
    let n = 1;
    while (fmt[i + n] === c) n++;
    switch (c) {
      case 'y':
        out += n <= 2 ? (n === 1 ? String(Y % 100) : pad(Y % 100, 2)) : pad(Y, n);
        break;
      case 'M':
        out += n === 1 ? String(Mo) : n === 2 ? pad(Mo, 2) : n === 3 ? MONTHS[Mo - 1].slice(0, 3) : MONTHS[Mo - 1];
        break;
      case 'd':
        out +=
          n === 1 ? String(D) : n === 2 ? pad(D, 2) : n === 3 ? DAYS[d.getUTCDay()].slice(0, 3) : DAYS[d.getUTCDay()];
        break;
      case 'H':
        out += n === 1 ? String(H) : pad(H, 2);
        break;
      case 'h': {
        const h12 = H % 12 === 0 ? 12 : H % 12;
        out += n === 1 ? String(h12) : pad(h12, 2);
        break;
      }
      case 'm':
        out += n === 1 ? String(Mi) : pad(Mi, 2);
        break;
      case 's':
        out += n === 1 ? String(S) : pad(S, 2);
        break;
      case 'f':
        if (n > 7) throw new ExpressionError(`formatDateTime: at most 7 'f' in '${format}'`);
        out += fraction.slice(0, n);
        break;
      case 'F': {
        if (n > 7) throw new ExpressionError(`formatDateTime: at most 7 'F' in '${format}'`);
        const trimmed = fraction.slice(0, n).replace(/0+$/, '');
        // .NET drops a '.' right before an all-zero F group.
        if (!trimmed && out.endsWith('.')) out = out.slice(0, -1);
        out += trimmed;
        break;
      }
      case 't':
        out += n === 1 ? (H < 12 ? 'A' : 'P') : H < 12 ? 'AM' : 'PM';
        break;
      case 'K':
        out += 'Z';
        break;
      case 'z':
        out += n === 1 ? '+0' : n === 2 ? '+00' : '+00:00';
        break;
      case 'g':
        out += 'A.D.';
        break;
      default:
        out += c.repeat(n);
    }
    i += n;
  }
  return out;
}

/** ADF's format when a date function is given none: the round-trip ('o') format. */
export const DEFAULT_FORMAT = 'o';

function addMonths(t: Instant, months: number): Instant {
  const d = new Date(t.ms);
  const target = new Date(
    Date.UTC(d.getUTCFullYear(), d.getUTCMonth() + months, 1, d.getUTCHours(), d.getUTCMinutes(), d.getUTCSeconds()),
  );
  // .NET AddMonths clamps to the last day of a shorter month.
  const last = new Date(Date.UTC(target.getUTCFullYear(), target.getUTCMonth() + 1, 0)).getUTCDate();
  target.setUTCDate(Math.min(d.getUTCDate(), last));
  return { ms: target.getTime() + d.getUTCMilliseconds(), sub: t.sub };
}

/** .NET DateTime's range, which ADF's date functions have: 0001-01-01T00:00:00Z to 9999-12-31T23:59:59.9999999Z. */
// Date.UTC maps years 0-99 to 1900-1999, so year 1 is written as its epoch milliseconds.
const MIN_DATE_MS = -62_135_596_800_000;
const MAX_DATE_MS = Date.UTC(9999, 11, 31, 23, 59, 59, 999);

function inRange(t: Instant, fn: string): Instant {
  if (!Number.isFinite(t.ms) || t.ms < MIN_DATE_MS || t.ms > MAX_DATE_MS) {
    throw new ExpressionError(`${fn}: the result is outside the range of dates (0001-01-01 to 9999-12-31)`);
  }
  return t;
}

export function addUnit(t: Instant, amount: number, unit: string, fn: string): Instant {
  return inRange(addUnitUnchecked(t, amount, unit, fn), fn);
}

function addUnitUnchecked(t: Instant, amount: number, unit: string, fn: string): Instant {
  if (!Number.isInteger(amount)) throw new ExpressionError(`${fn}: the interval must be an integer, got ${amount}`);
  const u = unit.toLowerCase().replace(/s$/, '');
  const mult: Record<string, number> = {
    second: 1000,
    minute: 60_000,
    hour: 3_600_000,
    day: 86_400_000,
    week: 604_800_000,
  };
  if (mult[u] !== undefined) return { ms: t.ms + amount * mult[u], sub: t.sub };
  if (u === 'month') return addMonths(t, amount);
  if (u === 'year') return addMonths(t, amount * 12);
  throw new ExpressionError(`${fn}: unknown time unit '${unit}' (Second, Minute, Hour, Day, Week, Month, Year)`);
}
