/** The AzureMLBatchExecution executor: one ADF attempt of a BES training job. */
import { CancellationScope, upsertSearchAttributes } from '@temporalio/workflow';
import { FailureType } from '../../common/failures';
import type { BatchExecutionActivity } from '../../common/pipeline-definition';
import { TrainingJobIdAttr } from '../../common/search-attributes';
import type { BatchExecutionStep, BesStatus, RunStatus, WaitJobResult, WebServiceFile } from '../../common/types';
import { TERMINAL_BES_STATUSES } from '../../common/types';
import { cleanupCalls, pollCalls, shortCalls, submitCalls } from './activity-options';
import type { BatchOutput, EngineContext } from './context';
import { asString } from './run-errors';

/** Submit → start → wait (one activity call per status change) → output. A cancelled or failed attempt DELETEs the job. */
export async function batchExecution(
  ctx: EngineContext,
  a: BatchExecutionActivity,
  props: BatchExecutionActivity['typeProperties'],
  timeoutMs: number,
): Promise<BatchOutput> {
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
  const step: BatchExecutionStep = {
    activityName: a.name,
    linkedServiceName: a.linkedServiceName,
    webServiceInputs: files(props.webServiceInputs, 'webServiceInputs'),
    webServiceOutputs: files(props.webServiceOutputs, 'webServiceOutputs'),
    globalParameters: globals,
  };
  const status = ctx.status;
  const pollMs = ctx.opts.pollMs;
  const waiter = pollCalls(timeoutMs, pollMs);
  status.jobId = null;
  status.besStatus = null;
  status.besDetails = null;
  ctx.setPhase('Submitting');
  const started = Date.now();
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
        const cause = (err as { cause?: { type?: string; message?: string } }).cause;
        if (cause?.type === FailureType.BesJobFailed) {
          last = 'Failed';
          status.besDetails = cause.message ?? null;
        } else if (cause?.type === FailureType.BesJobCancelled) {
          last = 'Cancelled';
        }
        status.besStatus = last;
        throw err;
      }
      status.besStatus = last;
    }
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
  } catch (err) {
    const id = status.jobId;
    if (id && id === jobId && !TERMINAL_BES_STATUSES.includes(status.besStatus ?? 'NotStarted')) {
      // The job may still be running (cancelled run, timed-out attempt): stop it so the ML service stops spending.
      await CancellationScope.nonCancellable(() =>
        cleanupCalls.cancelTrainingJob({ linkedServiceName: a.linkedServiceName, jobId: id }),
      );
      status.besStatus = 'Cancelled';
    }
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
