/**
 * Every activity timeout and retry policy a workflow uses, in one place: each `proxyActivities` of workflows/ is here.
 * The option objects go into the history (ScheduleActivityTask), so a change to any value below is a workflow change:
 * a run recorded with the old value replays only if its commands stay the same (test/durability/replay.test.ts).
 */
import { ActivityCancellationType, proxyActivities } from '@temporalio/workflow';
import type { ActivityOptions, RetryPolicy } from '@temporalio/workflow';
import type { Activities, PipelineActivities } from '../../activities';
import type { VerificationPolicy } from '../../common/deployment';
import { NON_RETRYABLE_FAILURES } from '../../common/failures';

/**
 * Temporal's retry of one activity call, inside one ADF attempt (ADF's own `retry` is the engine's loop): transient
 * failures back off up to a minute; bounded, so a run fails visibly rather than retrying forever. Stable failure types
 * that a retry cannot fix are not retried, a second line of defence to the activities marking them non-retryable.
 */
export const ACTIVITY_RETRY: RetryPolicy = {
  initialInterval: '2s',
  backoffCoefficient: 2,
  maximumInterval: '1m',
  maximumAttempts: 10,
  nonRetryableErrorTypes: NON_RETRYABLE_FAILURES,
};

const retry = ACTIVITY_RETRY;

// ---- a pipeline run (engine, retrainAndUpdate) -------------------------------------------------------------------

/**
 * The run's definition from the worker's ADF folder: one read of local files, so a few quick retries cover a worker
 * restart; a pipeline that is missing or invalid fails at once (ConfigError is non-retryable).
 */
export const loaderCalls = proxyActivities<PipelineActivities>({
  startToCloseTimeout: '1m',
  retry: { initialInterval: '1s', maximumAttempts: 5, nonRetryableErrorTypes: NON_RETRYABLE_FAILURES },
});

// Short request/response calls. Temporal retries transient failures inside one ADF attempt; ADF's own `retry`
// (a new attempt of the whole activity) is the engine's loop. Bounded: a run fails visibly, never forever.
export const SHORT_CALLS: ActivityOptions = {
  startToCloseTimeout: '2m',
  retry,
  cancellationType: ActivityCancellationType.TRY_CANCEL,
};
export const shortCalls = proxyActivities<Activities>(SHORT_CALLS);

// The submit waits for its outcome even when the run is cancelled meanwhile: a job created by a request already in
// flight then has a known id, and the cleanup DELETEs it (TRY_CANCEL would leave it behind, never started).
export const SUBMIT_CALLS: ActivityOptions = {
  startToCloseTimeout: '2m',
  retry,
  cancellationType: ActivityCancellationType.WAIT_CANCELLATION_COMPLETED,
};
export const submitCalls = proxyActivities<Activities>(SUBMIT_CALLS);

/**
 * Calls made inside one ADF attempt (runs from v0.3 on): the attempt's `policy.timeout` is their schedule-to-close
 * timeout, every retry included, instead of a timer per attempt that was started and cancelled in every run's
 * history (./deadline.ts, AttemptDeadline).
 */
export function boundedCalls(options: ActivityOptions, remainingMs: number) {
  return proxyActivities<Activities>({ ...options, scheduleToCloseTimeout: Math.max(1, remainingMs) });
}

/**
 * The BES wait of one ADF attempt (runs from v0.3 on), until the job ends: the activity heartbeats for its first
 * minutes, then checks once per attempt and asks for a retry (BesJobRunning), so a long job holds no worker slot and
 * its polls add no history events (retries are not recorded). The retry policy is the poll: a fixed interval, no
 * attempt limit; the attempt's `policy.timeout` (schedule-to-close) ends it.
 */
export function trainingWaitCalls(pollMs: number, remainingMs: number) {
  const bound = Math.max(1, remainingMs);
  return proxyActivities<Activities>({
    scheduleToCloseTimeout: bound,
    startToCloseTimeout: bound,
    // A missed heartbeat means the worker died: retry the poll elsewhere quickly, the job keeps running meanwhile.
    heartbeatTimeout: Math.max(10_000, 3 * pollMs),
    retry: {
      initialInterval: pollMs,
      backoffCoefficient: 1,
      maximumInterval: pollMs,
      maximumAttempts: Number.POSITIVE_INFINITY,
      nonRetryableErrorTypes: NON_RETRYABLE_FAILURES,
    },
    // As pollCalls: cleanup DELETEs the job at once, and a poll that still runs meanwhile only reads.
    cancellationType: ActivityCancellationType.TRY_CANCEL,
  });
}

/** The BES status poll of one ADF attempt that may run `timeoutMs` (policy.timeout), polling every `pollMs`. */
export function pollCalls(timeoutMs: number, pollMs: number) {
  return proxyActivities<Activities>({
    // The attempt's timer enforces policy.timeout; this only bounds one poll activity the same way.
    startToCloseTimeout: timeoutMs,
    // A missed heartbeat means the worker died: retry the poll elsewhere quickly, the job keeps running meanwhile.
    heartbeatTimeout: Math.max(10_000, 3 * pollMs),
    // Unlimited attempts, bounded by the attempt timer (policy.timeout): one poll activity covers the whole Running
    // phase, so a fixed count would be used up by occasional throttling over a long job and fail a healthy run.
    retry: { ...retry, maximumAttempts: Number.POSITIVE_INFINITY },
    // Don't wait for the poller to notice the cancellation (heartbeats are throttled): cleanup DELETEs the job at
    // once, and a poll that still runs meanwhile only reads.
    cancellationType: ActivityCancellationType.TRY_CANCEL,
  });
}

// Cleanup runs in a non-cancellable scope after an attempt was cancelled, timed out or failed; keep it short.
export const cleanupCalls = proxyActivities<Activities>({
  startToCloseTimeout: '1m',
  retry: { ...retry, maximumAttempts: 5 },
});

// The ARM update of runs recorded before model identity (path-based) follows a long-running operation and heartbeats
// while it does. A cancelled run waits for an update in flight to end (or to stop at its next heartbeat): with
// TRY_CANCEL the run ended Cancelled and the update's PATCH still reached the scoring service afterwards. More
// attempts than the short calls: one update attempt makes up to six requests (token, read, PATCH, operation polls,
// read-back), so a flaky service fails whole attempts often, and retrying is safe (an update already applied is found
// and not sent again) and cheaper than losing a trained model.
export const updateCalls = proxyActivities<Activities>({
  startToCloseTimeout: '15m',
  heartbeatTimeout: '1m',
  retry: { ...retry, maximumAttempts: 30 },
  cancellationType: ActivityCancellationType.WAIT_CANCELLATION_COMPLETED,
});

// ---- a run's side of a deployment (workflows/deployment.ts) ------------------------------------------------------

// Locate, identify, pin (a server-side copy) and read the metrics: short calls, but a large model's copy takes a while.
export const PREPARE_CALLS: ActivityOptions = {
  startToCloseTimeout: '10m',
  retry,
  cancellationType: ActivityCancellationType.TRY_CANCEL,
};
export const prepareCalls = proxyActivities<Activities>(PREPARE_CALLS);

export const READ_CALLS: ActivityOptions = {
  startToCloseTimeout: '1m',
  retry,
  cancellationType: ActivityCancellationType.TRY_CANCEL,
};
export const readCalls = proxyActivities<Activities>(READ_CALLS);

// The deployment waits its turn in the scoring service's workflow, then for the update and the verification there. A
// cancelled run waits for it: a queued request is withdrawn, one already applying finishes, so nothing reaches the
// service after the run ends Cancelled. Retries resend the same request id, which the service's workflow answers once.
// An attempt's `policy.timeout` reaches it as a deadline in its input (runs from v0.3 on): the activity itself
// withdraws or waits out the request at the deadline, as on cancellation, rather than being cut off by the server.
export const DEPLOY_CALLS: ActivityOptions = {
  startToCloseTimeout: '2h',
  heartbeatTimeout: '1m',
  retry: { ...retry, maximumAttempts: 30 },
  cancellationType: ActivityCancellationType.WAIT_CANCELLATION_COMPLETED,
};
export const deployCalls = proxyActivities<Activities>(DEPLOY_CALLS);

// ---- the scoring service's workflow (workflows/scoring-service.ts) -----------------------------------------------

/**
 * The update, as in a run: a flaky service fails whole attempts, and retrying is safe (a model already applied is
 * found, not sent again). The activities run on the requester's task queue: its workers know its linked services.
 */
export function serviceApplyCalls(taskQueue: string, scheduleToStartTimeout: number) {
  return proxyActivities<Activities>({
    taskQueue,
    // Requests are served one at a time: a requester whose workers are gone for good (a retired task queue) must not
    // hold the service forever. Half an hour covers worker restarts and deploys; past it the request ends Failed.
    scheduleToStartTimeout,
    startToCloseTimeout: '15m',
    heartbeatTimeout: '1m',
    retry: { ...retry, maximumAttempts: 30 },
    cancellationType: ActivityCancellationType.WAIT_CANCELLATION_COMPLETED,
  });
}

/** The scoring call that verifies a change, on the requester's task queue like the update. */
export function serviceVerifyCalls(taskQueue: string, v: VerificationPolicy, scheduleToStartTimeout: number) {
  return proxyActivities<Activities>({
    taskQueue,
    scheduleToStartTimeout,
    // The activity polls for the whole verification window itself; this only bounds a stuck attempt.
    startToCloseTimeout: Math.round((v.timeoutSeconds + 120) * 1000),
    heartbeatTimeout: '1m',
    retry: { ...retry, maximumInterval: '30s', maximumAttempts: 5 },
  });
}
