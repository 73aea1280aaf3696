import type { RetryPolicy } from '@temporalio/workflow';
import {
  ActivityCancellationType,
  ApplicationFailure,
  CancellationScope,
  isCancellation,
  proxyActivities,
  setHandler,
  upsertSearchAttributes,
} from '@temporalio/workflow';
import type { Activities } from '../activities';
import { parseAdfTimespan } from '../common/duration';
import { FailureType, NON_RETRYABLE_FAILURES } from '../common/failures';
import { PhaseAttr, PipelineAttr, ScoringServiceAttr, TrainingJobIdAttr } from '../common/search-attributes';
import type {
  BesStatus,
  ModelRef,
  ModelSource,
  RetrainAndUpdateInput,
  RetrainAndUpdateResult,
  RunPhase,
  RunStatus,
  UpdateResult,
  WaitJobResult,
} from '../common/types';
import { TERMINAL_BES_STATUSES } from '../common/types';
import { statusQuery } from './queries';

export { statusQuery };

const DEFAULT_POLL_SECONDS = 10;
/** ADF's documented default activity timeout. */
const DEFAULT_TRAINING_TIMEOUT = '0.12:00:00';

const retry: RetryPolicy = {
  initialInterval: '2s',
  backoffCoefficient: 2,
  maximumInterval: '1m',
  maximumAttempts: 10,
  nonRetryableErrorTypes: NON_RETRYABLE_FAILURES,
};

// Short request/response calls. A bounded retry: a run should fail visibly rather than retry forever.
const calls = proxyActivities<Activities>({
  startToCloseTimeout: '2m',
  retry,
  cancellationType: ActivityCancellationType.TRY_CANCEL,
});

// The ARM update follows a long-running operation and heartbeats while it does.
const updates = proxyActivities<Activities>({
  startToCloseTimeout: '15m',
  heartbeatTimeout: '1m',
  retry,
  cancellationType: ActivityCancellationType.TRY_CANCEL,
});

// Cleanup runs in a non-cancellable scope after the run was cancelled or failed; keep it short.
const cleanup = proxyActivities<Activities>({
  startToCloseTimeout: '1m',
  retry: { ...retry, maximumAttempts: 5 },
});

function configError(message: string): ApplicationFailure {
  return ApplicationFailure.create({ type: FailureType.ConfigError, nonRetryable: true, message });
}

function validate(input: RetrainAndUpdateInput): void {
  if (!input?.training?.linkedServiceName) throw configError('input.training.linkedServiceName is required');
  if (!input.training.activityName) throw configError('input.training.activityName is required');
  if (!Array.isArray(input.updates)) throw configError('input.updates must be an array (it may be empty)');
  input.updates.forEach((u, i) => {
    if (!u.linkedServiceName) throw configError(`input.updates[${i}].linkedServiceName is required`);
    if (!u.trainedModelName) throw configError(`input.updates[${i}].trainedModelName is required`);
    if (!u.activityName) throw configError(`input.updates[${i}].activityName is required`);
    if (!!u.trainedModelFilePath !== !!u.trainedModelLinkedServiceName) {
      throw configError(
        `input.updates[${i}]: give both trainedModelLinkedServiceName and trainedModelFilePath, or neither`,
      );
    }
  });
  const poll = input.options?.pollIntervalSeconds;
  if (poll !== undefined && !(typeof poll === 'number' && poll > 0)) {
    throw configError('input.options.pollIntervalSeconds must be a positive number');
  }
  const timeout = input.options?.trainingTimeout;
  if (timeout !== undefined && parseAdfTimespan(timeout) === undefined) {
    throw configError(`input.options.trainingTimeout '${timeout}' is not an ADF timespan [d.]hh:mm:ss`);
  }
}

/** The BES output holding the trained model when the update does not name a blob itself. */
function trainedModelOutput(input: RetrainAndUpdateInput, outputs: Record<string, string>): string {
  if (input.trainedModelOutput) return input.trainedModelOutput;
  const declared = Object.entries(input.training.webServiceOutputs ?? {}).filter(([, f]) =>
    /\.ilearner$/i.test(f.filePath),
  );
  if (declared.length === 1) return declared[0][0];
  const produced = Object.entries(outputs).filter(([, rel]) => /\.ilearner$/i.test(rel));
  if (produced.length === 1) return produced[0][0];
  throw configError(
    `cannot tell which BES output is the trained model (${Object.keys(outputs).join(', ') || 'no outputs'}): ` +
      `set input.trainedModelOutput or the updates' trainedModelFilePath`,
  );
}

/**
 * Retrain, then update: the seed's AzureMLBatchExecution → AzureMLUpdateResource chain. Submit and start the BES
 * job, wait for it, locate the `.ilearner`, then point every scoring service at it (in parallel, as ADF runs
 * independent activities). Cancelling the run DELETEs the BES job and sends no update afterwards.
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
  };
  setHandler(statusQuery, () => status);
  validate(input);
  for (const u of input.updates)
    status.updates[u.activityName] = { linkedServiceName: u.linkedServiceName, state: 'Pending' };

  const useAttrs = input.options?.searchAttributes !== false;
  const setPhase = (phase: RunPhase) => {
    status.phase = phase;
    if (useAttrs) upsertSearchAttributes([{ key: PhaseAttr, value: phase }]);
  };
  if (useAttrs) {
    upsertSearchAttributes([
      { key: PipelineAttr, value: pipeline },
      { key: ScoringServiceAttr, value: input.updates.map((u) => u.linkedServiceName) },
      { key: PhaseAttr, value: status.phase },
    ]);
  }

  const pollMs = Math.round((input.options?.pollIntervalSeconds ?? DEFAULT_POLL_SECONDS) * 1000);
  const waiter = proxyActivities<Activities>({
    startToCloseTimeout: parseAdfTimespan(input.options?.trainingTimeout ?? DEFAULT_TRAINING_TIMEOUT),
    // A missed heartbeat means the worker died: retry the poll elsewhere quickly, the job keeps running meanwhile.
    heartbeatTimeout: Math.max(10_000, 3 * pollMs),
    retry: { ...retry, maximumAttempts: 20 },
    // Don't wait for the poller to notice the cancellation (heartbeats are throttled): cleanup DELETEs the job at
    // once, and a poll that still runs meanwhile only reads.
    cancellationType: ActivityCancellationType.TRY_CANCEL,
  });

  const training = input.training;
  try {
    const { jobId } = await calls.submitTrainingJob({ step: training });
    status.jobId = jobId;
    status.besStatus = 'NotStarted';
    if (useAttrs) upsertSearchAttributes([{ key: TrainingJobIdAttr, value: jobId }]);

    setPhase('Starting');
    await calls.startTrainingJob({ linkedServiceName: training.linkedServiceName, jobId });

    setPhase('Training');
    let outputs: Record<string, string> = {};
    let last: BesStatus = 'NotStarted';
    while (!TERMINAL_BES_STATUSES.includes(last)) {
      try {
        const r: WaitJobResult = await waiter.waitForTrainingJob({
          linkedServiceName: training.linkedServiceName,
          jobId,
          lastStatus: last,
          pollIntervalMs: pollMs,
        });
        last = r.status;
        outputs = r.outputs;
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

    setPhase('LocatingModel');
    const sources = new Map<string, ModelSource>();
    const sourceOf = input.updates.map((u) => {
      const source: ModelSource =
        u.trainedModelLinkedServiceName && u.trainedModelFilePath
          ? { kind: 'storage', linkedServiceName: u.trainedModelLinkedServiceName, filePath: u.trainedModelFilePath }
          : {
              kind: 'besOutput',
              trainingLinkedServiceName: training.linkedServiceName,
              jobId,
              outputName: trainedModelOutput(input, outputs),
            };
      const key = JSON.stringify(source);
      sources.set(key, source);
      return key;
    });
    if (sources.size === 0) {
      sources.set('default', {
        kind: 'besOutput',
        trainingLinkedServiceName: training.linkedServiceName,
        jobId,
        outputName: trainedModelOutput(input, outputs),
      });
    }
    const models = new Map<string, ModelRef>();
    for (const [key, source] of sources) {
      const activityName = input.updates[sourceOf.indexOf(key)]?.activityName ?? training.activityName;
      models.set(key, await calls.locateTrainedModel({ activityName, source }));
    }
    status.model = [...models.values()][0];

    setPhase('Updating');
    const settled = await Promise.allSettled(
      input.updates.map(async (step, i) => {
        const entry = status.updates[step.activityName];
        entry.state = 'InProgress';
        try {
          entry.result = await updates.updateScoringService({ step, model: models.get(sourceOf[i])! });
          entry.state = 'Succeeded';
          return entry.result;
        } catch (err) {
          entry.state = 'Failed';
          entry.error = messageOf(err);
          throw err;
        }
      }),
    );
    const failed = settled.find((s): s is PromiseRejectedResult => s.status === 'rejected');
    if (failed) throw failed.reason;

    setPhase('Succeeded');
    return {
      pipeline,
      jobId,
      model: status.model,
      updates: settled.map((s) => (s as PromiseFulfilledResult<UpdateResult>).value),
    };
  } catch (err) {
    status.error = messageOf(err);
    const jobId = status.jobId;
    if (jobId && !TERMINAL_BES_STATUSES.includes(status.besStatus ?? 'NotStarted')) {
      // The job may still be running (cancelled run, timed-out wait): stop it so the ML service stops spending.
      await CancellationScope.nonCancellable(() =>
        cleanup.cancelTrainingJob({ linkedServiceName: training.linkedServiceName, jobId }),
      );
      status.besStatus = 'Cancelled';
    }
    for (const u of Object.values(status.updates)) if (u.state === 'Pending') u.state = 'Skipped';
    setPhase(isCancellation(err) ? 'Cancelled' : 'Failed');
    throw err;
  }
}

function messageOf(err: unknown): string {
  let e = err as { message?: string; cause?: unknown } | undefined;
  // ActivityFailure wraps the activity's ApplicationFailure: the innermost message is the useful one.
  while (e?.cause) e = e.cause;
  return e?.message ?? String(err);
}
