/**
 * The AzureMLUpdateResource executor: get the model an update names live on its scoring service. One per run: the
 * `patched` decision, and the path-based locates of runs recorded before model identity, are per run.
 */
import { CancelledFailure, patched, setCurrentDetails, workflowInfo } from '@temporalio/workflow';
import type { PrepareModelInput } from '../../activities/model';
import { evaluateValue } from '../../common/expressions';
import { FailureType } from '../../common/failures';
import type { DeployOutcome, TrainedModel } from '../../common/models';
import type { UpdateResourceActivity } from '../../common/pipeline-definition';
import type { ModelRef, ModelSource, UpdateResourceStep, UpdateResult } from '../../common/types';
import { shortCalls, updateCalls } from './activity-options';
import type { BatchOutput, EngineContext, UpdateOutput } from './context';
import type { AttemptDeadline } from './deadline';
import { asString, failure, innermost } from './run-errors';

/** `patched()` id: runs that record it deploy through the scoring service's workflow with model identity. */
export const MODEL_LIFECYCLE_PATCH = 'model-lifecycle-v1';

/** Outcomes an update activity succeeds with: the service serves this model, or a newer one. */
const DEPLOYED_OR_FINE: DeployOutcome['outcome'][] = ['Deployed', 'AlreadyLive', 'Superseded'];

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

export class UpdateResourceExecutor {
  private readonly located = new Map<string, Promise<ModelRef>>();
  private locateChain: Promise<unknown> = Promise.resolve();
  /** Decided once per run (`patched`): runs recorded before model identity replay the path-based update. */
  private lifecycle?: boolean;

  constructor(private readonly ctx: EngineContext) {}

  /** A reused (recovery) update output still shows in the legacy status fields. */
  adoptOutput(a: UpdateResourceActivity, output: unknown): void {
    const o = output as Partial<UpdateOutput> | undefined;
    const entry = this.ctx.status.updates[a.name];
    if (entry && o?.update) entry.result = o.update;
    if (o?.model && !this.ctx.status.model) this.ctx.status.model = o.model;
  }

  /**
   * Locate the model, then get it live on the scoring service. Runs recorded before model identity existed replay the
   * old path (locate, then a path-based update); every new run prepares the model (identity, pinned copy, metrics),
   * admits it (gate, approval) and deploys it through the scoring service's workflow.
   */
  async run(
    a: UpdateResourceActivity,
    props: UpdateResourceActivity['typeProperties'],
    lastAttempt: boolean,
    deadline?: AttemptDeadline,
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
    // A lean run (v0.3, ./scheduler.ts) always has model identity: asking would record a second marker.
    this.lifecycle ??= this.ctx.lean || patched(MODEL_LIFECYCLE_PATCH);
    if (!this.lifecycle) return this.pathBasedUpdate(a, trainedModelName, source);

    let outcome: DeployOutcome | undefined;
    let model: TrainedModel | undefined;
    let error: unknown;
    try {
      ({ model, outcome } = await this.deploy(a, trainedModelName, source, deadline));
    } catch (err) {
      error = err;
    }
    const ok = !error && !!outcome && DEPLOYED_OR_FINE.includes(outcome.outcome);
    if (ok || lastAttempt) this.ctx.deployments.settle(a.name, ok);
    const entry = this.ctx.status.updates[a.name];
    if (entry && outcome) {
      entry.outcome = outcome.outcome;
      entry.message = outcome.message;
    }
    if (ok && model && outcome && outcome.outcome !== 'Superseded') {
      const failed = await this.ctx.deployments.othersFailed(a);
      if (failed) {
        const rb = await this.ctx.deployments.rollback(
          a,
          trainedModelName,
          model.identity.key,
          `all-or-nothing: '${failed}' failed`,
          deadline,
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
    deadline?: AttemptDeadline,
  ): Promise<{ model?: TrainedModel; outcome: DeployOutcome }> {
    const entry = this.ctx.status.updates[a.name];
    this.ctx.setPhase('LocatingModel');
    const producer = this.producerOf(source);
    let model: TrainedModel;
    try {
      model = await this.ctx.deployments.prepare(
        {
          activityName: a.name,
          pipeline: this.ctx.def.name,
          source,
          producedBy: producer?.jobId ?? null,
          pinVia: producer?.pinVia ?? null,
          metrics: this.metricsSource(producer),
        },
        deadline,
      );
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
    this.ctx.status.model ??= model;
    const approval = await this.ctx.deployments.admit(model, this.targetsFor(a, trainedModelName), deadline);
    if (entry) entry.state = 'InProgress';
    this.ctx.setPhase('Updating');
    const info = workflowInfo();
    const outcome = await this.ctx.deployments.deploy(
      {
        request: {
          requestId: this.ctx.deployments.requestId(a.name, this.ctx.states.get(a.name)?.record.attempt ?? 1),
          requester: {
            workflowId: info.workflowId,
            runId: info.runId,
            pipeline: this.ctx.def.name,
            activityName: a.name,
            taskQueue: info.taskQueue,
          },
          linkedServiceName: a.linkedServiceName,
          trainedModelName,
          model,
          approval,
          relativeRules: this.ctx.deployments.gateRules.filter((r) => typeof r.threshold !== 'number'),
          verification: this.ctx.deployments.verification,
        },
      },
      deadline,
    );
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
    const entry = this.ctx.status.updates[a.name];
    if (entry) entry.result = update;
    return { trainedModelName, model: model ?? (this.ctx.status.model as ModelRef), update };
  }

  /** Each service's outcome in the Web UI's "Current Details". */
  private showUpdates(): void {
    const rows = Object.entries(this.ctx.status.updates).map(
      ([name, u]) =>
        `| ${name} | ${u.linkedServiceName} | ${u.outcome ?? u.state} | ${(u.message ?? u.error ?? '').replace(/\|/g, '/')} |`,
    );
    setCurrentDetails(['| update | scoring service | outcome | detail |', '|---|---|---|---|', ...rows].join('\n'));
  }

  /** The BES job of this run that wrote the model blob, with its outputs (for the metrics) and the pin location. */
  private producerOf(source: ModelSource): Producer | null {
    const norm = (p: string | undefined) => (p ?? '').replace(/^\/+/, '');
    let found: Producer | null = null;
    for (const s of this.ctx.states.values()) {
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
    const required = this.ctx.deployments.gateRules.length > 0;
    if (!p) return null;
    const named = this.ctx.deployments.policy?.gate?.metricsOutput;
    const others = Object.entries(p.outputs).filter(([port]) => port !== p.port);
    let port: string;
    if (named) {
      if (!p.outputs[named]) {
        throw failure(
          FailureType.MetricsUnavailable,
          `pipeline '${this.ctx.def.name}': retrain:metrics names output '${named}', which training activity '${p.activity}' ` +
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
          `pipeline '${this.ctx.def.name}': the quality gate needs the evaluation output of training activity '${p.activity}', ` +
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
    const ctx = this.ctx.evalContext();
    for (const u of this.ctx.def.activities) {
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
    const entry = this.ctx.status.updates[a.name];
    this.ctx.setPhase('LocatingModel');
    const key = JSON.stringify(source);
    let located = this.located.get(key);
    if (!located) {
      // One locate at a time, in the order updates become ready (as retrainAndUpdate always did): cheap calls, and
      // the history's shape then does not depend on which of two parallel locates answers first.
      located = this.locateChain.then(() => shortCalls.locateTrainedModel({ activityName: a.name, source }));
      this.locateChain = located.catch(() => undefined);
      this.located.set(key, located);
      // A failed locate must not be reused by a later attempt.
      located.catch(() => this.located.delete(key));
    }
    const model = await located;
    this.ctx.status.model ??= model;
    if (entry) entry.state = 'InProgress';
    this.ctx.setPhase('Updating');
    const step: UpdateResourceStep = {
      activityName: a.name,
      linkedServiceName: a.linkedServiceName,
      trainedModelName,
      ...(source.kind === 'storage'
        ? { trainedModelLinkedServiceName: source.linkedServiceName, trainedModelFilePath: source.filePath }
        : {}),
    };
    const result = await updateCalls.updateScoringService({ step, model });
    if (entry) entry.result = result;
    return { trainedModelName, model, update: result };
  }

  /** `retrainAndUpdate`'s default: the `.ilearner` output of the upstream BES activity. */
  private besOutputSource(a: UpdateResourceActivity, from: { activity: string; outputName?: string }): ModelSource {
    const upstream = this.ctx.states.get(from.activity);
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
}
