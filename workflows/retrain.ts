import { CancelledFailure, setHandler, workflowInfo } from '@temporalio/workflow';
import { SystemObject } from '../common/expressions';
import type { RetrainAndUpdateInput, RetrainAndUpdateResult, UpdateResult } from '../common/types';
import type { BatchOutput, UpdateOutput } from './engine';
import { DEFAULT_POLL_SECONDS, newRunStatus, PipelineEngine } from './engine';
import { shortCalls } from './engine/activity-options';
import { configError } from './engine/run-errors';
import { definitionFromInput, validateRetrainInput } from './retrain-definition';
import { recoveryQuery, statusQuery } from './queries';

export { statusQuery };

/**
 * Retrain, then update: the seed's AzureMLBatchExecution → AzureMLUpdateResource chain, as a pipeline definition run
 * by the same engine as `runPipeline`. Submit and start the BES job, wait for it, locate the `.ilearner`, then point
 * every scoring service at it (in parallel, as ADF runs independent activities). Cancelling the run DELETEs the BES
 * job and sends no update afterwards.
 */
export async function retrainAndUpdate(input: RetrainAndUpdateInput): Promise<RetrainAndUpdateResult> {
  const pipeline = input?.pipeline ?? 'retrainAndUpdate';
  const status = newRunStatus(pipeline);
  setHandler(statusQuery, () => status);
  try {
    validateRetrainInput(input);
  } catch (err) {
    status.error = (err as Error).message;
    status.phase = 'Failed';
    status.runStatus = 'Failed';
    throw err;
  }
  const runId = workflowInfo().runId;
  const groupId = input.recovery?.groupId ?? runId;
  const definition = definitionFromInput(input, pipeline);
  const engine = new PipelineEngine(definition, status, {
    pollMs: Math.round((input.options?.pollIntervalSeconds ?? DEFAULT_POLL_SECONDS) * 1000),
    searchAttributes: input.options?.searchAttributes !== false,
    pipelineObject: new SystemObject({
      DataFactory: 'ml-retrain',
      Pipeline: pipeline,
      RunId: runId,
      GroupId: groupId,
      TriggerType: 'Manual',
      TriggerTime: new Date().toISOString(),
      parameters: {},
      globalParameters: {},
    }),
    recovery: input.recovery,
  });
  setHandler(recoveryQuery, () => ({
    pipeline,
    runId,
    groupId,
    parameters: {},
    activities: Object.fromEntries(
      [...engine.states.values()].map((s) => [s.def.name, { status: s.record.status, output: s.output ?? null }]),
    ),
  }));

  const run = await engine.run();
  if (run.runStatus === 'Cancelled')
    throw (run.error as Error | undefined) ?? new CancelledFailure('the run was cancelled');
  if (run.runStatus === 'Failed') {
    // The original failure (ActivityFailure → ApplicationFailure), as callers and alerts expect its type.
    throw (run.error as Error | undefined) ?? configError(status.error ?? 'the run failed');
  }
  const training = run.outputOf(input.training.activityName) as BatchOutput;
  const results: UpdateResult[] = input.updates.map((u) => (run.outputOf(u.activityName) as UpdateOutput).update);
  let model = status.model;
  if (!model) {
    // No update to locate the model for: locate it anyway, the result promises where it is.
    model = await shortCalls.locateTrainedModel({
      activityName: input.training.activityName,
      source: {
        kind: 'besOutput',
        trainingLinkedServiceName: input.training.linkedServiceName,
        jobId: training.jobId,
        outputName:
          input.trainedModelOutput ??
          Object.entries(training.outputs).find(([, o]) =>
            /\.ilearner$/i.test(o.relativeLocation ?? o.filePath ?? ''),
          )?.[0] ??
          Object.keys(training.outputs)[0],
      },
    });
    status.model = model;
  }
  return { pipeline, jobId: training.jobId, model, updates: results };
}
