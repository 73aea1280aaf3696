import type { CalendarSpec, IntervalSpec, ScheduleSpec } from '@temporalio/client';
import { keyOf } from '../json';
import type { Frequency } from './calendar';
import { DAY, DAYS, HOUR, MINUTE, MONTHS } from './calendar';
import type { TriggerReader } from './reader';
import type { Recurrence } from './recurrence';
import type { Local } from './zoned-time';
import { zonedToUtc } from './zoned-time';

/** A recurrence whose frequency and start are known: what the spec is built from. */
type Valid = Recurrence & { frequency: Frequency; start: { date: Date; local: Local } };

/** What every frequency's mapping shares: the reader, the fire hours and minutes, and the specs built so far. */
interface Build {
  r: TriggerReader;
  rc: Valid;
  triggerName: string;
  hs: number[];
  ms: number[];
  calendars: CalendarSpec[];
  intervals: IntervalSpec[];
}

/**
 * The Temporal ScheduleSpec of a checked recurrence (docs/spec/adf-pipeline-semantics.md §5.1): calendars where local
 * time is kept exactly, fixed intervals otherwise. Undefined, with an error, when no spec runs it exactly.
 */
export function buildSpec(r: TriggerReader, rc: Valid, triggerName: string): ScheduleSpec | undefined {
  const { start, end } = rc;
  const spec: ScheduleSpec = { startAt: start.date, ...(end ? { endAt: end.date } : {}) };
  const b: Build = {
    r,
    rc,
    triggerName,
    // Missing hours/minutes default to those of startTime (ADF docs).
    hs: rc.hours ?? [start.local.h],
    ms: rc.minutes ?? [start.local.mi],
    calendars: [],
    intervals: [],
  };
  switch (rc.frequency) {
    case 'Minute':
    case 'Hour':
      minutesOrHours(b);
      break;
    case 'Day':
      days(b);
      break;
    case 'Week':
      weeks(b);
      break;
    case 'Month':
      if (!months(b)) return undefined;
      break;
  }
  if (b.calendars.length) {
    spec.calendars = b.calendars;
    spec.timezone = rc.zone;
  }
  if (b.intervals.length) spec.intervals = b.intervals;
  return spec;
}

function everyN(b: Build, every: number, offsets: number[]): void {
  for (const o of offsets) b.intervals.push({ every, offset: ((o % every) + every) % every });
}

function driftNote(b: Build): void {
  if (b.rc.zone !== 'Etc/UTC') {
    b.r.warnings.push(
      `${b.rc.rp}: ${b.rc.frequency} every ${b.rc.interval} is mapped to fixed UTC intervals; across a DST change the local fire time moves by an hour (ADF follows local time)`,
    );
  }
}

function minutesOrHours(b: Build): void {
  const { r, rc } = b;
  const { frequency, interval, hours, minutes, sp, start } = rc;
  const anchor = start.date.getTime();
  const unit = frequency === 'Minute' ? MINUTE : HOUR;
  if (frequency === 'Minute' && (hours || minutes)) r.unmapped.push(`${sp}: schedule with Minute frequency (ignored)`);
  if (frequency === 'Hour' && minutes) {
    // Every N hours at the listed minutes: one interval per minute, on the grid anchored at startTime's hour.
    const hourAnchor = anchor - (start.local.mi * MINUTE + start.local.s * 1000);
    everyN(
      b,
      interval * HOUR,
      minutes.map((m) => hourAnchor + m * MINUTE),
    );
    if (hours) r.unmapped.push(`${sp}.hours: with Hour frequency (ignored)`);
  } else {
    everyN(b, interval * unit, [anchor]);
  }
}

function days(b: Build): void {
  const { rc, hs, ms, triggerName } = b;
  const { interval, start, zone } = rc;
  if (interval === 1) b.calendars.push({ hour: hs, minute: ms, comment: `ADF ${triggerName}: daily` });
  else {
    const midnight = zonedToUtc({ ...start.local, h: 0, mi: 0, s: 0 }, zone).getTime();
    everyN(
      b,
      interval * DAY,
      hs.flatMap((h) => ms.map((m) => midnight + h * HOUR + m * MINUTE)),
    );
    driftNote(b);
  }
}

function weeks(b: Build): void {
  const { rc, hs, ms, triggerName } = b;
  const { interval, start, zone, weekDays } = rc;
  const startDow = DAYS[new Date(Date.UTC(start.local.y, start.local.mo - 1, start.local.d)).getUTCDay()];
  const days = weekDays ?? [startDow];
  if (interval === 1)
    b.calendars.push({ dayOfWeek: days, hour: hs, minute: ms, comment: `ADF ${triggerName}: weekly` });
  else {
    const dowIndex = DAYS.indexOf(startDow);
    const weekStart = zonedToUtc({ ...start.local, h: 0, mi: 0, s: 0 }, zone).getTime() - dowIndex * DAY;
    everyN(
      b,
      interval * 7 * DAY,
      days.flatMap((d) => hs.flatMap((h) => ms.map((m) => weekStart + DAYS.indexOf(d) * DAY + h * HOUR + m * MINUTE))),
    );
    driftNote(b);
  }
}

/** False, with an error, when the month step cannot be expressed. */
function months(b: Build): boolean {
  const { r, rc, hs, ms, triggerName } = b;
  const { interval, start, monthDays, occurrences, rp, rec, sp } = rc;
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
      return false;
    }
  }
  const positive = monthDays?.filter((d) => d > 0) ?? [];
  const negative = monthDays?.filter((d) => d < 0) ?? [];
  for (const n of negative) r.unmapped.push(`${sp}.monthDays: ${n} (counted from the month's end)`);
  if (positive.length) {
    b.calendars.push({
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
      b.calendars.push({
        month: months,
        dayOfWeek: o.day,
        hour: hs,
        minute: ms,
        comment: `ADF ${triggerName}: every ${o.day}`,
      });
    } else if (o.occurrence > 0) {
      const k = o.occurrence;
      // The k-th weekday of a month falls on day 7k-6 … 7k.
      b.calendars.push({
        month: months,
        dayOfWeek: o.day,
        dayOfMonth: { start: 7 * k - 6, end: Math.min(7 * k, 31) },
        hour: hs,
        minute: ms,
        comment: `ADF ${triggerName}: ${o.day} #${k}`,
      });
    } else {
      r.unmapped.push(`${sp}.monthlyOccurrences: ${o.day} occurrence ${o.occurrence} (counted from the month's end)`);
    }
  }
  if (!monthDays && !occurrences.length) {
    b.calendars.push({
      month: months,
      dayOfMonth: start.local.d,
      hour: hs,
      minute: ms,
      comment: `ADF ${triggerName}: monthly`,
    });
  }
  return true;
}
