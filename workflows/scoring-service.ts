/**
 * One writer per scoring service. Each service (keyed by its resource id) has one long-lived workflow that holds its
 * live model and lineage and applies every deployment request in turn, whichever run or pipeline sends it:
 * - a request whose model is older (by training time) than the live one, or one rolled back before, is `Superseded`;
 * - relative quality gates are checked again against the model live when the request's turn comes;
 * - each change is verified by a scoring call; a failed verification restores the previous model;
 * - rollbacks (all-or-nothing fan-out, `retrain rollback`) go through the same queue.
 *
 * Why a workflow and not a lock: nothing is held by a run. A run that crashes, is cancelled or terminated leaves at
 * most its own request, which this workflow finishes (or drops, if the run withdrew it first) within the activities'
 * timeouts; the next request then proceeds. Requests arrive as Workflow Updates via update-with-start (the first one
 * starts the workflow) with the run's request id as update id, so a retried request is answered, not repeated. The
 * workflow continues-as-new when its history grows, carrying its state.
 */
import {
  allHandlersFinished,
  ApplicationFailure,
  condition,
  continueAsNew,
  setCurrentDetails,
  setHandler,
  upsertMemo,
  workflowInfo,
} from '@temporalio/workflow';
import type { ApplyModelInput } from '../activities/update';
import { describeGate, evaluateGate } from '../common/deployment';
import type { VerificationPolicy } from '../common/deployment';
import { FailureType } from '../common/failures';
import type {
  DeployOutcome,
  DeployRequest,
  LineageEntry,
  RollbackOutcome,
  RollbackRequest,
  ServiceUpdate,
  ServiceView,
  VerificationResult,
} from '../common/models';
import type { ModelSource } from '../common/types';
import { serviceApplyCalls, serviceVerifyCalls } from './engine/activity-options';
import { deployUpdate, rollbackUpdate, serviceQuery, withdrawUpdate } from './queries';
import type { ServiceState } from './scoring-service-lineage';
import {
  failureOf,
  LINEAGE_LIMIT,
  lineageMarkdown,
  noEarlierModel,
  noWorker,
  record,
  remember,
  resourceOf,
  rollbackTarget,
  withdraw,
} from './scoring-service-lineage';

export interface ScoringServiceInput {
  serviceKey: string;
  maxHistoryEvents?: number;
  /** How long a request's activity may wait for a worker on the requester's task queue. Default 30 minutes. */
  requestStartTimeoutMs?: number;
  /** Carried over continue-as-new. */
  state?: ServiceState;
}

const DEFAULT_REQUEST_START_TIMEOUT_MS = 30 * 60_000;

export async function scoringService(input: ScoringServiceInput): Promise<void> {
  const serviceKey = input.serviceKey;
  const startTimeout = input.requestStartTimeoutMs ?? DEFAULT_REQUEST_START_TIMEOUT_MS;
  const state: ServiceState = input.state ?? { seq: 0, live: {}, lineage: [], withdrawn: [], processed: [] };
  const withdrawnRequests = new Set<string>();
  let pending = 0;
  let tail: Promise<unknown> = Promise.resolve();

  /** One request at a time, in arrival order. */
  function serialized<T>(fn: () => Promise<T>): Promise<T> {
    pending += 1;
    const run = tail.then(fn).finally(() => (pending -= 1));
    tail = run.catch(() => undefined);
    return run;
  }

  const view = (): ServiceView => ({
    serviceKey,
    live: state.live,
    lineage: state.lineage,
    withdrawn: state.withdrawn,
    pending,
  });

  function publish(): void {
    // Memo: `retrain models` and the Web UI read it without a worker. Keep it bounded.
    upsertMemo({ view: { ...view(), lineage: state.lineage.slice(-LINEAGE_LIMIT) } });
    // Current details: what the Web UI's workflow page shows (markdown); no URL, so no SAS can leak into it.
    setCurrentDetails(lineageMarkdown(serviceKey, state.live, state.lineage));
  }

  async function applyAndVerify(
    taskQueue: string,
    apply: ApplyModelInput,
    expectJobId: string | null,
    verification: VerificationPolicy,
  ): Promise<{ update: ServiceUpdate; verification: VerificationResult | null }> {
    const update = await serviceApplyCalls(taskQueue, startTimeout).applyModel(apply);
    if (!verification.enabled) return { update, verification: null };
    const result = await serviceVerifyCalls(taskQueue, verification, startTimeout).verifyModel({
      linkedServiceName: apply.linkedServiceName,
      expectJobId,
      verification,
      label: apply.label,
    });
    return { update, verification: result };
  }

  function restoreInput(entry: LineageEntry, linkedServiceName: string, label: string): ApplyModelInput {
    return {
      linkedServiceName,
      trainedModelName: entry.trainedModelName,
      location: entry.restoreFrom,
      expectedEtag: entry.blobEtag,
      label,
    };
  }

  async function deploy(req: DeployRequest): Promise<DeployOutcome> {
    const done = state.processed.find((p) => p.id === req.requestId);
    if (done) return { ...(done.outcome as DeployOutcome), live: state.live[req.trainedModelName] ?? null };
    const name = req.trainedModelName;
    const model = req.model;
    const live = state.live[name] ?? null;
    const base = { serviceKey, live };
    const finish = (o: DeployOutcome): DeployOutcome => {
      remember(state, req.requestId, o);
      publish();
      return o;
    };
    if (withdrawnRequests.has(req.requestId)) {
      return finish({ ...base, outcome: 'Cancelled', message: 'the run was cancelled before its turn: nothing sent' });
    }
    if (state.withdrawn.includes(model.identity.key)) {
      return finish({
        ...base,
        outcome: 'Superseded',
        message: `model ${model.identity.key} was rolled back from this service before; it is not applied again`,
      });
    }
    if (live && live.identity.key !== model.identity.key && model.identity.trainedAt < live.identity.trainedAt) {
      return finish({
        ...base,
        outcome: 'Superseded',
        message:
          `a newer model is live: ${live.identity.key} (trained ${live.identity.trainedAt}) is newer than ` +
          `${model.identity.key} (trained ${model.identity.trainedAt}); not applied`,
      });
    }
    if (req.relativeRules.length > 0 && model.metrics && (!live || live.identity.key !== model.identity.key)) {
      const checks = evaluateGate(req.relativeRules, model.metrics.values, live?.metrics ?? null, 'relative');
      if (checks.some((c) => !c.passed)) {
        return finish({
          ...base,
          outcome: 'Rejected',
          message: `quality gate against the live model ${live?.identity.key ?? '(none)'}: ${describeGate(checks)}`,
          gate: checks,
          error: { type: FailureType.QualityGateFailed, message: describeGate(checks) },
        });
      }
    }
    const location: ModelSource = model.pinned
      ? { kind: 'storage', linkedServiceName: model.pinned.linkedServiceName, filePath: model.pinned.filePath }
      : model.source;
    const label = `deployment of model ${model.identity.key} by ${req.requester.workflowId}/${req.requester.activityName}`;
    const apply: ApplyModelInput = {
      linkedServiceName: req.linkedServiceName,
      trainedModelName: name,
      location,
      expectedEtag: model.pinned?.etag ?? model.identity.etag,
      label,
    };
    let update: ServiceUpdate | undefined;
    try {
      update = await serviceApplyCalls(req.requester.taskQueue, startTimeout).applyModel(apply);
    } catch (err) {
      const f = noWorker(err, req.requester.taskQueue, startTimeout) ?? failureOf(err);
      return finish({
        ...base,
        outcome: f.type === FailureType.ModelSuperseded ? 'Superseded' : 'Failed',
        message: f.message,
        error: f,
      });
    }
    const entry = (verification: VerificationResult | null, note?: string) =>
      record(state, {
        trainedModelName: name,
        identity: model.identity,
        modelUrl: update.modelUrl,
        restoreFrom: location,
        blobEtag: apply.expectedEtag,
        metrics: model.metrics?.values ?? null,
        run: {
          workflowId: req.requester.workflowId,
          runId: req.requester.runId,
          pipeline: req.requester.pipeline,
          activityName: req.requester.activityName,
        },
        approval: req.approval,
        how: 'deploy',
        linkedServiceName: req.linkedServiceName,
        verification,
        ...(note && { note }),
      });
    if (!req.verification.enabled) {
      const now = live?.identity.key === model.identity.key ? live : entry(null, 'not verified (verification off)');
      return finish({
        ...base,
        live: now,
        outcome: live?.identity.key === model.identity.key ? 'AlreadyLive' : 'Deployed',
        message: 'applied; verification is off',
        update,
      });
    }
    try {
      const verification = await serviceVerifyCalls(
        req.requester.taskQueue,
        req.verification,
        startTimeout,
      ).verifyModel({
        linkedServiceName: req.linkedServiceName,
        expectJobId: model.identity.jobId,
        verification: req.verification,
        label,
      });
      const already = live?.identity.key === model.identity.key;
      const now = already ? live : entry(verification);
      if (already && now) now.verification = verification;
      return finish({
        ...base,
        live: now,
        outcome: already ? 'AlreadyLive' : 'Deployed',
        message: already
          ? `model ${model.identity.key} was already live; verified by scoring`
          : `model ${model.identity.key} is live, verified by scoring (${verification.how})`,
        update,
        verification,
      });
    } catch (err) {
      const f = failureOf(err);
      // The failed model was live (unverified) for a moment: lineage keeps it, and it is never applied again.
      const failed = entry(null, `verification failed: ${f.message}`);
      withdraw(state, model.identity.key);
      // The newest earlier model that is not withdrawn: normally the one live before; never a model that itself
      // failed verification (a first deployment that failed stays live, withdrawn, until a good one replaces it).
      const previous = rollbackTarget(state, name);
      if (!previous) {
        return finish({
          ...base,
          live: failed,
          outcome: 'Failed',
          message: `${f.message}; no earlier good model is recorded for this service, so none could be restored`,
          update,
          error: f,
        });
      }
      try {
        const restored = await applyAndVerify(
          req.requester.taskQueue,
          restoreInput(
            previous,
            req.linkedServiceName,
            `rollback to model ${previous.identity.key} (verification failed)`,
          ),
          previous.identity.jobId,
          req.verification,
        );
        const back = record(state, {
          ...previous,
          modelUrl: restored.update.modelUrl,
          how: 'rollback',
          linkedServiceName: req.linkedServiceName,
          verification: restored.verification,
          note: `verification of ${model.identity.key} failed`,
        });
        return finish({
          ...base,
          live: back,
          outcome: 'RolledBack',
          message: `${f.message}; model ${previous.identity.key} restored and verified`,
          update,
          error: f,
        });
      } catch (err2) {
        const f2 = failureOf(err2);
        return finish({
          ...base,
          live: failed,
          outcome: 'Failed',
          message: `${f.message}; restoring model ${previous.identity.key} failed too: ${f2.message}`,
          update,
          error: f,
        });
      }
    }
  }

  async function rollback(req: RollbackRequest): Promise<RollbackOutcome> {
    const done = state.processed.find((p) => p.id === req.requestId);
    if (done) return done.outcome as RollbackOutcome;
    const name = resourceOf(state, req)!;
    const live = state.live[name] ?? null;
    const finish = (o: RollbackOutcome): RollbackOutcome => {
      remember(state, req.requestId, o);
      publish();
      return o;
    };
    if (req.ifLiveKey && live?.identity.key !== req.ifLiveKey) {
      return finish({
        outcome: 'NotLive',
        serviceKey,
        live,
        message: `model ${req.ifLiveKey} is no longer live (${live?.identity.key ?? 'none'} is): nothing to roll back`,
      });
    }
    const target = rollbackTarget(state, name, req.toJobId);
    if (!target) {
      // The validator refused this already; the state may have changed while the request waited its turn.
      throw ApplicationFailure.create({
        type: FailureType.NoEarlierModel,
        nonRetryable: true,
        message: `scoring service ${serviceKey}: no earlier model to roll back to`,
      });
    }
    try {
      const r = await applyAndVerify(
        req.taskQueue,
        restoreInput(target, req.linkedServiceName, `rollback to model ${target.identity.key}`),
        target.identity.jobId,
        req.verification,
      );
      if (live) withdraw(state, live.identity.key);
      // An operator who restores a model vouches for it again: it may serve, be restored to and be redeployed.
      state.withdrawn = state.withdrawn.filter((k) => k !== target.identity.key);
      const restored = record(state, {
        ...target,
        modelUrl: r.update.modelUrl,
        how: 'rollback',
        linkedServiceName: req.linkedServiceName,
        approval: { decision: 'approved', by: req.by, reason: req.reason, at: new Date().toISOString() },
        verification: r.verification,
        note: req.reason,
      });
      return finish({
        outcome: 'RolledBack',
        serviceKey,
        live: restored,
        restored,
        message: `model ${target.identity.key} (job ${target.identity.jobId ?? 'unknown'}) restored${r.verification ? ', verified by scoring' : ''}`,
      });
    } catch (err) {
      const f = failureOf(err);
      return finish({ outcome: 'Failed', serviceKey, live, message: `rollback failed: ${f.message}`, error: f });
    }
  }

  setHandler(deployUpdate, (req) => serialized(() => deploy(req)), {
    validator: (req: DeployRequest) => {
      if (!req?.requestId || !req.model?.identity?.key || !req.trainedModelName || !req.requester?.taskQueue) {
        throw new Error('a deploy request needs requestId, requester.taskQueue, trainedModelName and model.identity');
      }
    },
  });
  setHandler(rollbackUpdate, (req) => serialized(() => rollback(req)), {
    validator: (req: RollbackRequest) => {
      if (!req?.requestId || !req.taskQueue || !req.linkedServiceName) {
        throw new Error('a rollback request needs requestId, taskQueue and linkedServiceName');
      }
      const name = resourceOf(state, req);
      if (!name) {
        throw noEarlierModel(
          Object.keys(state.live).length === 0
            ? `scoring service ${serviceKey} has no model deployed by ml-retrain: nothing to roll back`
            : `scoring service ${serviceKey} has several trained models (${Object.keys(state.live).join(', ')}): name one`,
        );
      }
      if (req.ifLiveKey) return;
      if (!rollbackTarget(state, name, req.toJobId)) {
        throw noEarlierModel(
          req.toJobId
            ? `scoring service ${serviceKey} has no model of BES job ${req.toJobId} in its lineage (other than the live one)`
            : `scoring service ${serviceKey} has no earlier model to roll back to (lineage: ${state.lineage.filter((e) => e.trainedModelName === name).length} entr${state.lineage.length === 1 ? 'y' : 'ies'})`,
        );
      }
    },
  });
  setHandler(withdrawUpdate, (requestId) => {
    withdrawnRequests.add(requestId);
    return true;
  });
  setHandler(serviceQuery, view);
  publish();

  const limit = input.maxHistoryEvents;
  const tooLong = () =>
    workflowInfo().continueAsNewSuggested || (limit !== undefined && workflowInfo().historyLength > limit);
  await condition(() => tooLong() && pending === 0);
  await condition(allHandlersFinished);
  await continueAsNew<typeof scoringService>({
    serviceKey,
    maxHistoryEvents: limit,
    requestStartTimeoutMs: input.requestStartTimeoutMs,
    state,
  });
}
