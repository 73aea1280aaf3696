import type { DayOfWeek } from '@temporalio/client';
import { isObject, keyOf, prop, str } from '../json';
import { windowsToIana } from '../windows-zones';
import type { Frequency } from './calendar';
import { APPROX_UNIT_MS, dayOfWeek, FREQUENCIES, MAX_INTERVAL_MS } from './calendar';
import type { TriggerReader } from './reader';
import type { Local } from './zoned-time';
import { isIana } from './zoned-time';

type Obj = Record<string, unknown>;

/** `typeProperties.recurrence` of a ScheduleTrigger, checked; fields are undefined where the file is wrong. */
export interface Recurrence {
  /** JSON paths of the recurrence and of its schedule, for messages. */
  rp: string;
  sp: string;
  rec: Obj;
  frequency?: Frequency;
  interval: number;
  /** IANA zone the wall-clock times are in. */
  zone: string;
  start?: { date: Date; local: Local };
  end?: { date: Date; local: Local };
  minutes?: number[];
  hours?: number[];
  monthDays?: number[];
  weekDays?: DayOfWeek[];
  occurrences: { day: DayOfWeek; occurrence?: number }[];
}

/** Read the recurrence in ADF's order of fields: frequency and interval, zone, window, schedule. */
export function readRecurrence(r: TriggerReader, props: Obj, pp: string): Recurrence | undefined {
  const tp = prop(props, 'typeProperties');
  const rec = isObject(tp) ? prop(tp, 'recurrence') : undefined;
  const rp = `${pp}.typeProperties.recurrence`;
  if (!isObject(rec)) {
    r.fail(rp, 'is required ({ frequency, interval, startTime, timeZone, schedule })');
    return undefined;
  }
  const { frequency, interval } = readFrequency(r, rec, rp);
  const zone = readTimeZone(r, rec, rp);
  const { start, end } = readWindow(r, rec, rp, zone);
  const sp = `${rp}.${keyOf(rec, 'schedule')}`;
  return { rp, sp, rec, frequency, interval, zone, start, end, ...readSchedule(r, rec, sp, frequency) };
}

function readFrequency(r: TriggerReader, rec: Obj, rp: string): { frequency?: Frequency; interval: number } {
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
  return { frequency, interval };
}

/** ADF writes Windows zone ids; an IANA name is accepted with a warning. No zone is UTC. */
function readTimeZone(r: TriggerReader, rec: Obj, rp: string): string {
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
  return zone;
}

/** startTime (required) and endTime, in the trigger's zone. */
function readWindow(r: TriggerReader, rec: Obj, rp: string, zone: string): Pick<Recurrence, 'start' | 'end'> {
  const startRaw = prop(rec, 'startTime');
  const start =
    startRaw === undefined
      ? r.fail(`${rp}.startTime`, 'is required')
      : r.time(startRaw, `${rp}.${keyOf(rec, 'startTime')}`, zone);
  const endRaw = prop(rec, 'endTime');
  const end =
    endRaw !== undefined && endRaw !== null ? r.time(endRaw, `${rp}.${keyOf(rec, 'endTime')}`, zone) : undefined;
  if (start && end && end.date <= start.date) r.fail(`${rp}.endTime`, 'must be after startTime');
  return { start, end };
}

/** `schedule`: minutes, hours, monthDays, weekDays, monthlyOccurrences, each checked against the frequency. */
function readSchedule(
  r: TriggerReader,
  rec: Obj,
  sp: string,
  frequency: Frequency | undefined,
): Pick<Recurrence, 'minutes' | 'hours' | 'monthDays' | 'weekDays' | 'occurrences'> {
  const schedRaw = prop(rec, 'schedule');
  const sched: Obj = isObject(schedRaw) ? schedRaw : {};
  if (schedRaw !== undefined && !isObject(schedRaw)) r.fail(sp, 'must be an object');
  const minutes = r.ints(prop(sched, 'minutes'), `${sp}.minutes`, 0, 59);
  const hours = r.ints(prop(sched, 'hours'), `${sp}.hours`, 0, 23);
  const monthDays = r.ints(prop(sched, 'monthDays'), `${sp}.monthDays`, 1, 31, true);
  const weekDays = readWeekDays(r, prop(sched, 'weekDays'), sp);
  const occurrences = readMonthlyOccurrences(r, prop(sched, 'monthlyOccurrences'), sp);
  if (frequency && weekDays && frequency !== 'Week')
    r.fail(`${sp}.weekDays`, `weekDays applies to Week frequency only, not ${frequency}`);
  if (frequency && (monthDays || occurrences.length) && frequency !== 'Month') {
    r.fail(
      `${sp}.${monthDays ? 'monthDays' : 'monthlyOccurrences'}`,
      `applies to Month frequency only, not ${frequency}`,
    );
  }
  return { minutes, hours, monthDays, weekDays, occurrences };
}

function readWeekDays(r: TriggerReader, weekDaysRaw: unknown, sp: string): DayOfWeek[] | undefined {
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
  return weekDays;
}

function readMonthlyOccurrences(r: TriggerReader, occRaw: unknown, sp: string): Recurrence['occurrences'] {
  const occurrences: Recurrence['occurrences'] = [];
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
  return occurrences;
}
