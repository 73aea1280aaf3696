import type { WorkflowHandle } from '@temporalio/client';

/**
 * A run's history cut into the parts that make it up, so a change that trims events shows where. Bytes are the
 * server's own figure (`historySizeBytes`): what it stores and a replaying worker downloads.
 */

export const HISTORY_PARTS = [
  'workflow tasks',
  'activities',
  'upserts',
  'timers',
  'markers',
  'updates',
  'signals',
  'children',
  'other',
] as const;
export type HistoryPart = (typeof HISTORY_PARTS)[number];

export interface HistoryCount {
  events: number;
  bytes: number;
  /** Activity tasks scheduled: what the ceiling's empty workflows repeat. */
  activities: number;
  parts: Record<HistoryPart, number>;
}

/** An event's kind from the one `…EventAttributes` field it carries (the SDK's decoded history has no type names). */
function partOf(event: object): HistoryPart {
  const fields = event as Record<string, unknown>;
  // protobufjs names the set member of the `attributes` oneof; a plain object (JSON history) only has the field.
  const name =
    (typeof fields.attributes === 'string' ? fields.attributes : undefined) ??
    Object.keys(event).find((k) => k.endsWith('EventAttributes') && fields[k]) ??
    '';
  if (name.startsWith('workflowTask')) return 'workflow tasks';
  if (name.startsWith('activityTask')) return 'activities';
  if (name.startsWith('upsertWorkflowSearchAttributes') || name.startsWith('workflowPropertiesModified'))
    return 'upserts';
  if (name.startsWith('timer')) return 'timers';
  if (name.startsWith('markerRecorded')) return 'markers';
  if (name.startsWith('workflowExecutionUpdate')) return 'updates';
  if (/signal/i.test(name)) return 'signals';
  if (/childWorkflow|externalWorkflow/.test(name)) return 'children';
  return 'other';
}

export async function countHistory(handle: WorkflowHandle): Promise<HistoryCount> {
  const history = await handle.fetchHistory();
  const events = history.events ?? [];
  const parts = Object.fromEntries(HISTORY_PARTS.map((p) => [p, 0])) as Record<HistoryPart, number>;
  let activities = 0;
  for (const e of events) {
    parts[partOf(e)] += 1;
    if (e.activityTaskScheduledEventAttributes) activities += 1;
  }
  const described = await handle.describe();
  const size = described.raw.workflowExecutionInfo?.historySizeBytes;
  const bytes = size === null || size === undefined ? Number.NaN : typeof size === 'number' ? size : size.toNumber();
  return { events: events.length, bytes, activities, parts };
}

/** `workflow tasks 15, activities 21, upserts 10, …` without the zero parts. */
export function describeParts(parts: Record<HistoryPart, number>): string {
  return HISTORY_PARTS.filter((p) => parts[p] > 0)
    .map((p) => `${p} ${parts[p]}`)
    .join(', ');
}

/** Where a training run's time went, from its history's event times (ms). */
export interface RunPhases {
  /** Workflow started → startTrainingJob completed: the job's clock starts here. */
  toJobStart: number;
  /** startTrainingJob completed → the BES wait completed: the job's length plus the time to see its end. */
  job: number;
  /** The BES wait completed → the run closed (locating the model, workflow tasks). */
  afterJob: number;
}

function ms(t: { seconds?: unknown; nanos?: number | null } | null | undefined): number {
  const s = t?.seconds;
  const secs =
    typeof s === 'number'
      ? s
      : s && typeof s === 'object' && 'toNumber' in s
        ? (s as { toNumber(): number }).toNumber()
        : 0;
  return secs * 1000 + Math.round((t?.nanos ?? 0) / 1e6);
}

export async function runPhases(handle: WorkflowHandle): Promise<RunPhases | undefined> {
  const events = (await handle.fetchHistory()).events ?? [];
  const typeOf = new Map<string, string>();
  let started: number | undefined;
  let jobStart: number | undefined;
  let jobEnd: number | undefined;
  let closed: number | undefined;
  for (const e of events) {
    const at = ms(e.eventTime);
    if (e.workflowExecutionStartedEventAttributes) started = at;
    if (e.activityTaskScheduledEventAttributes) {
      typeOf.set(String(e.eventId), e.activityTaskScheduledEventAttributes.activityType?.name ?? '');
    }
    const done = e.activityTaskCompletedEventAttributes;
    if (done) {
      const type = typeOf.get(String(done.scheduledEventId));
      if (type === 'startTrainingJob') jobStart = at;
      if (type === 'waitForTrainingJob') jobEnd = at;
    }
    if (e.workflowExecutionCompletedEventAttributes) closed = at;
  }
  if (started === undefined || jobStart === undefined || jobEnd === undefined || closed === undefined) return undefined;
  return { toJobStart: jobStart - started, job: jobEnd - jobStart, afterJob: closed - jobEnd };
}
