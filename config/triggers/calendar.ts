import type { DayOfWeek, Month } from '@temporalio/client';
import { str } from '../json';

/** The units of an ADF recurrence, and the names Temporal gives days and months. */

export const FREQUENCIES = ['Minute', 'Hour', 'Day', 'Week', 'Month'] as const;
export type Frequency = (typeof FREQUENCIES)[number];
export const DAYS: DayOfWeek[] = ['SUNDAY', 'MONDAY', 'TUESDAY', 'WEDNESDAY', 'THURSDAY', 'FRIDAY', 'SATURDAY'];
export const MONTHS: Month[] = [
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
export const MINUTE = 60_000;
export const HOUR = 60 * MINUTE;
export const DAY = 24 * HOUR;
/** The longest Go duration (2^63-1 ns), Temporal's bound for a schedule interval. */
export const MAX_INTERVAL_MS = 9_223_372_036_854;
/** A frequency's length for the range check (a month counted as 31 days, the longest). */
export const APPROX_UNIT_MS: Record<Frequency, number> = {
  Minute: MINUTE,
  Hour: HOUR,
  Day: DAY,
  Week: 7 * DAY,
  Month: 31 * DAY,
};

export function dayOfWeek(name: unknown): DayOfWeek | undefined {
  return DAYS.find((d) => d === str(name).toUpperCase());
}
