import type { CalendarSpec, DayOfWeek, IntervalSpec, Month, ScheduleSpec } from '@temporalio/client';
import { analyze, daysInMonth, ExpressionError, isSupportedFunction } from '../common/expressions';
import { ConfigError } from './errors';
import { isObject, keyOf, prop, str } from './json';
import { hiddenCharacterProblem } from '../common/paths';
import { windowsToIana } from './windows-zones';

/** One ADF ScheduleTrigger mapped onto Temporal: one Schedule per trigger × pipeline (docs/spec/adf-pipeline-semantics.md §5.1). */
export interface TriggerMapping {
  triggerName: string;
  /** Base id; the schedule of each pipeline is `${scheduleId}` when there is one pipeline, else suffixed with its name. */
  scheduleId: string;
  pipelines: { pipelineName: string; parameters: Record<string, unknown> }[];
  spec: ScheduleSpec;
  runtimeState: 'Started' | 'Stopped';
  warnings: string[];
  /** What the spec could not express (e.g. `monthDays: [-1]`); those fire times are missing from `spec`. */
  unmapped: string[];
}

type Obj = Record<string, unknown>;

const FREQUENCIES = ['Minute', 'Hour', 'Day', 'Week', 'Month'] as const;
type Frequency = (typeof FREQUENCIES)[number];
const DAYS: DayOfWeek[] = ['SUNDAY', 'MONDAY', 'TUESDAY', 'WEDNESDAY', 'THURSDAY', 'FRIDAY', 'SATURDAY'];
const MONTHS: Month[] = [
  'JANUARY',
  'FEBRUARY',
  'MARCH',
  'APRIL',
  'MAY',
  'JUNE',
  'JULY',
  'AUGUST',
  'SEPTEMBER',
  'OCTOBER',
  'NOVEMBER',
  'DECEMBER',
];
const MINUTE = 60_000;
const HOUR = 60 * MINUTE;
const DAY = 24 * HOUR;
/** The longest Go duration (2^63-1 ns), Temporal's bound for a schedule interval. */
const MAX_INTERVAL_MS = 9_223_372_036_854;
/** A frequency's length for the range check (a month counted as 31 days, the longest). */
const APPROX_UNIT_MS: Record<Frequency, number> = {
  Minute: MINUTE,
  Hour: HOUR,
  Day: DAY,
  Week: 7 * DAY,
  Month: 31 * DAY,
};

/** Wall-clock fields of a local time in a zone. */
interface Local {
  y: number;
  mo: number;
  d: number;
  h: number;
  mi: number;
  s: number;
}

function localIn(zone: string, utcMs: number): Local {
  const parts = new Intl.DateTimeFormat('en-US', {
    timeZone: zone,
    hourCycle: 'h23',
    year: 'numeric',
    month: 'numeric',
    day: 'numeric',
    hour: 'numeric',
    minute: 'numeric',
    second: 'numeric',
  }).formatToParts(new Date(utcMs));
  const get = (t: string) => Number(parts.find((p) => p.type === t)?.value);
  return { y: get('year'), mo: get('month'), d: get('day'), h: get('hour') % 24, mi: get('minute'), s: get('second') };
}

/** UTC instant of a wall-clock time in a zone (the earlier one when ambiguous, shifted forward when skipped). */
export function zonedToUtc(l: Local, zone: string): Date {
  const asUtc = Date.UTC(l.y, l.mo - 1, l.d, l.h, l.mi, l.s);
  let guess = asUtc;
  for (let i = 0; i < 3; i++) {
    const seen = localIn(zone, guess);
    const diff = Date.UTC(seen.y, seen.mo - 1, seen.d, seen.h, seen.mi, seen.s) - asUtc;
    if (diff === 0) break;
    guess -= diff;
  }
  return new Date(guess);
}

const TIME = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2})(?::(\d{2})(?:\.\d+)?)?(Z|[+-]\d{2}:\d{2})?$/i;

class TriggerReader {
  readonly problems: string[] = [];
  readonly warnings: string[] = [];
  readonly unmapped: string[] = [];
  constructor(readonly file: string) {}

  fail(path: string, message: string): undefined {
    this.problems.push(`${this.file}: ${path}: ${message}`);
    return undefined;
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

function dayOfWeek(name: unknown): DayOfWeek | undefined {
  return DAYS.find((d) => d === str(name).toUpperCase());
}

/**
 * Map a ScheduleTrigger JSON file onto a Temporal ScheduleSpec (docs/spec/adf-pipeline-semantics.md §5.1). Throws a ConfigError naming file and JSON
 * path for anything malformed; what is valid ADF but not expressible goes to `unmapped`, approximations to `warnings`.
 */
export function mapScheduleTrigger(file: string, json: unknown): TriggerMapping {
  const r = new TriggerReader(file);
  const bail = (): never => {
    throw new ConfigError(`invalid trigger ${file}:\n  ${r.problems.join('\n  ')}`, r.problems);
  };
  if (!isObject(json)) {
    r.fail('$', 'must be a JSON object');
    return bail();
  }
  const nameRaw = prop(json, 'name');
  const triggerName = typeof nameRaw === 'string' ? nameRaw : '';
  if (!triggerName) r.fail('$.name', 'is required');
  else if (hiddenCharacterProblem(triggerName)) r.fail('$.name', `trigger name ${hiddenCharacterProblem(triggerName)}`);
  const props = prop(json, 'properties');
  if (!isObject(props)) {
    r.fail('$.properties', 'is required ({ type: ScheduleTrigger, typeProperties: { recurrence }, pipelines })');
    return bail();
  }
  const pp = `$.${keyOf(json, 'properties')}`;
  const type = str(prop(props, 'type'));
  if (type !== 'ScheduleTrigger') {
    r.fail(
      `${pp}.${keyOf(props, 'type')}`,
      `trigger type '${type}' is not mapped: only ScheduleTrigger becomes a Temporal Schedule` +
        (type === 'TumblingWindowTrigger'
          ? ' (tumbling windows need per-window state, backfill and maxConcurrency: start runs with `retrain run` per window instead)'
          : ''),
    );
    return bail();
  }
  const stateRaw = prop(props, 'runtimeState');
  let runtimeState: 'Started' | 'Stopped' = 'Stopped';
  if (stateRaw !== undefined) {
    const s = str(stateRaw).toLowerCase();
    if (s === 'started') runtimeState = 'Started';
    else if (s === 'disabled') r.warnings.push(`${pp}.runtimeState: Disabled is mapped to a paused schedule`);
    else if (s !== 'stopped')
      r.fail(`${pp}.${keyOf(props, 'runtimeState')}`, `must be Started, Stopped or Disabled, got ${str(stateRaw)}`);
  }

  // pipelines: many-to-many, parameters may be trigger-scope expressions (evaluated when the run starts).
  const pipelines: TriggerMapping['pipelines'] = [];
  const pl = prop(props, 'pipelines');
  const plp = `${pp}.${keyOf(props, 'pipelines')}`;
  if (!Array.isArray(pl) || pl.length === 0) r.fail(plp, 'must list at least one { pipelineReference, parameters }');
  else {
    pl.forEach((p: unknown, i) => {
      const path = `${plp}[${i}]`;
      if (!isObject(p)) return r.fail(path, 'must be { pipelineReference, parameters }');
      const ref = prop(p, 'pipelineReference');
      const name = isObject(ref) ? prop(ref, 'referenceName') : undefined;
      if (typeof name !== 'string' || !name) return r.fail(`${path}.pipelineReference.referenceName`, 'is required');
      const params = prop(p, 'parameters') ?? {};
      if (!isObject(params)) return r.fail(`${path}.${keyOf(p, 'parameters')}`, 'must be an object');
      for (const [k, v] of Object.entries(params)) {
        try {
          const refs = analyze(v);
          for (const f of refs?.functions ?? []) {
            if (!isSupportedFunction(f)) r.fail(`${path}.parameters.${k}`, `function '${f}' is not supported`);
            else if (['pipeline', 'activity', 'variables'].includes(f.toLowerCase())) {
              r.fail(
                `${path}.parameters.${k}`,
                `${f}() cannot be used in trigger parameters (trigger scope: trigger())`,
              );
            }
          }
        } catch (e) {
          if (e instanceof ExpressionError)
            r.fail(`${path}.parameters.${k}`, `expression does not parse: ${e.message}`);
          else throw e;
        }
      }
      pipelines.push({ pipelineName: name, parameters: params });
      return undefined;
    });
  }

  const tp = prop(props, 'typeProperties');
  const rec = isObject(tp) ? prop(tp, 'recurrence') : undefined;
  const rp = `${pp}.typeProperties.recurrence`;
  if (!isObject(rec)) {
    r.fail(rp, 'is required ({ frequency, interval, startTime, timeZone, schedule })');
    return bail();
  }
  const freqRaw = prop(rec, 'frequency');
  const frequency: Frequency | undefined = FREQUENCIES.find((f) => f.toLowerCase() === str(freqRaw).toLowerCase());
  if (!frequency)
    r.fail(`${rp}.${keyOf(rec, 'frequency')}`, `'${str(freqRaw)}' is not one of ${FREQUENCIES.join(', ')}`);
  const intervalRaw = prop(rec, 'interval') ?? 1;
  const interval = Number(intervalRaw);
  if (!Number.isInteger(interval) || interval < 1)
    r.fail(`${rp}.${keyOf(rec, 'interval')}`, `must be an integer >= 1, got ${str(intervalRaw)}`);
  else if (frequency && interval * APPROX_UNIT_MS[frequency] > MAX_INTERVAL_MS) {
    // Temporal keeps intervals as Go durations (int64 nanoseconds): anything longer cannot be scheduled.
    r.fail(
      `${rp}.${keyOf(rec, 'interval')}`,
      `every ${interval} ${frequency.toLowerCase()}(s) is out of range: Temporal schedules intervals up to about 292 years`,
    );
  }

  const tzRaw = prop(rec, 'timeZone');
  let zone = 'Etc/UTC';
  if (tzRaw !== undefined && tzRaw !== null && tzRaw !== '') {
    const iana = typeof tzRaw === 'string' ? windowsToIana(tzRaw) : undefined;
    if (iana) zone = iana;
    else if (typeof tzRaw === 'string' && tzRaw.includes('/') && isIana(tzRaw)) {
      zone = tzRaw;
      r.warnings.push(
        `${rp}.timeZone: '${tzRaw}' is an IANA name; ADF expects a Windows id such as 'W. Europe Standard Time'`,
      );
    } else {
      r.fail(
        `${rp}.${keyOf(rec, 'timeZone')}`,
        `'${str(tzRaw)}' is not a Windows time-zone id known to CLDR (e.g. 'Pacific Standard Time', 'UTC')`,
      );
    }
  }
  const start = r.time(prop(rec, 'startTime'), `${rp}.${keyOf(rec, 'startTime')}`, zone);
  if (prop(rec, 'startTime') === undefined) r.problems.splice(-1, 1, `${file}: ${rp}.startTime: is required`);
  const endRaw = prop(rec, 'endTime');
  const end =
    endRaw !== undefined && endRaw !== null ? r.time(endRaw, `${rp}.${keyOf(rec, 'endTime')}`, zone) : undefined;
  if (start && end && end.date <= start.date) r.fail(`${rp}.endTime`, 'must be after startTime');

  const schedRaw = prop(rec, 'schedule');
  const sp = `${rp}.${keyOf(rec, 'schedule')}`;
  const sched: Obj = isObject(schedRaw) ? schedRaw : {};
  if (schedRaw !== undefined && !isObject(schedRaw)) r.fail(sp, 'must be an object');
  const minutes = r.ints(prop(sched, 'minutes'), `${sp}.minutes`, 0, 59);
  const hours = r.ints(prop(sched, 'hours'), `${sp}.hours`, 0, 23);
  const monthDays = r.ints(prop(sched, 'monthDays'), `${sp}.monthDays`, 1, 31, true);
  const weekDaysRaw = prop(sched, 'weekDays');
  let weekDays: DayOfWeek[] | undefined;
  if (weekDaysRaw !== undefined) {
    if (!Array.isArray(weekDaysRaw) || weekDaysRaw.length === 0)
      r.fail(`${sp}.weekDays`, 'must be a non-empty array of day names');
    else {
      weekDays = [];
      weekDaysRaw.forEach((w: unknown, i) => {
        const d = dayOfWeek(w);
        if (!d) r.fail(`${sp}.weekDays[${i}]`, `'${str(w)}' is not a day name (Monday ... Sunday)`);
        else if (!weekDays!.includes(d)) weekDays!.push(d);
      });
    }
  }
  const occRaw = prop(sched, 'monthlyOccurrences');
  const occurrences: { day: DayOfWeek; occurrence?: number }[] = [];
  if (occRaw !== undefined) {
    if (!Array.isArray(occRaw)) r.fail(`${sp}.monthlyOccurrences`, 'must be an array of { day, occurrence }');
    else {
      occRaw.forEach((o: unknown, i) => {
        const op = `${sp}.monthlyOccurrences[${i}]`;
        if (!isObject(o)) return r.fail(op, 'must be { day, occurrence }');
        const day = dayOfWeek(prop(o, 'day'));
        const occ = prop(o, 'occurrence');
        if (!day) return r.fail(`${op}.day`, `'${str(prop(o, 'day'))}' is not a day name`);
        if (
          occ !== undefined &&
          !(Number.isInteger(occ) && Math.abs(occ as number) >= 1 && Math.abs(occ as number) <= 5)
        ) {
          return r.fail(`${op}.occurrence`, 'must be 1..5 or -1..-5');
        }
        occurrences.push({ day, occurrence: occ as number | undefined });
        return undefined;
      });
    }
  }
  if (frequency && weekDays && frequency !== 'Week')
    r.fail(`${sp}.weekDays`, `weekDays applies to Week frequency only, not ${frequency}`);
  if (frequency && (monthDays || occurrences.length) && frequency !== 'Month') {
    r.fail(
      `${sp}.${monthDays ? 'monthDays' : 'monthlyOccurrences'}`,
      `applies to Month frequency only, not ${frequency}`,
    );
  }
  if (r.problems.length || !frequency || !start || !triggerName) return bail();

  const spec: ScheduleSpec = { startAt: start.date, ...(end ? { endAt: end.date } : {}) };
  const calendars: CalendarSpec[] = [];
  const intervals: IntervalSpec[] = [];
  // Missing hours/minutes default to those of startTime (ADF docs).
  const hs = hours ?? [start.local.h];
  const ms = minutes ?? [start.local.mi];
  const anchor = start.date.getTime();
  const everyN = (every: number, offsets: number[]) => {
    for (const o of offsets) intervals.push({ every, offset: ((o % every) + every) % every });
  };
  const driftNote = () => {
    if (zone !== 'Etc/UTC') {
      r.warnings.push(
        `${rp}: ${frequency} every ${interval} is mapped to fixed UTC intervals; across a DST change the local fire time moves by an hour (ADF follows local time)`,
      );
    }
  };

  switch (frequency) {
    case 'Minute':
    case 'Hour': {
      const unit = frequency === 'Minute' ? MINUTE : HOUR;
      if (frequency === 'Minute' && (hours || minutes))
        r.unmapped.push(`${sp}: schedule with Minute frequency (ignored)`);
      if (frequency === 'Hour' && minutes) {
        // Every N hours at the listed minutes: one interval per minute, on the grid anchored at startTime's hour.
        const hourAnchor = anchor - (start.local.mi * MINUTE + start.local.s * 1000);
        everyN(
          interval * HOUR,
          minutes.map((m) => hourAnchor + m * MINUTE),
        );
        if (hours) r.unmapped.push(`${sp}.hours: with Hour frequency (ignored)`);
      } else {
        everyN(interval * unit, [anchor]);
      }
      break;
    }
    case 'Day': {
      if (interval === 1) calendars.push({ hour: hs, minute: ms, comment: `ADF ${triggerName}: daily` });
      else {
        const midnight = zonedToUtc({ ...start.local, h: 0, mi: 0, s: 0 }, zone).getTime();
        everyN(
          interval * DAY,
          hs.flatMap((h) => ms.map((m) => midnight + h * HOUR + m * MINUTE)),
        );
        driftNote();
      }
      break;
    }
    case 'Week': {
      const startDow = DAYS[new Date(Date.UTC(start.local.y, start.local.mo - 1, start.local.d)).getUTCDay()];
      const days = weekDays ?? [startDow];
      if (interval === 1)
        calendars.push({ dayOfWeek: days, hour: hs, minute: ms, comment: `ADF ${triggerName}: weekly` });
      else {
        const dowIndex = DAYS.indexOf(startDow);
        const weekStart = zonedToUtc({ ...start.local, h: 0, mi: 0, s: 0 }, zone).getTime() - dowIndex * DAY;
        everyN(
          interval * 7 * DAY,
          days.flatMap((d) =>
            hs.flatMap((h) => ms.map((m) => weekStart + DAYS.indexOf(d) * DAY + h * HOUR + m * MINUTE)),
          ),
        );
        driftNote();
      }
      break;
    }
    case 'Month': {
      let months: CalendarSpec['month'] = '*';
      if (interval > 1) {
        if (12 % interval === 0) {
          const first = ((start.local.mo - 1) % interval) + 1;
          months = { start: MONTHS[first - 1], end: 'DECEMBER', step: interval };
        } else {
          // A calendar can only step months within a year; every 5 months from a start drifts across years, and an
          // approximation (every month) would run the pipeline 5 times too often.
          r.fail(
            `${rp}.${keyOf(rec, 'interval')}`,
            `every ${interval} months cannot be expressed exactly as a Temporal schedule (month steps must divide 12: ` +
              `1, 2, 3, 4, 6 or 12); use one of those, or one trigger per month`,
          );
          return bail();
        }
      }
      const positive = monthDays?.filter((d) => d > 0) ?? [];
      const negative = monthDays?.filter((d) => d < 0) ?? [];
      for (const n of negative) r.unmapped.push(`${sp}.monthDays: ${n} (counted from the month's end)`);
      if (positive.length) {
        calendars.push({
          month: months,
          dayOfMonth: positive,
          hour: hs,
          minute: ms,
          comment: `ADF ${triggerName}: monthDays`,
        });
        if (positive.some((d) => d > 28))
          r.warnings.push(`${sp}.monthDays: days 29-31 are skipped in shorter months, as in ADF`);
      }
      for (const o of occurrences) {
        if (o.occurrence === undefined) {
          calendars.push({
            month: months,
            dayOfWeek: o.day,
            hour: hs,
            minute: ms,
            comment: `ADF ${triggerName}: every ${o.day}`,
          });
        } else if (o.occurrence > 0) {
          const k = o.occurrence;
          // The k-th weekday of a month falls on day 7k-6 … 7k.
          calendars.push({
            month: months,
            dayOfWeek: o.day,
            dayOfMonth: { start: 7 * k - 6, end: Math.min(7 * k, 31) },
            hour: hs,
            minute: ms,
            comment: `ADF ${triggerName}: ${o.day} #${k}`,
          });
        } else {
          r.unmapped.push(
            `${sp}.monthlyOccurrences: ${o.day} occurrence ${o.occurrence} (counted from the month's end)`,
          );
        }
      }
      if (!monthDays && !occurrences.length) {
        calendars.push({
          month: months,
          dayOfMonth: start.local.d,
          hour: hs,
          minute: ms,
          comment: `ADF ${triggerName}: monthly`,
        });
      }
      break;
    }
  }
  if (calendars.length) {
    spec.calendars = calendars;
    spec.timezone = zone;
  }
  if (intervals.length) spec.intervals = intervals;
  return {
    triggerName,
    scheduleId: `adf-trigger-${triggerName}`,
    pipelines,
    spec,
    runtimeState,
    warnings: r.warnings,
    unmapped: r.unmapped,
  };
}

function isIana(zone: string): boolean {
  try {
    new Intl.DateTimeFormat('en-US', { timeZone: zone });
    return true;
  } catch {
    return false;
  }
}
