/**
 * The one pipeline engine behind `runPipeline` and `retrainAndUpdate`: runs a normalized ADF pipeline definition
 * (common/pipeline-definition.ts) as ADF does (docs/spec/adf-pipeline-semantics.md §3). Every activity waits for the activities it depends on, then runs if
 * its conditions hold (OR within an entry, AND across entries) or ends Skipped; independent branches run in parallel;
 * the run's status follows the leaf rule. Each ADF activity type has an executor; execution activities get ADF's
 * `policy`: `timeout` bounds one attempt, `retry` re-runs the whole activity (a new BES job) after a fixed interval.
 */
import {
  CancellationScope,
  isCancellation,
  patched,
  sleep,
  upsertSearchAttributes,
  uuid4,
  workflowInfo,
} from '@temporalio/workflow';
import type { SearchAttributeUpdatePair } from '@temporalio/common';
import type { EffectiveStatus } from '../../common/dag';
import { dependenciesHold, downstreamOf, leafRule } from '../../common/dag';
import { parseAdfTimespan } from '../../common/duration';
import type { EvalContext } from '../../common/expressions';
import { ExpressionError } from '../../common/expressions';
import { FailureType } from '../../common/failures';
import { jsonBytes, PAYLOAD_LIMIT_BYTES, payloadTooLargeMessage } from '../../common/limits';
import type {
  ActivityDefinition,
  BatchExecutionActivity,
  FailActivity,
  PipelineDefinition,
  SetVariableActivity,
  UpdateResourceActivity,
  WaitActivity,
} from '../../common/pipeline-definition';
import { MASKED } from '../../common/pipeline-definition';
import { PhaseAttr, PipelineAttr, ScoringServiceAttr } from '../../common/search-attributes';
import type { ActivityRunRecord, RunPhase, RunStatus } from '../../common/types';
import { Deployments } from '../deployment';
import { adoptBatchOutput, batchExecution, leanBatchExecution } from './batch-execution';
import type { ActivityState, EngineContext, EngineOptions, EngineResult } from './context';
import { fail, setVariable, wait } from './control';
import { AttemptDeadline, RunDeadline, withTimer } from './deadline';
import { asString, evaluate, failure, innermost, messageOf, toRunError } from './run-errors';
import { UpdateResourceExecutor } from './update-resource';

/** Run one attempt with ADF's `policy.timeout`: a timer cancels the attempt, which then fails as timed out. */
function withAttemptTimeout<T>(a: ActivityDefinition, ms: number, fn: () => Promise<T>): Promise<T> {
  return withTimer(ms, fn, {
    timeoutError: () =>
      failure(
        FailureType.ActivityTimedOut,
        `activity '${a.name}' timed out after ${Math.round(ms / 1000)} s (policy.timeout)`,
      ),
  });
}

/**
 * `patched()` id: runs that record it write a lean history (v0.3): no timer per ADF attempt (./deadline.ts,
 * AttemptDeadline), one BES wait until the job ends, and search attributes upserted only when they change and only
 * for the phases a run spends time in.
 */
export const HISTORY_DIET_PATCH = 'history-diet-v1';

/**
 * The Phase search attribute of a lean run: the phases a run spends time in. Submitting, Starting and LocatingModel
 * last a request or a few; the `status` query shows them, and the search attribute stays at the stage around them.
 * Starting counts as Training: the job exists from then on, and its id is upserted with it.
 */
const SEARCH_PHASE: Partial<Record<RunPhase, RunPhase>> = {
  Starting: 'Training',
  Training: 'Training',
  Gating: 'Gating',
  AwaitingApproval: 'AwaitingApproval',
  Updating: 'Updating',
  Succeeded: 'Succeeded',
  Failed: 'Failed',
  Rejected: 'Rejected',
  Cancelled: 'Cancelled',
};

export class PipelineEngine implements EngineContext {
  readonly states = new Map<string, ActivityState>();
  readonly variables: Record<string, unknown> = {};
  /** The scope the run's work runs in: the workflow's, or the deadline's (./deadline.ts). */
  private root = CancellationScope.current();
  readonly deployments: Deployments;
  private readonly updates: UpdateResourceExecutor;
  /** Decided once, when the run starts (HISTORY_DIET_PATCH): runs recorded before v0.3 replay their commands. */
  lean = false;

  constructor(
    readonly def: PipelineDefinition,
    readonly status: RunStatus,
    readonly opts: EngineOptions,
  ) {
    this.deployments = new Deployments({ def, status, setPhase: (p) => this.setPhase(p) });
    this.updates = new UpdateResourceExecutor(this);
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

  setPhase(phase: RunPhase, attrs: SearchAttributeUpdatePair[] = []): void {
    this.status.phase = phase;
    if (!this.opts.searchAttributes) return;
    if (!this.lean) {
      upsertSearchAttributes([{ key: PhaseAttr, value: phase }]);
      return;
    }
    const searchPhase = SEARCH_PHASE[phase];
    const changed = this.changed([...attrs, ...(searchPhase ? [{ key: PhaseAttr, value: searchPhase }] : [])]);
    if (changed.length) upsertSearchAttributes(changed);
  }

  /** The attributes whose value differs from the run's: a lean run upserts only those, and nothing for no change. */
  private changed(pairs: SearchAttributeUpdatePair[]): SearchAttributeUpdatePair[] {
    const current = workflowInfo().typedSearchAttributes;
    return pairs.filter((p) => JSON.stringify(current.get(p.key)) !== JSON.stringify(p.value));
  }

  evalContext(): EvalContext {
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
    this.lean = patched(HISTORY_DIET_PATCH);
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
    const identity: SearchAttributeUpdatePair[] = [
      { key: PipelineAttr, value: this.def.name },
      {
        key: ScoringServiceAttr,
        value: this.def.activities.filter((a) => a.type === 'AzureMLUpdateResource').map((a) => a.linkedServiceName),
      },
    ];
    const phase = { key: PhaseAttr, value: this.status.phase };
    // A lean run upserts them only when its starter did not set them (retrain run and schedules do), with Phase riding
    // along; on its own, Phase would cost an event for a phase that lasts one request.
    if (this.opts.searchAttributes && (!this.lean || this.changed(identity).length)) {
      upsertSearchAttributes(this.lean ? this.changed([...identity, phase]) : [...identity, phase]);
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
      if (a.type === 'AzureMLBatchExecution') adoptBatchOutput(this.status, recorded.output);
      if (a.type === 'AzureMLUpdateResource') this.updates.adoptOutput(a, recorded.output);
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
        const output = this.lean
          ? await this.leanAttempt(a, input, policy.timeoutMs, last)
          : await withAttemptTimeout(a, policy.timeoutMs, () => this.execute(a, input, policy.timeoutMs, last));
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

  /** One attempt of a lean run: its `policy.timeout` travels with its waits (AttemptDeadline), no timer of its own. */
  private async leanAttempt(a: ActivityDefinition, input: unknown, timeoutMs: number, last: boolean): Promise<unknown> {
    const deadline = new AttemptDeadline(a.name, timeoutMs);
    try {
      return await this.execute(a, input, timeoutMs, last, deadline);
    } catch (err) {
      throw deadline.translate(err) as Error;
    }
  }

  private execute(
    a: ActivityDefinition,
    input: unknown,
    timeoutMs: number,
    lastAttempt: boolean,
    deadline?: AttemptDeadline,
  ): Promise<unknown> {
    switch (a.type) {
      case 'AzureMLBatchExecution': {
        const props = input as BatchExecutionActivity['typeProperties'];
        return deadline ? leanBatchExecution(this, a, props, deadline) : batchExecution(this, a, props, timeoutMs);
      }
      case 'AzureMLUpdateResource':
        return this.updates.run(a, input as UpdateResourceActivity['typeProperties'], lastAttempt, deadline);
      case 'Wait':
        return wait(a, input as WaitActivity['typeProperties'], deadline);
      case 'Fail':
        return fail(a, input as FailActivity['typeProperties']);
      case 'SetVariable':
        return setVariable(this.variables, a, input as SetVariableActivity['typeProperties']);
    }
  }
}
