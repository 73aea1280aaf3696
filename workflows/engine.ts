/**
 * The one pipeline engine behind `runPipeline` and `retrainAndUpdate`: runs a normalized ADF pipeline definition
 * (common/pipeline-definition.ts) as ADF does (docs/spec/adf-pipeline-semantics.md §3). Every activity waits for the activities it depends on, then runs if
 * its conditions hold (OR within an entry, AND across entries) or ends Skipped; independent branches run in parallel;
 * the run's status follows the leaf rule. Each ADF activity type has an executor; execution activities get ADF's
 * `policy`: `timeout` bounds one attempt, `retry` re-runs the whole activity (a new BES job) after a fixed interval.
 */
import {
  ActivityCancellationType,
  ApplicationFailure,
  CancellationScope,
  CancelledFailure,
  isCancellation,
  patched,
  proxyActivities,
  setCurrentDetails,
  sleep,
  upsertSearchAttributes,
  uuid4,
  workflowInfo,
} from '@temporalio/workflow';
import type { PrepareModelInput } from '../activities/model';
import type { DeployOutcome, TrainedModel } from '../common/models';
import { Deployments } from './deployment';
import type { Activities } from '../activities';
import type { EffectiveStatus } from '../common/dag';
import { dependenciesHold, downstreamOf, leafRule } from '../common/dag';
import { parseAdfTimespan } from '../common/duration';
import type { EvalContext } from '../common/expressions';
import type { SystemObject } from '../common/expressions';
import { evaluateValue, ExpressionError } from '../common/expressions';
import { jsonBytes, PAYLOAD_LIMIT_BYTES, payloadTooLargeMessage } from '../common/limits';
import { FailureType, NON_RETRYABLE_FAILURES } from '../common/failures';
import { ACTIVITY_RETRY } from './retry';
import type {
  ActivityDefinition,
  BatchExecutionActivity,
  FailActivity,
  PipelineDefinition,
  RecoveryInput,
  SetVariableActivity,
  UpdateResourceActivity,
  WaitActivity,
} from '../common/pipeline-definition';
import { DEFAULT_ACTIVITY_TIMEOUT, MASKED } from '../common/pipeline-definition';
import { PhaseAttr, PipelineAttr, ScoringServiceAttr, TrainingJobIdAttr } from '../common/search-attributes';
import type {
  ActivityRunError,
  ActivityRunRecord,
  BatchExecutionStep,
  BesStatus,
  ModelRef,
  ModelSource,
  RunPhase,
  RunStatus,
  UpdateResourceStep,
  UpdateResult,
  WaitJobResult,
  WebServiceFile,
} from '../common/types';
import { TERMINAL_BES_STATUSES } from '../common/types';
import { RunDeadline } from './deadline';

export const DEFAULT_POLL_SECONDS = 10;
export { DEFAULT_ACTIVITY_TIMEOUT, MASKED };

const retry = ACTIVITY_RETRY;

// Short request/response calls. Temporal retries transient failures inside one ADF attempt; ADF's own `retry`
// (a new attempt of the whole activity) is the engine's loop below. Bounded: a run fails visibly, never forever.
const calls = proxyActivities<Activities>({
  startToCloseTimeout: '2m',
  retry,
  cancellationType: ActivityCancellationType.TRY_CANCEL,
});

// The submit waits for its outcome even when the run is cancelled meanwhile: a job created by a request already in
// flight then has a known id, and the cleanup below DELETEs it (TRY_CANCEL would leave it behind, never started).
const submit = proxyActivities<Activities>({
  startToCloseTimeout: '2m',
  retry,
  cancellationType: ActivityCancellationType.WAIT_CANCELLATION_COMPLETED,
});

// The ARM update follows a long-running operation and heartbeats while it does. A cancelled run waits for an update
// in flight to end (or to stop at its next heartbeat): with TRY_CANCEL the run ended Cancelled and the update's PATCH
// still reached the scoring service afterwards. More attempts than the short calls: one update attempt makes up to
// six requests (token, read, PATCH, operation polls, read-back), so a flaky service fails whole attempts often, and
// retrying is safe (an update already applied is found and not sent again) and cheaper than losing a trained model.
const updates = proxyActivities<Activities>({
  startToCloseTimeout: '15m',
  heartbeatTimeout: '1m',
  retry: { ...retry, maximumAttempts: 30 },
  cancellationType: ActivityCancellationType.WAIT_CANCELLATION_COMPLETED,
});

// Cleanup runs in a non-cancellable scope after an attempt was cancelled, timed out or failed; keep it short.
const cleanup = proxyActivities<Activities>({
  startToCloseTimeout: '1m',
  retry: { ...retry, maximumAttempts: 5 },
});

export interface EngineOptions {
  /** BES status poll interval. */
  pollMs: number;
  /** Set the product's search attributes (the client turns this off when the namespace lacks them). */
  searchAttributes: boolean;
  /** `pipeline()` for expressions (RunId, TriggerTime, parameters, ...). */
  pipelineObject: SystemObject;
  /** Reuse the recorded outcome of these activities instead of running them (a recovery run). */
  recovery?: RecoveryInput;
}

/** What the engine knows about one activity. `output` and `error` are unmasked: never put them in the status view. */
interface ActivityState {
  def: ActivityDefinition;
  record: ActivityRunRecord;
  effective?: EffectiveStatus;
  output?: unknown;
  error?: unknown;
  done: Promise<EffectiveStatus>;
}

export interface EngineResult {
  runStatus: 'Succeeded' | 'Failed' | 'Cancelled';
  /** The error of the first failed activity that decided the run (leaf rule), or the cancellation. */
  error?: unknown;
  failedActivity?: string;
  outputOf(name: string): unknown;
  effectiveOf(name: string): EffectiveStatus | undefined;
}

/** The innermost failure message: an ActivityFailure wraps the activity's ApplicationFailure. */
export function messageOf(err: unknown): string {
  let e = err as { message?: string; cause?: unknown } | undefined;
  while (e?.cause) e = e.cause;
  return e?.message ?? String(err);
}

function innermost(err: unknown): {
  type?: string | null;
  message?: string;
  details?: unknown[];
  nonRetryable?: boolean;
} {
  let e = err as { cause?: unknown } | undefined;
  while (e?.cause) e = e.cause;
  return (e ?? {}) as ReturnType<typeof innermost>;
}

const USER_ERRORS = new Set<string>([...NON_RETRYABLE_FAILURES, FailureType.ActivityTimedOut]);

/** ADF's activity error shape (docs/spec/adf-pipeline-semantics.md §1.1): BES failures are errorCode 2600, a Fail activity has its own code. */
function toRunError(a: ActivityDefinition, err: unknown): ActivityRunError {
  const inner = innermost(err);
  const type = inner.type ?? undefined;
  let errorCode = type ?? 'SystemError';
  if (type === FailureType.FailActivity) {
    const d = inner.details?.[0] as { errorCode?: string } | undefined;
    errorCode = d?.errorCode ?? 'FailActivity';
  } else if (
    a.type === 'AzureMLBatchExecution' &&
    (type === FailureType.BesJobFailed || type === FailureType.BadRequest)
  ) {
    errorCode = '2600';
  } else if (type === FailureType.ExpressionError) {
    errorCode = 'InvalidTemplate';
  }
  return {
    errorCode,
    message: inner.message ?? messageOf(err),
    failureType: type && USER_ERRORS.has(type) ? 'UserError' : 'SystemError',
    target: a.name,
  };
}

function failure(type: string, message: string, details?: unknown[]): ApplicationFailure {
  return ApplicationFailure.create({ type, message, nonRetryable: true, details });
}

/** Evaluate, turning evaluation problems into an ExpressionError failure that names the activity. */
function evaluate(a: ActivityDefinition, what: string, value: unknown, ctx: EvalContext): unknown {
  try {
    return evaluateValue(value, ctx);
  } catch (e) {
    if (e instanceof ExpressionError) {
      throw failure(
        FailureType.ExpressionError,
        `activity '${a.name}' (${a.source.file} ${a.source.path}): ${what}: ${e.message}`,
      );
    }
    throw e;
  }
}

function asString(a: ActivityDefinition, what: string, v: unknown): string {
  if (typeof v === 'string') return v;
  if (typeof v === 'number' || typeof v === 'boolean') return String(v);
  throw failure(
    FailureType.ExpressionError,
    `activity '${a.name}': ${what} must be a string, got ${JSON.stringify(v)}`,
  );
}

/** Run one attempt with ADF's `policy.timeout`: a timer cancels the attempt, which then fails as timed out. */
async function withAttemptTimeout<T>(a: ActivityDefinition, ms: number, fn: () => Promise<T>): Promise<T> {
  const attempt = new CancellationScope();
  const timerScope = new CancellationScope();
  let timedOut = false;
  const timer = timerScope
    .run(() => sleep(ms))
    .then(
      () => {
        timedOut = true;
        attempt.cancel();
      },
      () => undefined,
    );
  try {
    return await attempt.run(fn);
  } catch (err) {
    if (timedOut && isCancellation(err)) {
      throw failure(
        FailureType.ActivityTimedOut,
        `activity '${a.name}' timed out after ${Math.round(ms / 1000)} s (policy.timeout)`,
      );
    }
    throw err;
  } finally {
    timerScope.cancel();
    await timer;
  }
}

export class PipelineEngine {
  readonly states = new Map<string, ActivityState>();
  private readonly variables: Record<string, unknown> = {};
  private readonly located = new Map<string, Promise<ModelRef>>();
  private locateChain: Promise<unknown> = Promise.resolve();
  /** The scope the run's work runs in: the workflow's, or the deadline's (./deadline.ts). */
  private root = CancellationScope.current();
  private readonly deployments: Deployments;
  /** Decided once per run (`patched`): runs recorded before model identity replay the path-based update. */
  private lifecycle?: boolean;

  constructor(
    private readonly def: PipelineDefinition,
    private readonly status: RunStatus,
    private readonly opts: EngineOptions,
  ) {
    this.deployments = new Deployments({ def, status, setPhase: (p) => this.setPhase(p) });
    for (const [name, v] of Object.entries(def.variables)) this.variables[name] = v.defaultValue ?? null;
    status.activityRuns = def.activities.map((a) => ({
      activityName: a.name,
      activityType: a.type,
      status: a.state === 'Inactive' ? 'Inactive' : 'Queued',
      start: null,
      end: null,
      durationMs: null,
      attempt: 0,
      input: null,
      output: null,
      error: null,
    }));
    for (const a of def.activities) {
      if (a.type === 'AzureMLUpdateResource') {
        status.updates[a.name] = { linkedServiceName: a.linkedServiceName, state: 'Pending' };
      }
    }
  }

  private setPhase(phase: RunPhase): void {
    this.status.phase = phase;
    if (this.opts.searchAttributes) upsertSearchAttributes([{ key: PhaseAttr, value: phase }]);
  }

  private evalContext(): EvalContext {
    return {
      pipeline: this.opts.pipelineObject,
      now: () => new Date(),
      guid: () => uuid4(),
      variables: (name) => {
        if (!Object.prototype.hasOwnProperty.call(this.variables, name)) {
          throw new ExpressionError(`variable '${name}' is not declared in the pipeline`);
        }
        return this.variables[name];
      },
      activity: (name) => {
        const s = this.states.get(name);
        if (!s) throw new ExpressionError(`activity '${name}' does not exist in this pipeline`);
        if (s.effective === undefined) throw new ExpressionError(`activity '${name}' has not finished yet`);
        if (s.record.status === 'Inactive' || s.record.status === 'Skipped') {
          throw new ExpressionError(`activity '${name}' was ${s.record.status.toLowerCase()}, so it has no output`);
        }
        return {
          output: s.output ?? null,
          status: s.record.status,
          error: s.record.error ? { message: s.record.error.message, errorCode: s.record.error.errorCode } : null,
        };
      },
    };
  }

  /** Which activities a recovery run reuses: succeeded in the reference run and not downstream of a failure. */
  private reuseSet(): Set<string> {
    const rec = this.opts.recovery;
    if (!rec) return new Set();
    const failed = Object.entries(rec.activities)
      .filter(([, a]) => a.status !== 'Succeeded' && a.status !== 'Skipped' && a.status !== 'Inactive')
      .map(([n]) => n);
    const rerun = downstreamOf(this.def.activities, failed);
    return new Set(
      this.def.activities
        .filter((a) => rec.activities[a.name]?.status === 'Succeeded' && !rerun.has(a.name))
        .map((a) => a.name),
    );
  }

  async run(): Promise<EngineResult> {
    // A workflow timeout ends the run without any cleanup: the deadline cancels the work shortly before it, so the
    // cancellation cleanup still DELETEs the BES job; the run then lets the timeout end it (TimedOut).
    const deadline = new RunDeadline();
    const result = await deadline.run(() => {
      this.root = CancellationScope.current();
      return this.runActivities();
    });
    if (deadline.reached && result.runStatus === 'Cancelled') {
      this.status.error = deadline.message;
      await deadline.waitForTimeout();
    }
    return result;
  }

  private async runActivities(): Promise<EngineResult> {
    if (this.opts.searchAttributes) {
      upsertSearchAttributes([
        { key: PipelineAttr, value: this.def.name },
        {
          key: ScoringServiceAttr,
          value: this.def.activities.filter((a) => a.type === 'AzureMLUpdateResource').map((a) => a.linkedServiceName),
        },
        { key: PhaseAttr, value: this.status.phase },
      ]);
    }
    const reuse = this.reuseSet();
    // Create every state first, then start them: each awaits its upstreams' `done` promises.
    const starters: (() => void)[] = [];
    this.def.activities.forEach((def, i) => {
      let resolve!: (s: EffectiveStatus) => void;
      const done = new Promise<EffectiveStatus>((r) => (resolve = r));
      const state: ActivityState = { def, record: this.status.activityRuns[i], done };
      this.states.set(def.name, state);
      starters.push(() => {
        void this.runActivity(state, reuse.has(def.name)).then((s) => {
          state.effective = s;
          resolve(s);
        });
      });
    });
    starters.forEach((s) => s());
    await Promise.all([...this.states.values()].map((s) => s.done));

    for (const u of Object.values(this.status.updates)) if (u.state === 'Pending') u.state = 'Skipped';
    const statusOf = (n: string) => this.states.get(n)?.effective ?? 'Skipped';
    let runStatus: EngineResult['runStatus'];
    let error: unknown;
    let failedActivity: string | undefined;
    if (this.root.consideredCancelled) {
      runStatus = 'Cancelled';
      error = [...this.states.values()].find((s) => s.record.status === 'Cancelled' && s.error)?.error;
    } else {
      const leaf = leafRule(this.def.activities, statusOf);
      runStatus = leaf.status;
      failedActivity = leaf.failed[0];
      if (failedActivity) error = this.states.get(failedActivity)?.error;
      if (runStatus === 'Failed' && !failedActivity) {
        // Only possible when an Inactive activity is marked Failed: it has no error of its own.
        failedActivity = leaf.evaluated.find((n) => statusOf(n) === 'Failed');
      }
    }
    this.status.runStatus = runStatus;
    if (runStatus !== 'Succeeded') {
      this.status.error =
        error !== undefined
          ? messageOf(error)
          : runStatus === 'Cancelled'
            ? 'the run was cancelled'
            : `activity '${failedActivity}' is marked Failed`;
    }
    // A model the gate or a person refused: the run fails (ADF's status), and its phase says why.
    const refused = [FailureType.QualityGateFailed, FailureType.ApprovalRejected, FailureType.ApprovalTimedOut];
    const type = runStatus === 'Failed' ? innermost(error).type : undefined;
    this.setPhase(type && refused.includes(type as (typeof refused)[number]) ? 'Rejected' : runStatus);
    return {
      runStatus,
      error,
      failedActivity,
      outputOf: (n) => this.states.get(n)?.output,
      effectiveOf: (n) => this.states.get(n)?.effective,
    };
  }

  private finish(
    state: ActivityState,
    status: ActivityRunRecord['status'],
    effective: EffectiveStatus,
  ): EffectiveStatus {
    const r = state.record;
    r.status = status;
    if (r.start) {
      r.end = new Date().toISOString();
      r.durationMs = Date.parse(r.end) - Date.parse(r.start);
    }
    const upd = this.status.updates[state.def.name];
    // An update that ends without reaching its own outcome (skipped, cancelled, failed before deploying) still counts
    // for an all-or-nothing fan-out's barrier; one that reached it settled already (first call wins).
    if (state.def.type === 'AzureMLUpdateResource') this.deployments.settle(state.def.name, effective !== 'Failed');
    if (upd && state.def.type === 'AzureMLUpdateResource') {
      if (effective === 'Succeeded' && status === 'Succeeded') upd.state = 'Succeeded';
      else if (effective === 'Failed' && status === 'Failed') {
        upd.state = 'Failed';
        upd.error = r.error?.message;
      } else if (upd.state === 'Pending' || upd.state === 'InProgress') upd.state = 'Skipped';
    }
    return effective;
  }

  private async runActivity(state: ActivityState, reuse: boolean): Promise<EffectiveStatus> {
    const a = state.def;
    const upstream = await Promise.all(
      a.dependsOn.map(async (d) => [d.activity, await this.states.get(d.activity)!.done] as const),
    );
    const statusOf = (n: string) => upstream.find(([name]) => name === n)?.[1] ?? 'Skipped';
    const r = state.record;
    if (a.state === 'Inactive') return this.finish(state, 'Inactive', a.onInactiveMarkAs);
    if (this.root.consideredCancelled) return this.finish(state, 'Cancelled', 'Cancelled');
    if (!dependenciesHold(a, statusOf)) return this.finish(state, 'Skipped', 'Skipped');
    if (reuse) {
      const recorded = this.opts.recovery!.activities[a.name];
      state.output = recorded.output;
      r.reused = true;
      r.output = a.policy.secureOutput ? MASKED : (recorded.output ?? null);
      if (a.type === 'AzureMLBatchExecution') this.adoptBatchOutput(recorded.output);
      if (a.type === 'AzureMLUpdateResource') this.adoptUpdateOutput(a, recorded.output);
      return this.finish(state, 'Succeeded', 'Succeeded');
    }

    r.status = 'InProgress';
    r.start = new Date().toISOString();
    const ctx = this.evalContext();
    let input: unknown;
    let policy: { timeoutMs: number; retry: number; intervalMs: number };
    try {
      input = evaluate(a, 'typeProperties', a.typeProperties, ctx);
      // Before the value can reach an activity's input, the run's status or its result (SetVariable values too).
      if (jsonBytes(input) > PAYLOAD_LIMIT_BYTES) {
        throw failure(
          FailureType.PayloadTooLarge,
          payloadTooLargeMessage(`activity '${a.name}' (${a.type})`, 'typeProperties', input),
        );
      }
      policy = this.evaluatePolicy(a, ctx);
    } catch (err) {
      state.error = err;
      r.attempt = 1;
      r.error = toRunError(a, err);
      return this.finish(state, 'Failed', 'Failed');
    }
    r.input = a.policy.secureInput ? MASKED : input;

    for (let attempt = 1; ; attempt++) {
      r.attempt = attempt;
      r.status = 'InProgress';
      r.error = null;
      try {
        const last = attempt > policy.retry;
        const output = await withAttemptTimeout(a, policy.timeoutMs, () =>
          this.execute(a, input, policy.timeoutMs, last),
        );
        state.output = output;
        r.output = a.policy.secureOutput ? MASKED : (output ?? null);
        return this.finish(state, 'Succeeded', 'Succeeded');
      } catch (err) {
        state.error = err;
        if (this.root.consideredCancelled) {
          r.error = null;
          return this.finish(state, 'Cancelled', 'Cancelled');
        }
        r.error = toRunError(a, err);
        if (attempt > policy.retry) return this.finish(state, 'Failed', 'Failed');
      }
      try {
        // ADF retries after a fixed interval, no backoff; each attempt is a new run of the whole activity.
        await sleep(policy.intervalMs);
      } catch (err) {
        if (isCancellation(err)) return this.finish(state, 'Cancelled', 'Cancelled');
        throw err;
      }
    }
  }

  private evaluatePolicy(
    a: ActivityDefinition,
    ctx: EvalContext,
  ): { timeoutMs: number; retry: number; intervalMs: number } {
    const timeout = asString(a, 'policy.timeout', evaluate(a, 'policy.timeout', a.policy.timeout, ctx));
    const timeoutMs = parseAdfTimespan(timeout);
    if (timeoutMs === undefined || timeoutMs <= 0) {
      throw failure(
        FailureType.ExpressionError,
        `activity '${a.name}': policy.timeout '${timeout}' is not [d.]hh:mm:ss`,
      );
    }
    const retryCount = Number(evaluate(a, 'policy.retry', a.policy.retry, ctx));
    const interval = Number(evaluate(a, 'policy.retryIntervalInSeconds', a.policy.retryIntervalInSeconds, ctx));
    if (!Number.isInteger(retryCount) || retryCount < 0) {
      throw failure(FailureType.ExpressionError, `activity '${a.name}': policy.retry must be an integer >= 0`);
    }
    if (!(interval >= 0)) {
      throw failure(FailureType.ExpressionError, `activity '${a.name}': policy.retryIntervalInSeconds must be >= 0`);
    }
    return { timeoutMs, retry: retryCount, intervalMs: Math.round(interval * 1000) };
  }

  private execute(a: ActivityDefinition, input: unknown, timeoutMs: number, lastAttempt: boolean): Promise<unknown> {
    switch (a.type) {
      case 'AzureMLBatchExecution':
        return this.batchExecution(a, input as BatchExecutionActivity['typeProperties'], timeoutMs);
      case 'AzureMLUpdateResource':
        return this.updateResource(a, input as UpdateResourceActivity['typeProperties'], lastAttempt);
      case 'Wait':
        return this.wait(a, input as WaitActivity['typeProperties']);
      case 'Fail':
        return this.fail(a, input as FailActivity['typeProperties']);
      case 'SetVariable':
        return this.setVariable(a, input as SetVariableActivity['typeProperties']);
    }
  }

  // ---- executors ----------------------------------------------------------------------------------------------------

  /** Submit → start → wait (one activity call per status change) → output. A cancelled or failed attempt DELETEs the job. */
  private async batchExecution(
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
    const status = this.status;
    const pollMs = this.opts.pollMs;
    const waiter = proxyActivities<Activities>({
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
    status.jobId = null;
    status.besStatus = null;
    status.besDetails = null;
    this.setPhase('Submitting');
    const started = Date.now();
    let jobId: string | undefined;
    try {
      ({ jobId } = await submit.submitTrainingJob({ step }));
      status.jobId = jobId;
      status.besStatus = 'NotStarted';
      if (this.opts.searchAttributes) upsertSearchAttributes([{ key: TrainingJobIdAttr, value: jobId }]);

      this.setPhase('Starting');
      await calls.startTrainingJob({ linkedServiceName: a.linkedServiceName, jobId });

      this.setPhase('Training');
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
          cleanup.cancelTrainingJob({ linkedServiceName: a.linkedServiceName, jobId: id }),
        );
        status.besStatus = 'Cancelled';
      }
      throw err;
    }
  }

  /** A reused (recovery) BES output still shows in the legacy status fields. */
  private adoptBatchOutput(output: unknown): void {
    const o = output as Partial<BatchOutput> | undefined;
    if (o?.jobId) {
      this.status.jobId = o.jobId;
      this.status.besStatus = 'Finished';
    }
  }

  private adoptUpdateOutput(a: UpdateResourceActivity, output: unknown): void {
    const o = output as Partial<UpdateOutput> | undefined;
    const entry = this.status.updates[a.name];
    if (entry && o?.update) entry.result = o.update;
    if (o?.model && !this.status.model) this.status.model = o.model;
  }

  /**
   * Locate the model, then get it live on the scoring service. Runs recorded before model identity existed replay the
   * old path (locate, then a path-based update); every new run prepares the model (identity, pinned copy, metrics),
   * admits it (gate, approval) and deploys it through the scoring service's workflow.
   */
  private async updateResource(
    a: UpdateResourceActivity,
    props: UpdateResourceActivity['typeProperties'],
    lastAttempt: boolean,
  ): Promise<UpdateOutput> {
    const trainedModelName = asString(a, 'typeProperties.trainedModelName', props.trainedModelName);
    let source: ModelSource;
    if (props.trainedModelFilePath !== undefined && props.trainedModelLinkedServiceName) {
      source = {
        kind: 'storage',
        linkedServiceName: props.trainedModelLinkedServiceName,
        filePath: asString(a, 'typeProperties.trainedModelFilePath', props.trainedModelFilePath),
      };
    } else if (props.trainedModelFromActivity) {
      source = this.besOutputSource(a, props.trainedModelFromActivity);
    } else {
      throw failure(
        FailureType.ConfigError,
        `activity '${a.name}' needs typeProperties.trainedModelLinkedServiceName and trainedModelFilePath`,
      );
    }
    this.lifecycle ??= patched(MODEL_LIFECYCLE_PATCH);
    if (!this.lifecycle) return this.pathBasedUpdate(a, trainedModelName, source);

    let outcome: DeployOutcome | undefined;
    let model: TrainedModel | undefined;
    let error: unknown;
    try {
      ({ model, outcome } = await this.deploy(a, trainedModelName, source));
    } catch (err) {
      error = err;
    }
    const ok = !error && !!outcome && DEPLOYED_OR_FINE.includes(outcome.outcome);
    if (ok || lastAttempt) this.deployments.settle(a.name, ok);
    const entry = this.status.updates[a.name];
    if (entry && outcome) {
      entry.outcome = outcome.outcome;
      entry.message = outcome.message;
    }
    if (ok && model && outcome && outcome.outcome !== 'Superseded') {
      const failed = await this.deployments.othersFailed(a);
      if (failed) {
        const rb = await this.deployments.rollback(
          a,
          trainedModelName,
          model.identity.key,
          `all-or-nothing: '${failed}' failed`,
        );
        if (entry) {
          entry.outcome = 'FanOutRolledBack';
          entry.message = rb.message;
        }
        this.showUpdates();
        throw failure(
          FailureType.FanOutRolledBack,
          `activity '${a.name}': rolled back because '${failed}' failed (all-or-nothing fan-out): ${rb.message}`,
        );
      }
    }
    this.showUpdates();
    // Activities and child updates only ever reject with Error subclasses (ActivityFailure, ApplicationFailure).
    if (error) throw error as Error;
    return this.outputOf(a, trainedModelName, model, outcome!);
  }

  /** Prepare (once per source), admit (once per model), deploy through the scoring service's workflow. */
  private async deploy(
    a: UpdateResourceActivity,
    trainedModelName: string,
    source: ModelSource,
  ): Promise<{ model?: TrainedModel; outcome: DeployOutcome }> {
    const entry = this.status.updates[a.name];
    this.setPhase('LocatingModel');
    const producer = this.producerOf(source);
    let model: TrainedModel;
    try {
      model = await this.deployments.prepare({
        activityName: a.name,
        pipeline: this.def.name,
        source,
        producedBy: producer?.jobId ?? null,
        pinVia: producer?.pinVia ?? null,
        metrics: this.metricsSource(producer),
      });
    } catch (err) {
      if (innermost(err).type !== FailureType.ModelSuperseded) throw err;
      // A newer training rewrote the blob before this run could pin it: that run's model is the newer one.
      return {
        outcome: {
          outcome: 'Superseded',
          message: innermost(err).message ?? 'a newer training rewrote the model blob',
          serviceKey: '',
          live: null,
        },
      };
    }
    this.status.model ??= model;
    const approval = await this.deployments.admit(model, this.targetsFor(a, trainedModelName));
    if (entry) entry.state = 'InProgress';
    this.setPhase('Updating');
    const info = workflowInfo();
    const outcome = await this.deployments.deploy({
      request: {
        requestId: this.deployments.requestId(a.name, this.states.get(a.name)?.record.attempt ?? 1),
        requester: {
          workflowId: info.workflowId,
          runId: info.runId,
          pipeline: this.def.name,
          activityName: a.name,
          taskQueue: info.taskQueue,
        },
        linkedServiceName: a.linkedServiceName,
        trainedModelName,
        model,
        approval,
        relativeRules: this.deployments.gateRules.filter((r) => typeof r.threshold !== 'number'),
        verification: this.deployments.verification,
      },
    });
    if (outcome.outcome === 'Cancelled') throw new CancelledFailure(outcome.message);
    const bad: Partial<Record<DeployOutcome['outcome'], string>> = {
      Rejected: FailureType.QualityGateFailed,
      RolledBack: FailureType.VerificationFailed,
    };
    const type =
      bad[outcome.outcome] ??
      (outcome.outcome === 'Failed' ? (outcome.error?.type ?? FailureType.ServiceError) : undefined);
    if (type) {
      const message = `activity '${a.name}' (${a.linkedServiceName}): ${outcome.outcome}: ${outcome.message}`;
      const entryNow = entry;
      if (entryNow) {
        entryNow.outcome = outcome.outcome;
        entryNow.message = outcome.message;
      }
      throw failure(type, message, [{ outcome: outcome.outcome, serviceKey: outcome.serviceKey }]);
    }
    return { model, outcome };
  }

  private outputOf(
    a: UpdateResourceActivity,
    trainedModelName: string,
    model: TrainedModel | undefined,
    o: DeployOutcome,
  ): UpdateOutput {
    const update: UpdateResult = {
      activityName: a.name,
      linkedServiceName: a.linkedServiceName,
      kind: o.update?.kind ?? (/\/endpoints\//.test(o.serviceKey) ? 'classic' : 'arm'),
      target: o.update?.target ?? o.serviceKey,
      trainedModelName,
      modelUrl: o.update?.modelUrl ?? o.live?.modelUrl ?? '',
      alreadyApplied: o.outcome === 'AlreadyLive',
      outcome: o.outcome,
      liveModel: o.live ? { key: o.live.identity.key, jobId: o.live.identity.jobId } : null,
      verification: o.verification ?? null,
      message: o.message,
    };
    const entry = this.status.updates[a.name];
    if (entry) entry.result = update;
    return { trainedModelName, model: model ?? (this.status.model as ModelRef), update };
  }

  /** Each service's outcome in the Web UI's "Current Details". */
  private showUpdates(): void {
    const rows = Object.entries(this.status.updates).map(
      ([name, u]) =>
        `| ${name} | ${u.linkedServiceName} | ${u.outcome ?? u.state} | ${(u.message ?? u.error ?? '').replace(/\|/g, '/')} |`,
    );
    setCurrentDetails(['| update | scoring service | outcome | detail |', '|---|---|---|---|', ...rows].join('\n'));
  }

  /** The BES job of this run that wrote the model blob, with its outputs (for the metrics) and the pin location. */
  private producerOf(source: ModelSource): Producer | null {
    const norm = (p: string | undefined) => (p ?? '').replace(/^\/+/, '');
    let found: Producer | null = null;
    for (const s of this.states.values()) {
      if (s.def.type !== 'AzureMLBatchExecution') continue;
      const out = s.output as BatchOutput | undefined;
      if (!out?.jobId) continue;
      if (source.kind === 'besOutput' && source.jobId === out.jobId) {
        const f = out.outputs[source.outputName];
        return {
          jobId: out.jobId,
          activity: s.def.name,
          linkedServiceName: out.linkedServiceName,
          outputs: out.outputs,
          port: source.outputName,
          pinVia:
            f?.linkedServiceName && f.filePath
              ? { linkedServiceName: f.linkedServiceName, filePath: f.filePath }
              : null,
        };
      }
      if (source.kind !== 'storage') continue;
      const port = Object.entries(out.outputs).find(
        ([, o]) =>
          o.linkedServiceName?.toLowerCase() === source.linkedServiceName.toLowerCase() &&
          norm(o.filePath) === norm(source.filePath),
      )?.[0];
      if (port) {
        found = {
          jobId: out.jobId,
          activity: s.def.name,
          linkedServiceName: out.linkedServiceName,
          outputs: out.outputs,
          port,
          pinVia: null,
        };
      }
    }
    return found;
  }

  /** Where the producing job wrote its evaluation CSV: `retrain:metrics PORT`, else its one `.csv` output. */
  private metricsSource(p: Producer | null): PrepareModelInput['metrics'] {
    const required = this.deployments.gateRules.length > 0;
    if (!p) return null;
    const named = this.deployments.policy?.gate?.metricsOutput;
    const others = Object.entries(p.outputs).filter(([port]) => port !== p.port);
    let port: string;
    if (named) {
      if (!p.outputs[named]) {
        throw failure(
          FailureType.MetricsUnavailable,
          `pipeline '${this.def.name}': retrain:metrics names output '${named}', which training activity '${p.activity}' ` +
            `does not have (outputs: ${Object.keys(p.outputs).join(', ')})`,
        );
      }
      port = named;
    } else {
      const csv = others.filter(([, o]) => /\.csv$/i.test(o.filePath ?? o.relativeLocation ?? ''));
      if (csv.length !== 1) {
        if (!required) return null;
        throw failure(
          FailureType.MetricsUnavailable,
          `pipeline '${this.def.name}': the quality gate needs the evaluation output of training activity '${p.activity}', ` +
            (csv.length
              ? `which has several .csv outputs (${csv.map(([n]) => n).join(', ')}): name one with 'retrain:metrics <port>'`
              : `which has no .csv output (outputs: ${Object.keys(p.outputs).join(', ')})`),
        );
      }
      port = csv[0][0];
    }
    const o = p.outputs[port];
    const source: ModelSource =
      o.linkedServiceName && o.filePath
        ? { kind: 'storage', linkedServiceName: o.linkedServiceName, filePath: o.filePath }
        : { kind: 'besOutput', trainingLinkedServiceName: p.linkedServiceName, jobId: p.jobId, outputName: port };
    return { source, port, required };
  }

  /** The services a relative gate compares with: this update's, and the other updates' whose names are known now. */
  private targetsFor(a: UpdateResourceActivity, trainedModelName: string) {
    const targets = [{ linkedServiceName: a.linkedServiceName, trainedModelName }];
    const ctx = this.evalContext();
    for (const u of this.def.activities) {
      if (u.type !== 'AzureMLUpdateResource' || u.name === a.name || u.state === 'Inactive') continue;
      try {
        const name = evaluateValue(u.typeProperties.trainedModelName, ctx);
        if (typeof name === 'string') targets.push({ linkedServiceName: u.linkedServiceName, trainedModelName: name });
      } catch {
        // Depends on something not known yet: that update is compared when the scoring service gets its request.
      }
    }
    return targets.filter((t, i) => targets.findIndex((x) => x.linkedServiceName === t.linkedServiceName) === i);
  }

  /** The update of runs recorded before model identity: locate, then a path-based update (kept for replay). */
  private async pathBasedUpdate(
    a: UpdateResourceActivity,
    trainedModelName: string,
    source: ModelSource,
  ): Promise<UpdateOutput> {
    const entry = this.status.updates[a.name];
    this.setPhase('LocatingModel');
    const key = JSON.stringify(source);
    let located = this.located.get(key);
    if (!located) {
      // One locate at a time, in the order updates become ready (as retrainAndUpdate always did): cheap calls, and
      // the history's shape then does not depend on which of two parallel locates answers first.
      located = this.locateChain.then(() => calls.locateTrainedModel({ activityName: a.name, source }));
      this.locateChain = located.catch(() => undefined);
      this.located.set(key, located);
      // A failed locate must not be reused by a later attempt.
      located.catch(() => this.located.delete(key));
    }
    const model = await located;
    this.status.model ??= model;
    if (entry) entry.state = 'InProgress';
    this.setPhase('Updating');
    const step: UpdateResourceStep = {
      activityName: a.name,
      linkedServiceName: a.linkedServiceName,
      trainedModelName,
      ...(source.kind === 'storage'
        ? { trainedModelLinkedServiceName: source.linkedServiceName, trainedModelFilePath: source.filePath }
        : {}),
    };
    const result = await updates.updateScoringService({ step, model });
    if (entry) entry.result = result;
    return { trainedModelName, model, update: result };
  }

  /** `retrainAndUpdate`'s default: the `.ilearner` output of the upstream BES activity. */
  private besOutputSource(a: UpdateResourceActivity, from: { activity: string; outputName?: string }): ModelSource {
    const upstream = this.states.get(from.activity);
    const out = upstream?.output as BatchOutput | undefined;
    if (!upstream || upstream.def.type !== 'AzureMLBatchExecution' || !out?.jobId) {
      throw failure(FailureType.ConfigError, `activity '${a.name}': '${from.activity}' produced no BES output`);
    }
    let outputName = from.outputName;
    if (!outputName) {
      const declared = Object.entries(upstream.def.typeProperties.webServiceOutputs).filter(([, f]) =>
        /\.ilearner$/i.test(typeof f.filePath === 'string' ? f.filePath : ''),
      );
      const produced = Object.entries(out.outputs).filter(([, o]) => /\.ilearner$/i.test(o.relativeLocation ?? ''));
      if (declared.length === 1) outputName = declared[0][0];
      else if (produced.length === 1) outputName = produced[0][0];
      else {
        throw failure(
          FailureType.ConfigError,
          `cannot tell which BES output is the trained model (${Object.keys(out.outputs).join(', ') || 'no outputs'}): ` +
            `set input.trainedModelOutput or the updates' trainedModelFilePath`,
        );
      }
    }
    return {
      kind: 'besOutput',
      trainingLinkedServiceName: out.linkedServiceName,
      jobId: out.jobId,
      outputName,
    };
  }

  private async wait(a: WaitActivity, props: WaitActivity['typeProperties']): Promise<Record<string, never>> {
    const seconds = Number(props.waitTimeInSeconds);
    if (!(seconds >= 0)) {
      throw failure(FailureType.ExpressionError, `activity '${a.name}': waitTimeInSeconds must be a number >= 0`);
    }
    await sleep(Math.round(seconds * 1000));
    return {};
  }

  private fail(a: FailActivity, props: FailActivity['typeProperties']): Promise<never> {
    const message = asString(a, 'typeProperties.message', props.message);
    const errorCode = asString(a, 'typeProperties.errorCode', props.errorCode);
    return Promise.reject(failure(FailureType.FailActivity, message, [{ errorCode }]));
  }

  private setVariable(
    a: SetVariableActivity,
    props: SetVariableActivity['typeProperties'],
  ): Promise<{ value: unknown }> {
    this.variables[a.typeProperties.variableName] = props.value;
    return Promise.resolve({ value: props.value });
  }
}

/** Our documented `AzureMLBatchExecution` output (ADF's is undocumented, docs/spec/adf-pipeline-semantics.md §6.3). No SAS, no keys. */
export interface BatchOutput {
  jobId: string;
  jobStatus: 'Finished';
  linkedServiceName: string;
  outputs: Record<string, { linkedServiceName?: string; filePath?: string; relativeLocation?: string }>;
  executionDuration: number;
}

export interface UpdateOutput {
  trainedModelName: string;
  model: ModelRef;
  update: UpdateResult;
}

/** The BES job of this run that wrote a model, as `producerOf` finds it. */
interface Producer {
  jobId: string;
  activity: string;
  linkedServiceName: string;
  outputs: BatchOutput['outputs'];
  /** The output port of the model. */
  port: string;
  pinVia: { linkedServiceName: string; filePath: string } | null;
}

/** Outcomes an update activity succeeds with: the service serves this model, or a newer one. */
const DEPLOYED_OR_FINE: DeployOutcome['outcome'][] = ['Deployed', 'AlreadyLive', 'Superseded'];

/** `patched()` id: runs that record it deploy through the scoring service's workflow with model identity. */
export const MODEL_LIFECYCLE_PATCH = 'model-lifecycle-v1';
