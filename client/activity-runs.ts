import type { Client, WorkflowExecutionDescription } from '@temporalio/client';
import type { temporal } from '@temporalio/proto';
import { noWorkerNote, taskQueuePollers, troubleNote, workflowTaskTrouble } from './run-health';
import { defaultPayloadConverter } from '@temporalio/common';
import { optionalTsToMs } from '@temporalio/common/lib/time';
import { PhaseAttr, PipelineAttr, TrainingJobIdAttr } from '../common/search-attributes';
import type {
  ActivityRunRecord,
  ActivityRunStatus,
  ApprovalStatus,
  GateStatus,
  RunStatus,
  UpdateStatus,
} from '../common/types';
import { statusQuery } from '../workflows/queries';
import { redact, stripUrlQueries } from './redact';

/**
 * The ADF monitoring view of one run: a pipeline run and its activity runs (docs/spec/adf-pipeline-semantics.md §6.1). The
 * workflow's `status` query is the source when it carries `activityRuns`; when it does not (older workflow code) or
 * cannot answer (no worker is polling), the records are rebuilt from the workflow history, which the server always
 * has. Everything here is redacted before it is returned.
 */

/** Both sources produce common/types.ts `ActivityRunRecord`, so either renders the same. */
export type ActivityRunView = ActivityRunRecord;

export interface PipelineRunView {
  workflowId: string;
  runId: string;
  workflowType: string;
  pipeline: string;
  /** ADF pipeline-run status: Queued, InProgress, Succeeded, Failed, Canceling, Cancelled. */
  runStatus: string;
  /** The Temporal execution status, for operators who know Temporal's words. */
  temporalStatus: string;
  phase: string | null;
  trainingJobId: string | null;
  runStart: string | null;
  runEnd: string | null;
  durationMs: number | null;
  message: string | null;
  /** What Temporal says is wrong with a running run: no worker polling its task queue, a failing workflow task. */
  warnings: string[];
  /** Where the activity records came from. */
  source: 'query' | 'history';
  /** Each scoring-service update's state and outcome (Deployed, Superseded, RolledBack, …); null without the query. */
  updates: Record<string, UpdateStatus> | null;
  /** The quality gate's verdict with its numbers, when the pipeline has a gate and the query answered. */
  gate: GateStatus | null;
  /** Approval: waiting (with its deadline) or decided (by whom), when the pipeline requires it. */
  approval: ApprovalStatus | null;
  activityRuns: ActivityRunView[];
}

/** Older workflow code answers the query without the ADF fields: treat every field as optional. */
type StatusWithActivityRuns = Partial<RunStatus>;

const QUERY_TIMEOUT_MS = 5_000;

const ADF_RUN_STATUS: Record<string, string> = {
  RUNNING: 'InProgress',
  COMPLETED: 'Succeeded',
  FAILED: 'Failed',
  TIMED_OUT: 'Failed',
  TERMINATED: 'Failed',
  CANCELLED: 'Cancelled',
  CONTINUED_AS_NEW: 'Succeeded',
};

function iso(ms: number | undefined | null): string | null {
  return ms === undefined || ms === null ? null : new Date(ms).toISOString();
}

export async function loadPipelineRun(client: Client, workflowId: string): Promise<PipelineRunView> {
  const handle = client.workflow.getHandle(workflowId);
  const desc = await handle.describe();
  let status: StatusWithActivityRuns | undefined;
  try {
    // A run with no worker polling would make the query wait for the server's own timeout: history answers instead.
    status = await client.connection.withDeadline(Date.now() + QUERY_TIMEOUT_MS, () => handle.query(statusQuery));
  } catch {
    status = undefined;
  }
  const warnings: string[] = [];
  if (desc.status.name === 'RUNNING') {
    const pollers = await taskQueuePollers(client, desc.taskQueue).catch(() => undefined);
    if (pollers && pollers.workflow === 0 && pollers.activity === 0) warnings.push(noWorkerNote(desc.taskQueue));
    const trouble = await workflowTaskTrouble(client, desc).catch(() => undefined);
    if (trouble) warnings.push(troubleNote(trouble));
  }
  let activityRuns: ActivityRunView[];
  let source: PipelineRunView['source'];
  if (status && Array.isArray(status.activityRuns) && status.activityRuns.length > 0) {
    activityRuns = status.activityRuns;
    source = 'query';
  } else {
    activityRuns = await activityRunsFromHistory(client, workflowId, desc);
    source = 'history';
  }
  const start = desc.startTime.getTime();
  const end = desc.closeTime?.getTime();
  const memo = desc.memo ?? {};
  const temporalStatus = desc.status.name;
  let runStatus = status?.runStatus ?? ADF_RUN_STATUS[temporalStatus] ?? temporalStatus;
  // The query reports the workflow's own view; once Temporal has closed the run, its status is the final word.
  if (end !== undefined) runStatus = ADF_RUN_STATUS[temporalStatus] ?? runStatus;
  return {
    workflowId,
    runId: desc.runId,
    workflowType: desc.type,
    pipeline:
      status?.pipeline ??
      desc.typedSearchAttributes.get(PipelineAttr) ??
      (typeof memo.pipeline === 'string' ? memo.pipeline : desc.type),
    runStatus,
    temporalStatus,
    phase: status?.phase ?? desc.typedSearchAttributes.get(PhaseAttr) ?? null,
    trainingJobId: status?.jobId ?? desc.typedSearchAttributes.get(TrainingJobIdAttr) ?? null,
    runStart: iso(start),
    runEnd: iso(end),
    durationMs: (end ?? Date.now()) - start,
    message: status?.error ?? firstError(activityRuns),
    warnings,
    source,
    // Not `redact`: it masks every `…key` field, and model identity keys are what these views are about.
    updates: status?.updates ? stripUrlQueries(status.updates) : null,
    gate: status?.gate ? stripUrlQueries(status.gate) : null,
    approval: status?.approval ? stripUrlQueries(status.approval) : null,
    activityRuns: activityRuns.map((r) => redact(r) as ActivityRunView),
  };
}

function firstError(runs: ActivityRunView[]): string | null {
  const failed = runs.find((r) => r.error);
  return failed?.error ? `${failed.error.errorCode}: ${failed.error.message}` : null;
}

// ---- rebuilt from history -----------------------------------------------------------------------------------------

type Payloads = temporal.api.common.v1.IPayloads | null | undefined;
type Failure = temporal.api.failure.v1.IFailure | null | undefined;

function decodeFirst(payloads: Payloads): unknown {
  const p = payloads?.payloads?.[0];
  if (!p) return undefined;
  try {
    return defaultPayloadConverter.fromPayload(p);
  } catch {
    return undefined;
  }
}

/** The innermost failure: the activity's ApplicationFailure, with its stable type. */
function innermost(f: Failure): { type: string; message: string; nonRetryable: boolean } | undefined {
  let cur = f;
  while (cur?.cause) cur = cur.cause;
  if (!cur) return undefined;
  return {
    type:
      cur.applicationFailureInfo?.type ||
      (cur.timeoutFailureInfo ? 'Timeout' : cur.canceledFailureInfo ? 'Cancelled' : 'Error'),
    message: cur.message ?? '',
    nonRetryable: !!cur.applicationFailureInfo?.nonRetryable,
  };
}

/** The retrain workflow's activities that make up ADF's one AzureMLBatchExecution activity. */
const TRAINING_ACTIVITIES = new Set([
  'submitTrainingJob',
  'startTrainingJob',
  'waitForTrainingJob',
  'cancelTrainingJob',
]);

interface TaskRecord {
  activityType: string;
  input: unknown;
  scheduledMs: number;
  startedMs?: number;
  closedMs?: number;
  attempt?: number;
  outcome?: 'Succeeded' | 'Failed' | 'Cancelled';
  result?: unknown;
  failure?: { type: string; message: string; nonRetryable: boolean };
}

interface WorkflowInputShape {
  training?: { activityName?: string };
  updates?: { activityName?: string }[];
}

/**
 * One row per ADF activity: the Temporal activities that implement it (submit, start, wait for the BES job; locate
 * the model and update a service) are grouped under the ADF activity name from the workflow input.
 */
export async function activityRunsFromHistory(
  client: Client,
  workflowId: string,
  desc: WorkflowExecutionDescription,
): Promise<ActivityRunView[]> {
  const history = await client.workflow.getHandle(workflowId, desc.runId).fetchHistory();
  const tasks = new Map<string, TaskRecord>();
  let wfInput: WorkflowInputShape = {};
  for (const e of history.events ?? []) {
    const at = optionalTsToMs(e.eventTime) ?? 0;
    const id = String(e.eventId);
    if (e.workflowExecutionStartedEventAttributes) {
      wfInput = decodeFirst(e.workflowExecutionStartedEventAttributes.input) ?? {};
    } else if (e.activityTaskScheduledEventAttributes) {
      const a = e.activityTaskScheduledEventAttributes;
      tasks.set(id, { activityType: a.activityType?.name ?? '?', input: decodeFirst(a.input), scheduledMs: at });
    } else if (e.activityTaskStartedEventAttributes) {
      const t = tasks.get(String(e.activityTaskStartedEventAttributes.scheduledEventId));
      if (t) {
        t.startedMs = at;
        t.attempt = e.activityTaskStartedEventAttributes.attempt ?? undefined;
      }
    } else if (e.activityTaskCompletedEventAttributes) {
      const t = tasks.get(String(e.activityTaskCompletedEventAttributes.scheduledEventId));
      if (t)
        Object.assign(t, {
          closedMs: at,
          outcome: 'Succeeded',
          result: decodeFirst(e.activityTaskCompletedEventAttributes.result),
        });
    } else if (e.activityTaskFailedEventAttributes) {
      const t = tasks.get(String(e.activityTaskFailedEventAttributes.scheduledEventId));
      if (t)
        Object.assign(t, {
          closedMs: at,
          outcome: 'Failed',
          failure: innermost(e.activityTaskFailedEventAttributes.failure),
        });
    } else if (e.activityTaskTimedOutEventAttributes) {
      const t = tasks.get(String(e.activityTaskTimedOutEventAttributes.scheduledEventId));
      if (t)
        Object.assign(t, {
          closedMs: at,
          outcome: 'Failed',
          failure: innermost(e.activityTaskTimedOutEventAttributes.failure),
        });
    } else if (e.activityTaskCanceledEventAttributes) {
      const t = tasks.get(String(e.activityTaskCanceledEventAttributes.scheduledEventId));
      if (t) Object.assign(t, { closedMs: at, outcome: 'Cancelled' });
    }
  }

  // A retrying activity has no started event until its last attempt ends: the pending info says how it is going.
  const pending = new Map<string, { attempt: number; failure?: TaskRecord['failure'] }>();
  for (const p of desc.raw.pendingActivities ?? []) {
    pending.set(p.activityType?.name ?? '', { attempt: p.attempt ?? 1, failure: innermost(p.lastFailure) });
  }

  const trainingName = wfInput.training?.activityName;
  const updateNames = new Set((wfInput.updates ?? []).map((u) => u.activityName).filter(Boolean));
  const groups = new Map<string, { type: string; tasks: TaskRecord[] }>();
  for (const t of tasks.values()) {
    const input = (t.input ?? {}) as { step?: { activityName?: string }; activityName?: string };
    let name: string;
    let type: string;
    if (TRAINING_ACTIVITIES.has(t.activityType) && trainingName) {
      name = trainingName;
      type = 'AzureMLBatchExecution';
    } else {
      name = input.step?.activityName ?? input.activityName ?? t.activityType;
      type = updateNames.has(name)
        ? 'AzureMLUpdateResource'
        : name === trainingName
          ? 'AzureMLBatchExecution'
          : t.activityType;
    }
    const g = groups.get(name) ?? { type, tasks: [] };
    if (type === 'AzureMLUpdateResource') g.type = type;
    g.tasks.push(t);
    groups.set(name, g);
  }

  const rows: ActivityRunView[] = [];
  for (const [name, g] of groups) {
    const start = Math.min(...g.tasks.map((t) => t.scheduledMs));
    const open = g.tasks.filter((t) => !t.outcome);
    const failed = g.tasks.find((t) => t.outcome === 'Failed');
    const cancelled = g.tasks.find((t) => t.outcome === 'Cancelled');
    // A cleanup activity (cancelling the BES job) runs after the failure it cleans up after: the failure decides.
    const status: ActivityRunStatus = failed
      ? 'Failed'
      : cancelled
        ? 'Cancelled'
        : open.length
          ? 'InProgress'
          : 'Succeeded';
    const end =
      open.length && !failed && !cancelled ? null : Math.max(...g.tasks.map((t) => t.closedMs ?? t.scheduledMs));
    const output: Record<string, unknown> = {};
    for (const t of g.tasks) {
      if (t.outcome === 'Succeeded' && t.result && typeof t.result === 'object') Object.assign(output, t.result);
    }
    let error: ActivityRunView['error'] = null;
    const failure = failed?.failure ?? open.map((t) => pending.get(t.activityType)?.failure).find(Boolean);
    if (failure) {
      error = {
        errorCode: failure.type,
        message: failure.message,
        // ADF's split: a failure a retry cannot fix is the user's to fix (config, credentials, data).
        failureType: failure.nonRetryable ? 'UserError' : 'SystemError',
        target: name,
      };
    }
    const attempts = g.tasks.map((t) => (t.outcome ? (t.attempt ?? 1) : (pending.get(t.activityType)?.attempt ?? 1)));
    rows.push({
      activityName: name,
      activityType: g.type,
      status,
      start: iso(start),
      end: iso(end),
      durationMs: (end ?? Date.now()) - start,
      attempt: Math.max(...attempts),
      input: g.tasks[0].input ?? null,
      output: Object.keys(output).length ? output : null,
      error,
    });
  }
  return rows.sort((a, b) => (a.start ?? '').localeCompare(b.start ?? ''));
}
