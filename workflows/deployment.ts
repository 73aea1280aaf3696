/**
 * The run's side of a model's way to the scoring services (the engine's AzureMLUpdateResource executor calls it):
 * prepare the model once (locate, identify, pin, metrics), admit it once (quality gate, then approval), and hand each
 * deployment to the scoring service's own workflow (./scoring-service.ts), at most `fanOut.parallel` at a time. Under
 * an all-or-nothing fan-out, updates that ran side by side wait for each other, and when one failed the others roll
 * their service back.
 */
import {
  ApplicationFailure,
  condition,
  setCurrentDetails,
  setHandler,
  uuid4,
  workflowInfo,
} from '@temporalio/workflow';
import type { Activities } from '../activities';
import type { PrepareModelInput } from '../activities/model';
import { downstreamOf } from '../common/dag';
import type { DeploymentPolicy, FanOutPolicy, GateCheck, GateRule, VerificationPolicy } from '../common/deployment';
import { DEFAULT_APPROVAL_TIMEOUT, describeGate, evaluateGate, fanOutOf, verificationOf } from '../common/deployment';
import { parseAdfTimespan } from '../common/duration';
import { FailureType } from '../common/failures';
import {
  boundedCalls,
  DEPLOY_CALLS,
  deployCalls,
  PREPARE_CALLS,
  prepareCalls,
  READ_CALLS,
  readCalls,
} from './engine/activity-options';
import type { AttemptDeadline } from './engine/deadline';
import type {
  Approval,
  ApprovalDecision,
  DeployOutcome,
  LineageEntry,
  RollbackOutcome,
  TrainedModel,
} from '../common/models';
import type { PipelineDefinition, UpdateResourceActivity } from '../common/pipeline-definition';
import type { RunPhase, RunStatus } from '../common/types';
import { approveUpdate, rejectUpdate } from './queries';

export interface DeploymentContext {
  def: PipelineDefinition;
  status: RunStatus;
  setPhase(phase: RunPhase): void;
}

function rejected(type: string, message: string): ApplicationFailure {
  return ApplicationFailure.create({ type, message, nonRetryable: true });
}

export class Deployments {
  readonly policy: DeploymentPolicy | undefined;
  readonly fanOut: FanOutPolicy;
  readonly verification: VerificationPolicy;
  /** Shared by the updates of a run, each with the deadline of the attempt that started it (lean runs). */
  private readonly prepared = new Map<string, { p: Promise<TrainedModel>; atMs: number }>();
  private readonly admitted = new Map<string, { p: Promise<Approval | null>; atMs: number }>();
  private readonly waiting: { key: string; decide(a: Approval): void }[] = [];
  private readonly settled = new Map<string, { done: Promise<boolean>; resolve(ok: boolean): void }>();
  private free: number;
  private readonly queue: (() => void)[] = [];

  constructor(private readonly ctx: DeploymentContext) {
    this.policy = ctx.def.deployment;
    this.fanOut = fanOutOf(this.policy);
    this.verification = verificationOf(this.policy);
    this.free = this.fanOut.parallel;
    for (const a of ctx.def.activities) {
      if (a.type !== 'AzureMLUpdateResource') continue;
      let resolve!: (ok: boolean) => void;
      const done = new Promise<boolean>((r) => (resolve = r));
      this.settled.set(a.name, { done, resolve });
    }
    const validator = (d: ApprovalDecision) => this.checkDecision(d);
    setHandler(approveUpdate, (d) => this.decide('approved', d), { validator });
    setHandler(rejectUpdate, (d) => this.decide('rejected', d), { validator });
  }

  get gateRules(): GateRule[] {
    return this.policy?.gate?.rules ?? [];
  }

  /** Locate, identify, pin and read metrics once per distinct source in a run. */
  prepare(input: PrepareModelInput, deadline?: AttemptDeadline): Promise<TrainedModel> {
    const key = JSON.stringify(input.source);
    let shared = this.prepared.get(key);
    if (!shared) {
      const calls = deadline ? boundedCalls(PREPARE_CALLS, deadline.remainingMs()) : prepareCalls;
      shared = { p: calls.prepareModel(input), atMs: deadline?.atMs ?? Infinity };
      this.prepared.set(key, shared);
      // A failed prepare is not reused by a later attempt (ADF retry).
      shared.p.catch(() => this.prepared.delete(key));
    }
    return deadline ? deadline.within(shared.p, shared.atMs) : shared.p;
  }

  /**
   * The quality gate, then approval: once per model in a run, whichever update reaches it first. `targets` are the
   * services whose live models a relative rule compares with.
   */
  admit(
    model: TrainedModel,
    targets: { linkedServiceName: string; trainedModelName: string }[],
    deadline?: AttemptDeadline,
  ): Promise<Approval | null> {
    let shared = this.admitted.get(model.identity.key);
    if (!shared) {
      shared = { p: this.gateThenApproval(model, targets, deadline), atMs: deadline?.atMs ?? Infinity };
      this.admitted.set(model.identity.key, shared);
    }
    return deadline ? deadline.within(shared.p, shared.atMs) : shared.p;
  }

  private async gateThenApproval(
    model: TrainedModel,
    targets: { linkedServiceName: string; trainedModelName: string }[],
    deadline?: AttemptDeadline,
  ): Promise<Approval | null> {
    const rules = this.gateRules;
    if (rules.length > 0) {
      this.ctx.setPhase('Gating');
      const where = `pipeline '${this.ctx.def.name}'`;
      if (!model.metrics) {
        throw rejected(
          FailureType.MetricsUnavailable,
          `${where}: the quality gate needs the training job's evaluation output, and the model has none`,
        );
      }
      const missing = rules.filter((r) => !Object.prototype.hasOwnProperty.call(model.metrics!.values, r.metric));
      if (missing.length) {
        throw rejected(
          FailureType.MetricsUnavailable,
          `${where}: retrain:gate '${missing[0].text}': the evaluation output ${model.metrics.from} has no numeric ` +
            `column '${missing[0].metric}' (columns found: ${model.metrics.columns.join(', ') || 'none'})`,
        );
      }
      const absolute = rules.filter((r) => typeof r.threshold === 'number');
      const relative = rules.filter((r) => typeof r.threshold !== 'number');
      const checks: GateCheck[] = evaluateGate(absolute, model.metrics.values, null);
      if (relative.length) {
        // Compared with each target service's live model; a service with none yet has nothing to compare with.
        const reads = deadline ? boundedCalls(READ_CALLS, deadline.remainingMs()) : readCalls;
        const live: (LineageEntry | null)[] = targets.length ? await reads.liveModels({ services: targets }) : [];
        if (!targets.length) checks.push(...evaluateGate(relative, model.metrics.values, null));
        live.forEach((l, i) => {
          for (const c of evaluateGate(relative, model.metrics!.values, l?.metrics ?? null)) {
            checks.push({
              ...c,
              against: { linkedServiceName: targets[i].linkedServiceName, liveKey: l?.identity.key ?? null },
            });
          }
        });
      }
      const passed = checks.every((c) => c.passed);
      this.ctx.status.gate = { model: model.identity.key, passed, checks };
      if (!passed) {
        throw rejected(
          FailureType.QualityGateFailed,
          `${where}: model ${model.identity.key} rejected by the quality gate: ${describeGate(checks.filter((c) => !c.passed))}; nothing was deployed`,
        );
      }
    }
    const approval = this.policy?.approval;
    if (!approval?.required) return null;
    return this.awaitApproval(model, approval.timeout ?? DEFAULT_APPROVAL_TIMEOUT, deadline);
  }

  private async awaitApproval(model: TrainedModel, timeout: string, deadline?: AttemptDeadline): Promise<Approval> {
    const timeoutMs = parseAdfTimespan(timeout) ?? 24 * 3_600_000;
    // A lean run's attempt deadline, when it comes first, is this wait's one timer (it was a timer of its own before).
    const attemptEndsFirst = deadline !== undefined && deadline.remainingMs() < timeoutMs;
    const now = Date.now();
    this.ctx.status.approval = {
      state: 'Waiting',
      model: model.identity.key,
      jobId: model.identity.jobId,
      metrics: model.metrics?.values ?? null,
      requestedAt: new Date(now).toISOString(),
      deadline: new Date(now + timeoutMs).toISOString(),
    };
    this.ctx.setPhase('AwaitingApproval');
    setCurrentDetails(
      `**Awaiting approval** of model \`${model.identity.key}\` (BES job ${model.identity.jobId ?? 'unknown'}) until ` +
        `${this.ctx.status.approval.deadline}.\n\nMetrics: ${JSON.stringify(model.metrics?.values ?? {})}\n\n` +
        `\`retrain approve ${workflowInfo().workflowId} --by <you> --reason <why>\` or \`retrain reject …\``,
    );
    let decision: Approval | undefined;
    this.waiting.push({ key: model.identity.key, decide: (a) => (decision = a) });
    const decided = await condition(
      () => decision !== undefined,
      attemptEndsFirst ? Math.max(1, deadline.remainingMs()) : timeoutMs,
    );
    const status = this.ctx.status.approval;
    if ((!decided || !decision) && attemptEndsFirst) {
      this.waiting.splice(0, this.waiting.length);
      throw deadline.timedOut();
    }
    if (!decided || !decision) {
      this.waiting.splice(0, this.waiting.length);
      Object.assign(status, { state: 'TimedOut', at: new Date().toISOString() });
      setCurrentDetails(
        `Approval of model \`${model.identity.key}\` **timed out** after ${timeout}: nothing deployed.`,
      );
      throw rejected(
        FailureType.ApprovalTimedOut,
        `pipeline '${this.ctx.def.name}': nobody approved model ${model.identity.key} within ${timeout}; nothing was deployed`,
      );
    }
    Object.assign(status, {
      state: decision.decision === 'approved' ? 'Approved' : 'Rejected',
      by: decision.by,
      reason: decision.reason,
      at: decision.at,
    });
    setCurrentDetails(
      `Model \`${model.identity.key}\` **${decision.decision}** by ${decision.by}${decision.reason ? `: ${decision.reason}` : ''}`,
    );
    if (decision.decision === 'rejected') {
      throw rejected(
        FailureType.ApprovalRejected,
        `pipeline '${this.ctx.def.name}': model ${model.identity.key} rejected by ${decision.by}` +
          `${decision.reason ? ` (${decision.reason})` : ''}; nothing was deployed`,
      );
    }
    return decision;
  }

  private checkDecision(d: ApprovalDecision): void {
    if (!d || typeof d.by !== 'string' || !d.by.trim()) {
      throw new Error('say who decides: { "by": "<name>", "reason": "<why>" }');
    }
    if (this.waiting.length > 0) return;
    const s = this.ctx.status;
    const id = workflowInfo().workflowId;
    let why: string;
    if (!this.policy?.approval?.required) why = 'its pipeline does not require approval (no retrain:approval)';
    else if (s.approval && s.approval.state !== 'Waiting') {
      why = `its model was already ${s.approval.state.toLowerCase()}${s.approval.by ? ` by ${s.approval.by}` : ''}${s.approval.at ? ` at ${s.approval.at}` : ''}`;
    } else if (s.runStatus !== 'InProgress') why = `it has ended (${s.runStatus})`;
    else why = `it is in phase ${s.phase}; it asks for approval once its model is trained and passes the gate`;
    throw ApplicationFailure.create({
      type: 'NotAwaitingApproval',
      nonRetryable: true,
      message: `run ${id} is not waiting for approval: ${why}`,
    });
  }

  private decide(decision: 'approved' | 'rejected', d: ApprovalDecision): Approval {
    const w = this.waiting.shift()!;
    const a: Approval = { decision, by: d.by.trim(), reason: (d.reason ?? '').trim(), at: new Date().toISOString() };
    w.decide(a);
    return a;
  }

  /** Deploy through the scoring service's workflow, at most `fanOut.parallel` services at a time. */
  async deploy(input: Parameters<Activities['deployModel']>[0], deadline?: AttemptDeadline): Promise<DeployOutcome> {
    if (this.free > 0) this.free -= 1;
    else if (!deadline) await new Promise<void>((r) => this.queue.push(r));
    else {
      let granted = false;
      const grant = () => (granted = true);
      this.queue.push(grant);
      try {
        await deadline.condition(() => granted);
      } catch (err) {
        const i = this.queue.indexOf(grant);
        if (i >= 0) this.queue.splice(i, 1);
        throw err;
      }
    }
    try {
      return await deployCalls.deployModel(
        deadline ? { ...input, deadline: { atMs: deadline.atMs, message: deadline.message } } : input,
      );
    } finally {
      const next = this.queue.shift();
      if (next) next();
      else this.free += 1;
    }
  }

  requestId(activity: string, attempt: number): string {
    const info = workflowInfo();
    return `${info.workflowId}/${info.runId}/${activity}/${attempt}`;
  }

  /** An update activity has its outcome (or will never run): all-or-nothing barriers count it. */
  settle(activity: string, ok: boolean): void {
    this.settled.get(activity)?.resolve(ok);
  }

  /**
   * All-or-nothing: wait for the updates running side by side with this one (not those downstream of it, which
   * wait for it) and return the first that failed, if any.
   */
  async othersFailed(a: UpdateResourceActivity): Promise<string | undefined> {
    if (this.fanOut.mode !== 'all-or-nothing') return undefined;
    const below = downstreamOf(this.ctx.def.activities, [a.name]);
    const others = [...this.settled.entries()].filter(([n]) => n !== a.name && !below.has(n));
    const results = await Promise.all(others.map(async ([n, s]) => [n, await s.done] as const));
    return results.find(([, ok]) => !ok)?.[0];
  }

  /** Roll a service back from this run's model (all-or-nothing), unless a newer model is live there by now. */
  rollback(
    a: UpdateResourceActivity,
    trainedModelName: string,
    modelKey: string,
    reason: string,
    deadline?: AttemptDeadline,
  ): Promise<RollbackOutcome> {
    const calls = deadline ? boundedCalls(DEPLOY_CALLS, deadline.remainingMs()) : deployCalls;
    return calls.rollbackModel({
      request: {
        requestId: `${this.requestId(a.name, 0)}/rollback/${uuid4()}`,
        ifLiveKey: modelKey,
        trainedModelName,
        linkedServiceName: a.linkedServiceName,
        by: `run ${workflowInfo().workflowId}`,
        reason,
        taskQueue: workflowInfo().taskQueue,
        verification: this.verification,
      },
    });
  }
}
