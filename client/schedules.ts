import type {
  Backfill,
  Client,
  ScheduleHandle,
  ScheduleOptionsStartWorkflowAction,
  ScheduleOverlapPolicy,
  ScheduleSpec,
} from '@temporalio/client';
import { ScheduleOverlapPolicy as Overlap } from '@temporalio/client';
import type { Workflow } from '@temporalio/common';
import { PipelineAttr } from '../common/search-attributes';
import type { RunPipelineInput } from '../common/pipeline-definition';
import type { RetrainAndUpdateInput } from '../common/types';
import { hasSearchAttributes, retrainStartOptions } from './run';

/**
 * Temporal Schedules for this product, shared by `retrain schedule` and `retrain triggers sync`.
 *
 * Defaults (docs/spec/adf-pipeline-semantics.md §5.1):
 * - overlap SKIP: a retrain never overlaps itself; a fire while the last run is still going is dropped, not queued.
 * - catch-up window 1 minute: ADF discards occurrences in the past, so creating, unpausing or a server outage never
 *   replays a backlog of retrains. Use `backfill` to run past occurrences on purpose.
 * - pause on failure: off (ADF keeps firing); on request, a failed run pauses the schedule with a note.
 */

export const OVERLAP_CHOICES: Record<string, ScheduleOverlapPolicy> = {
  skip: Overlap.SKIP,
  'buffer-one': Overlap.BUFFER_ONE,
  'buffer-all': Overlap.BUFFER_ALL,
  'cancel-other': Overlap.CANCEL_OTHER,
  'terminate-other': Overlap.TERMINATE_OTHER,
  'allow-all': Overlap.ALLOW_ALL,
};

export interface SchedulePolicies {
  overlap: ScheduleOverlapPolicy;
  catchupWindow: string;
  pauseOnFailure: boolean;
}

export const DEFAULT_POLICIES: SchedulePolicies = {
  overlap: Overlap.SKIP,
  catchupWindow: '1m',
  pauseOnFailure: false,
};

/** Memo key marking schedules that `triggers sync` owns, so it never prunes a schedule someone made by hand. */
export const MANAGED_BY = 'retrain triggers sync';

export function pipelineAction(o: {
  scheduleId: string;
  taskQueue: string;
  pipeline: string;
  parameters: Record<string, unknown>;
  attrs: boolean;
  trigger?: string;
  memo?: Record<string, unknown>;
}): ScheduleOptionsStartWorkflowAction<Workflow> {
  const input: RunPipelineInput = {
    pipeline: o.pipeline,
    parameters: o.parameters,
    // ADF's @pipeline().TriggerName / TriggerType: a hand-made schedule is a schedule trigger named after itself.
    trigger: { type: 'ScheduleTrigger', name: o.trigger ?? o.scheduleId, id: o.scheduleId },
    options: { searchAttributes: o.attrs },
  };
  return {
    type: 'startWorkflow',
    workflowType: 'runPipeline',
    taskQueue: o.taskQueue,
    // The server appends the nominal time, so each run's id says which occurrence it is.
    workflowId: o.scheduleId,
    args: [input],
    memo: { pipeline: o.pipeline, ...(o.trigger && { trigger: o.trigger }), ...o.memo },
    typedSearchAttributes: o.attrs ? [{ key: PipelineAttr, value: o.pipeline }] : undefined,
    staticSummary: o.trigger
      ? `Pipeline ${o.pipeline} · trigger ${o.trigger}`
      : `Pipeline ${o.pipeline} · schedule ${o.scheduleId}`,
    staticDetails: `Started by Temporal Schedule ${o.scheduleId}${o.trigger ? ` (ADF trigger ${o.trigger})` : ''}`,
  };
}

export function retrainAction(o: {
  scheduleId: string;
  taskQueue: string;
  input: RetrainAndUpdateInput;
  attrs: boolean;
}): ScheduleOptionsStartWorkflowAction<Workflow> {
  const start = retrainStartOptions(o.input, o.attrs);
  return {
    type: 'startWorkflow',
    workflowType: 'retrainAndUpdate',
    taskQueue: o.taskQueue,
    workflowId: o.scheduleId,
    ...start,
    staticDetails: `${start.staticDetails}. Started by Temporal Schedule ${o.scheduleId}`,
  };
}

export async function namespaceHasAttributes(client: Client): Promise<boolean> {
  return hasSearchAttributes(client, client.options.namespace);
}

/**
 * Trigger now, with the schedule's own overlap policy. The SDK's `trigger()` defaults to ALLOW_ALL, which would
 * start a second retrain next to a running one even on a SKIP schedule.
 */
export async function triggerWithOwnPolicy(handle: ScheduleHandle): Promise<ScheduleOverlapPolicy> {
  const { policies } = await handle.describe();
  await handle.trigger(policies.overlap);
  return policies.overlap;
}

/**
 * Backfill [start, end): every occurrence in the range runs now. BUFFER_ALL by default, so they run one after another
 * (oldest first) and still never overlap; the schedule's own SKIP would drop all but the first.
 */
export async function backfillSchedule(
  handle: ScheduleHandle,
  start: Date,
  end: Date,
  overlap: ScheduleOverlapPolicy = Overlap.BUFFER_ALL,
): Promise<ScheduleOverlapPolicy> {
  const backfill: Backfill = { start, end, overlap };
  await handle.backfill(backfill);
  return overlap;
}

/** A readable one-liner of a schedule's spec, for tables. */
export function describeSpec(spec: {
  calendars?: unknown[];
  intervals?: { every: number | string; offset?: number | string }[];
  cronExpressions?: string[];
  timezone?: string;
}): string {
  const parts: string[] = [];
  for (const c of spec.cronExpressions ?? []) parts.push(`cron '${c}'`);
  for (const i of spec.intervals ?? []) {
    const every = typeof i.every === 'number' ? humanMs(i.every) : i.every;
    const offset = i.offset ? (typeof i.offset === 'number' ? humanMs(i.offset) : i.offset) : undefined;
    parts.push(`every ${every}${offset && offset !== '0s' ? ` (offset ${offset})` : ''}`);
  }
  for (const c of spec.calendars ?? []) parts.push(`calendar ${calendarText(c)}`);
  if (spec.timezone) parts.push(`tz ${spec.timezone}`);
  return parts.join('; ') || '(none)';
}

function humanMs(ms: number): string {
  const units: [number, string][] = [
    [86_400_000, 'd'],
    [3_600_000, 'h'],
    [60_000, 'm'],
    [1000, 's'],
  ];
  for (const [size, unit] of units) if (ms >= size && ms % size === 0) return `${ms / size}${unit}`;
  return `${ms}ms`;
}

/** What a described calendar field holds when the schedule did not restrict it: left out of the summary. */
const UNRESTRICTED: Record<string, string> = {
  month: 'JANUARY-DECEMBER',
  dayOfMonth: '1-31',
  dayOfWeek: 'SUNDAY-SATURDAY',
  second: '0',
};

/** Ranges as the SDK describes them (`[{start, end, step}]`) → `dayOfWeek=MONDAY,THURSDAY hour=2 minute=30`. */
function calendarText(c: unknown): string {
  const fields = ['month', 'dayOfMonth', 'dayOfWeek', 'hour', 'minute', 'second'];
  const obj = (c ?? {}) as Record<string, unknown>;
  const text = fields
    .map((f) => {
      const v = obj[f];
      if (v === undefined || v === '*' || (Array.isArray(v) && v.length === 0)) return undefined;
      const ranges = Array.isArray(v) ? v : [v];
      const r = ranges
        .map((x: unknown) => {
          if (x && typeof x === 'object') {
            const { start, end, step } = x as { start: string | number; end?: string | number; step?: number };
            const base = end !== undefined && end !== start ? `${String(start)}-${String(end)}` : String(start);
            return step && step !== 1 ? `${base}/${step}` : base;
          }
          return String(x);
        })
        .join(',');
      return r === UNRESTRICTED[f] ? undefined : `${f}=${r}`;
    })
    .filter(Boolean)
    .join(' ');
  return text || 'every minute';
}

export type { ScheduleSpec };
