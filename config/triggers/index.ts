/** ADF ScheduleTriggers → Temporal Schedules: read a trigger file and map it onto a ScheduleSpec. */
export type { TriggerMapping } from './schedule-trigger';
export { mapScheduleTrigger, readScheduleTrigger } from './schedule-trigger';
export { zonedToUtc } from './zoned-time';
