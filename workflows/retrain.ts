import { CancelledFailure, ApplicationFailure, setHandler, workflowInfo } from '@temporalio/workflow';
import { checkDeploymentPolicy, normalizeDeploymentPolicy } from '../common/deployment';
import { parseAdfTimespan } from '../common/duration';
import { escapeLiteral, SystemObject } from '../common/expressions';
import { FailureType } from '../common/failures';
import type {
  ActivityDefinition,
  ActivityPolicyDef,
  PipelineDefinition,
  WebServiceFileDef,
} from '../common/pipeline-definition';
import type { RetrainAndUpdateInput, RetrainAndUpdateResult, RunStatus, UpdateResult } from '../common/types';
import type { BatchOutput, UpdateOutput } from './engine';
import { DEFAULT_ACTIVITY_TIMEOUT, DEFAULT_POLL_SECONDS, PipelineEngine } from './engine';
import { shortCalls } from './engine/activity-options';
import { recoveryQuery, statusQuery } from './queries';

export { statusQuery };

function configError(message: string): ApplicationFailure {
  return ApplicationFailure.create({ type: FailureType.ConfigError, nonRetryable: true, message });
}

function validate(input: RetrainAndUpdateInput): void {
  if (!input?.training?.linkedServiceName) throw configError('input.training.linkedServiceName is required');
  if (!input.training.activityName) throw configError('input.training.activityName is required');
  if (!Array.isArray(input.updates)) throw configError('input.updates must be an array (it may be empty)');
  const names = new Set([input.training.activityName]);
  input.updates.forEach((u, i) => {
    if (!u.linkedServiceName) throw configError(`input.updates[${i}].linkedServiceName is required`);
    if (!u.trainedModelName) throw configError(`input.updates[${i}].trainedModelName is required`);
    if (!u.activityName) throw configError(`input.updates[${i}].activityName is required`);
    if (!!u.trainedModelFilePath !== !!u.trainedModelLinkedServiceName) {
      throw configError(
        `input.updates[${i}]: give both trainedModelLinkedServiceName and trainedModelFilePath, or neither`,
      );
    }
    if (names.has(u.activityName))
      throw configError(`input.updates[${i}].activityName '${u.activityName}' is used twice`);
    names.add(u.activityName);
  });
  const poll = input.options?.pollIntervalSeconds;
  if (poll !== undefined && !(typeof poll === 'number' && poll > 0)) {
    throw configError('input.options.pollIntervalSeconds must be a positive number');
  }
  const timeout = input.options?.trainingTimeout;
  if (timeout !== undefined && parseAdfTimespan(timeout) === undefined) {
    throw configError(`input.options.trainingTimeout '${timeout}' is not an ADF timespan [d.]hh:mm:ss`);
  }
  const problems = checkDeploymentPolicy(input.deployment, 'input.deployment');
  if (problems.length) throw configError(problems.join('; '));
}

/** Input values are literals: escaped so the engine never evaluates them as expressions. */
const literal = escapeLiteral;

function policy(timeout: string): ActivityPolicyDef {
  return { timeout, retry: 0, retryIntervalInSeconds: 30, secureInput: false, secureOutput: false };
}

/** The retrainAndUpdate input as the pipeline it stands for: one BES activity, updates depending on it (Succeeded). */
export function definitionFromInput(input: RetrainAndUpdateInput, pipeline: string): PipelineDefinition {
  const t = input.training;
  const files = (m: Record<string, { linkedServiceName: string; filePath: string }> = {}) => {
    const out: Record<string, WebServiceFileDef> = {};
    for (const [port, f] of Object.entries(m)) {
      out[port] = { linkedServiceName: f.linkedServiceName, filePath: literal(f.filePath) };
    }
    return out;
  };
  const source = (path: string) => ({ file: 'workflow input', path });
  const activities: ActivityDefinition[] = [
    {
      name: t.activityName,
      type: 'AzureMLBatchExecution',
      linkedServiceName: t.linkedServiceName,
      dependsOn: [],
      state: 'Active',
      onInactiveMarkAs: 'Succeeded',
      policy: policy(input.options?.trainingTimeout ?? DEFAULT_ACTIVITY_TIMEOUT),
      userProperties: [],
      source: source('$.training'),
      typeProperties: {
        webServiceInputs: files(t.webServiceInputs),
        webServiceOutputs: files(t.webServiceOutputs),
        globalParameters: Object.fromEntries(Object.entries(t.globalParameters ?? {}).map(([k, v]) => [k, literal(v)])),
      },
    },
    ...input.updates.map((u, i): ActivityDefinition => ({
      name: u.activityName,
      type: 'AzureMLUpdateResource',
      linkedServiceName: u.linkedServiceName,
      dependsOn: [{ activity: t.activityName, conditions: ['Succeeded'] }],
      state: 'Active',
      onInactiveMarkAs: 'Succeeded',
      policy: policy(DEFAULT_ACTIVITY_TIMEOUT),
      userProperties: [],
      source: source(`$.updates[${i}]`),
      typeProperties: {
        trainedModelName: literal(u.trainedModelName),
        ...(u.trainedModelFilePath && u.trainedModelLinkedServiceName
          ? {
              trainedModelLinkedServiceName: u.trainedModelLinkedServiceName,
              trainedModelFilePath: literal(u.trainedModelFilePath),
            }
          : { trainedModelFromActivity: { activity: t.activityName, outputName: input.trainedModelOutput } }),
      },
    })),
  ];
  return {
    name: pipeline,
    file: 'workflow input',
    parameters: {},
    variables: {},
    activities,
    annotations: [],
    warnings: [],
    ...(input.deployment && { deployment: normalizeDeploymentPolicy(input.deployment) }),
  };
}

/**
 * Retrain, then update: the seed's AzureMLBatchExecution → AzureMLUpdateResource chain, as a pipeline definition run
 * by the same engine as `runPipeline`. Submit and start the BES job, wait for it, locate the `.ilearner`, then point
 * every scoring service at it (in parallel, as ADF runs independent activities). Cancelling the run DELETEs the BES
 * job and sends no update afterwards.
 */
export async function retrainAndUpdate(input: RetrainAndUpdateInput): Promise<RetrainAndUpdateResult> {
  const pipeline = input?.pipeline ?? 'retrainAndUpdate';
  const status: RunStatus = {
    pipeline,
    phase: 'Submitting',
    jobId: null,
    besStatus: null,
    besDetails: null,
    model: null,
    updates: {},
    error: null,
    runStatus: 'InProgress',
    activityRuns: [],
  };
  setHandler(statusQuery, () => status);
  try {
    validate(input);
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
