/** The AzureMLBatchExecution executor: one ADF attempt of a BES training job. */
import { CancellationScope, upsertSearchAttributes } from '@temporalio/workflow';
import { FailureType } from '../../common/failures';
import type { BatchExecutionActivity } from '../../common/pipeline-definition';
import { TrainingJobIdAttr } from '../../common/search-attributes';
import type { BatchExecutionStep, BesStatus, RunStatus, WaitJobResult, WebServiceFile } from '../../common/types';
import { TERMINAL_BES_STATUSES } from '../../common/types';
import {
  boundedCalls,
  cleanupCalls,
  pollCalls,
  SHORT_CALLS,
  shortCalls,
  SUBMIT_CALLS,
  submitCalls,
  trainingWaitCalls,
} from './activity-options';
import type { BatchOutput, EngineContext } from './context';
import type { AttemptDeadline } from './deadline';
import { asString } from './run-errors';

/** The BES request of an attempt, from the activity's evaluated typeProperties. */
function stepOf(a: BatchExecutionActivity, props: BatchExecutionActivity['typeProperties']): BatchExecutionStep {
  const files = (m: Record<string, { linkedServiceName: string; filePath: unknown }>, key: string) => {
    const out: Record<string, WebServiceFile> = {};
    for (const [port, f] of Object.entries(m)) {
      out[port] = {
        linkedServiceName: f.linkedServiceName,
        filePath: asString(a, `typeProperties.${key}.${port}.filePath`, f.filePath),
      };
    }
    return out;
  };
  const globals: Record<string, string | number | boolean | null> = {};
  for (const [k, v] of Object.entries(props.globalParameters)) {
    globals[k] = v === null || ['string', 'number', 'boolean'].includes(typeof v) ? (v as string) : JSON.stringify(v);
  }
  return {
    activityName: a.name,
    linkedServiceName: a.linkedServiceName,
    webServiceInputs: files(props.webServiceInputs, 'webServiceInputs'),
    webServiceOutputs: files(props.webServiceOutputs, 'webServiceOutputs'),
    globalParameters: globals,
  };
}

/** The activity's output: the declared outputs, with where the job wrote each. */
function outputOf(
  a: BatchExecutionActivity,
  step: BatchExecutionStep,
  jobId: string,
  results: Record<string, string>,
  started: number,
): BatchOutput {
  const outputs: BatchOutput['outputs'] = {};
  for (const [port, f] of Object.entries(step.webServiceOutputs ?? {})) {
    outputs[port] = { linkedServiceName: f.linkedServiceName, filePath: f.filePath };
  }
  for (const [port, rel] of Object.entries(results)) {
    outputs[port] = { ...outputs[port], relativeLocation: rel };
  }
  return {
    jobId,
    jobStatus: 'Finished',
    linkedServiceName: a.linkedServiceName,
    outputs,
    executionDuration: Math.round((Date.now() - started) / 1000),
  };
}

/** A new attempt has no job yet: the status view forgets the last one. Returns when the attempt started. */
function beginAttempt(ctx: EngineContext): number {
  ctx.status.jobId = null;
  ctx.status.besStatus = null;
  ctx.status.besDetails = null;
  ctx.setPhase('Submitting');
  return Date.now();
}

/** The status view's BES fields after a failed wait: Failed (with BES Details) or Cancelled, from its failure type. */
function noteWaitFailure(status: RunStatus, err: unknown): void {
  const cause = (err as { cause?: { type?: string; message?: string } }).cause;
  if (cause?.type === FailureType.BesJobFailed) {
    status.besStatus = 'Failed';
    status.besDetails = cause.message ?? null;
  } else if (cause?.type === FailureType.BesJobCancelled) {
    status.besStatus = 'Cancelled';
  }
}

/** A job this attempt may have left running (cancelled run, timed-out attempt): stop it so the ML service stops spending. */
async function stopJob(status: RunStatus, a: BatchExecutionActivity, jobId: string | undefined): Promise<void> {
  const id = status.jobId;
  if (id && id === jobId && !TERMINAL_BES_STATUSES.includes(status.besStatus ?? 'NotStarted')) {
    await CancellationScope.nonCancellable(() =>
      cleanupCalls.cancelTrainingJob({ linkedServiceName: a.linkedServiceName, jobId: id }),
    );
    status.besStatus = 'Cancelled';
  }
}

/**
 * Runs recorded before v0.3: submit → start → wait (one activity call per status change) → output, in the attempt
 * timer's scope. A cancelled or failed attempt DELETEs the job.
 */
export async function batchExecution(
  ctx: EngineContext,
  a: BatchExecutionActivity,
  props: BatchExecutionActivity['typeProperties'],
  timeoutMs: number,
): Promise<BatchOutput> {
  const step = stepOf(a, props);
  const status = ctx.status;
  const pollMs = ctx.opts.pollMs;
  const waiter = pollCalls(timeoutMs, pollMs);
  const started = beginAttempt(ctx);
  let jobId: string | undefined;
  try {
    ({ jobId } = await submitCalls.submitTrainingJob({ step }));
    status.jobId = jobId;
    status.besStatus = 'NotStarted';
    if (ctx.opts.searchAttributes) upsertSearchAttributes([{ key: TrainingJobIdAttr, value: jobId }]);

    ctx.setPhase('Starting');
    await shortCalls.startTrainingJob({ linkedServiceName: a.linkedServiceName, jobId });

    ctx.setPhase('Training');
    let results: Record<string, string> = {};
    let last: BesStatus = 'NotStarted';
    while (!TERMINAL_BES_STATUSES.includes(last)) {
      try {
        const r: WaitJobResult = await waiter.waitForTrainingJob({
          linkedServiceName: a.linkedServiceName,
          jobId,
          lastStatus: last,
          pollIntervalMs: pollMs,
        });
        last = r.status;
        results = r.outputs;
      } catch (err) {
        status.besStatus = last;
        noteWaitFailure(status, err);
        throw err;
      }
      status.besStatus = last;
    }
    return outputOf(a, step, jobId, results, started);
  } catch (err) {
    await stopJob(status, a, jobId);
    throw err;
  }
}

/**
 * One attempt of a lean run (v0.3): submit → start → one wait until the job ends → output, every call bounded by the
 * attempt's deadline (no timer), the job id and the Training phase in one search-attribute upsert. The wait's retries
 * pace the polls of a long job without adding events, so the history is the same for a short and a long job. A
 * cancelled, failed or timed-out attempt DELETEs the job.
 */
export async function leanBatchExecution(
  ctx: EngineContext,
  a: BatchExecutionActivity,
  props: BatchExecutionActivity['typeProperties'],
  deadline: AttemptDeadline,
): Promise<BatchOutput> {
  const step = stepOf(a, props);
  const status = ctx.status;
  const started = beginAttempt(ctx);
  let jobId: string | undefined;
  try {
    ({ jobId } = await boundedCalls(SUBMIT_CALLS, deadline.remainingMs()).submitTrainingJob({ step }));
    status.jobId = jobId;
    status.besStatus = 'NotStarted';
    ctx.setPhase('Starting', [{ key: TrainingJobIdAttr, value: jobId }]);

    await boundedCalls(SHORT_CALLS, deadline.remainingMs()).startTrainingJob({
      linkedServiceName: a.linkedServiceName,
      jobId,
    });
    // A started job runs (BES has no queued status): shown at once, as the single wait below reports only its end.
    let last: BesStatus = 'Running';
    status.besStatus = last;
    ctx.setPhase('Training');
    let results: Record<string, string> = {};
    // The real activity returns only once the job ended (with its outputs); a status reported on the way is shown.
    do {
      try {
        const r: WaitJobResult = await trainingWaitCalls(ctx.opts.pollMs, deadline.remainingMs()).waitForTrainingJob({
          linkedServiceName: a.linkedServiceName,
          jobId,
          lastStatus: last,
          pollIntervalMs: ctx.opts.pollMs,
          untilEnd: true,
        });
        last = r.status;
        results = r.outputs;
      } catch (err) {
        noteWaitFailure(status, err);
        throw err;
      }
      status.besStatus = last;
    } while (!TERMINAL_BES_STATUSES.includes(last));
    return outputOf(a, step, jobId, results, started);
  } catch (err) {
    await stopJob(status, a, jobId);
    throw err;
  }
}

/** A reused (recovery) BES output still shows in the legacy status fields. */
export function adoptBatchOutput(status: RunStatus, output: unknown): void {
  const o = output as Partial<BatchOutput> | undefined;
  if (o?.jobId) {
    status.jobId = o.jobId;
    status.besStatus = 'Finished';
  }
}
