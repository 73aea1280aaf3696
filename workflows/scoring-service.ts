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
  ActivityCancellationType,
  allHandlersFinished,
  condition,
  continueAsNew,
  proxyActivities,
  setCurrentDetails,
  setHandler,
  TimeoutFailure,
  upsertMemo,
  workflowInfo,
} from '@temporalio/workflow';
import type { Activities } from '../activities';
import type { ApplyModelInput } from '../activities/update';
import { describeGate, evaluateGate } from '../common/deployment';
import type { VerificationPolicy } from '../common/deployment';
import { FailureType, NON_RETRYABLE_FAILURES } from '../common/failures';
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
import { deployUpdate, rollbackUpdate, serviceQuery, withdrawUpdate } from './queries';
import { ApplicationFailure } from '@temporalio/workflow';

/** Lineage entries kept (and shown); older ones drop off. */
const LINEAGE_LIMIT = 100;
/** Request outcomes remembered, so a request retried after a continue-as-new is answered, not repeated. */
const PROCESSED_LIMIT = 50;

export interface ScoringServiceInput {
  serviceKey: string;
  maxHistoryEvents?: number;
  /** How long a request's activity may wait for a worker on the requester's task queue. Default 30 minutes. */
  requestStartTimeoutMs?: number;
  /** Carried over continue-as-new. */
  state?: ServiceState;
}

interface ServiceState {
  seq: number;
  live: Record<string, LineageEntry | null>;
  lineage: LineageEntry[];
  withdrawn: string[];
  processed: { id: string; outcome: DeployOutcome | RollbackOutcome }[];
}

const DEFAULT_REQUEST_START_TIMEOUT_MS = 30 * 60_000;

function activitiesFor(taskQueue: string, scheduleToStartTimeout: number) {
  // The update, as in a run: a flaky service fails whole attempts, and retrying is safe (a model already applied is
  // found, not sent again). The activities run on the requester's task queue: its workers know its linked services.
  const apply = proxyActivities<Activities>({
    taskQueue,
    // Requests are served one at a time: a requester whose workers are gone for good (a retired task queue) must not
    // hold the service forever. Half an hour covers worker restarts and deploys; past it the request ends Failed.
    scheduleToStartTimeout,
    startToCloseTimeout: '15m',
    heartbeatTimeout: '1m',
    retry: {
      initialInterval: '2s',
      backoffCoefficient: 2,
      maximumInterval: '1m',
      maximumAttempts: 30,
      nonRetryableErrorTypes: NON_RETRYABLE_FAILURES,
    },
    cancellationType: ActivityCancellationType.WAIT_CANCELLATION_COMPLETED,
  });
  return apply;
}

function verifyOptions(taskQueue: string, v: VerificationPolicy, scheduleToStartTimeout: number) {
  return proxyActivities<Activities>({
    taskQueue,
    scheduleToStartTimeout,
    // The activity polls for the whole verification window itself; this only bounds a stuck attempt.
    startToCloseTimeout: Math.round((v.timeoutSeconds + 120) * 1000),
    heartbeatTimeout: '1m',
    retry: {
      initialInterval: '2s',
      backoffCoefficient: 2,
      maximumInterval: '30s',
      maximumAttempts: 5,
      nonRetryableErrorTypes: NON_RETRYABLE_FAILURES,
    },
  });
}

/** The newest lineage entries as a markdown table, live ones marked, newest first. */
function lineageMarkdown(
  serviceKey: string,
  live: Record<string, LineageEntry | null>,
  lineage: LineageEntry[],
): string {
  const liveSeqs = new Set(Object.values(live).map((e) => e?.seq));
  const cell = (v: string) => v.replace(/[|\n]/g, ' ');
  const rows = lineage
    .slice(-20)
    .reverse()
    .map((e) =>
      [
        liveSeqs.has(e.seq) ? '**live**' : '',
        e.liveFrom,
        e.how,
        e.identity.jobId ?? 'external',
        e.identity.key,
        e.metrics
          ? Object.entries(e.metrics)
              .map(([k, v]) => `${k} ${v}`)
              .join(', ')
          : '',
        e.approval ? `${e.approval.decision} by ${e.approval.by}` : '',
        e.run ? `${e.run.pipeline} ${e.run.workflowId}` : '',
      ]
        .map((c) => cell(c))
        .join(' | '),
    )
    .map((r) => `| ${r} |`);
  return [
    `**Scoring service** ${cell(serviceKey)}: ${Object.values(live).some(Boolean) ? '' : 'no model deployed by ml-retrain yet; '}` +
      `${lineage.length} lineage entr${lineage.length === 1 ? 'y' : 'ies'}`,
    '',
    '| | live from | how | BES job | model | metrics | approval | run |',
    '|---|---|---|---|---|---|---|---|',
    ...rows,
  ].join('\n');
}

/** A request whose task queue had no worker for the whole start timeout: given up, so the service is free again. */
function noWorker(err: unknown, taskQueue: string, timeoutMs: number): { type: string; message: string } | undefined {
  const cause = (err as { cause?: unknown }).cause;
  if (!(cause instanceof TimeoutFailure) || cause.timeoutType !== 'SCHEDULE_TO_START') return undefined;
  return {
    type: FailureType.NoWorker,
    message:
      `no worker polled task queue '${taskQueue}' for ${Math.round(timeoutMs / 1000)} s: the request was given up ` +
      'and nothing was applied; the scoring service serves the next request',
  };
}

/** Validators reject with a typed failure so `retrain rollback` and API callers can tell "nothing to restore" apart. */
function noEarlierModel(message: string): ApplicationFailure {
  return ApplicationFailure.create({ type: FailureType.NoEarlierModel, nonRetryable: true, message });
}

/** The innermost failure of an activity call: its ApplicationFailure's type and message. */
function failureOf(err: unknown): { type: string; message: string } {
  let e = err as { cause?: unknown; type?: string; message?: string } | undefined;
  while (e?.cause) e = e.cause;
  return { type: e?.type ?? 'ServiceError', message: e?.message || String(err) };
}

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

  function remember(id: string, outcome: DeployOutcome | RollbackOutcome): void {
    state.processed.push({ id, outcome: { ...outcome, live: null } });
    if (state.processed.length > PROCESSED_LIMIT) state.processed.splice(0, state.processed.length - PROCESSED_LIMIT);
  }

  function record(entry: Omit<LineageEntry, 'seq' | 'liveFrom' | 'liveUntil'>): LineageEntry {
    const now = new Date().toISOString();
    const previous = state.live[entry.trainedModelName];
    if (previous) previous.liveUntil = now;
    const full: LineageEntry = { ...entry, seq: ++state.seq, liveFrom: now, liveUntil: null };
    state.lineage.push(full);
    if (state.lineage.length > LINEAGE_LIMIT) state.lineage.splice(0, state.lineage.length - LINEAGE_LIMIT);
    state.live[entry.trainedModelName] = full;
    return full;
  }

  function withdraw(key: string): void {
    if (!state.withdrawn.includes(key)) state.withdrawn.push(key);
    if (state.withdrawn.length > LINEAGE_LIMIT) state.withdrawn.splice(0, state.withdrawn.length - LINEAGE_LIMIT);
  }

  async function applyAndVerify(
    taskQueue: string,
    apply: ApplyModelInput,
    expectJobId: string | null,
    verification: VerificationPolicy,
  ): Promise<{ update: ServiceUpdate; verification: VerificationResult | null }> {
    const update = await activitiesFor(taskQueue, startTimeout).applyModel(apply);
    if (!verification.enabled) return { update, verification: null };
    const result = await verifyOptions(taskQueue, verification, startTimeout).verifyModel({
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

  /** The entry a rollback restores: `toJobId`'s newest, else the newest before the live model; never a withdrawn one. */
  function rollbackTarget(trainedModelName: string, toJobId?: string): LineageEntry | undefined {
    const live = state.live[trainedModelName];
    const candidates = state.lineage.filter(
      (e) =>
        e.trainedModelName === trainedModelName &&
        e.identity.key !== live?.identity.key &&
        (toJobId ? e.identity.jobId === toJobId : !state.withdrawn.includes(e.identity.key)),
    );
    return candidates[candidates.length - 1];
  }

  function resourceOf(req: { trainedModelName?: string }): string | undefined {
    if (req.trainedModelName) return req.trainedModelName;
    const names = Object.keys(state.live);
    return names.length === 1 ? names[0] : undefined;
  }

  async function deploy(req: DeployRequest): Promise<DeployOutcome> {
    const done = state.processed.find((p) => p.id === req.requestId);
    if (done) return { ...(done.outcome as DeployOutcome), live: state.live[req.trainedModelName] ?? null };
    const name = req.trainedModelName;
    const model = req.model;
    const live = state.live[name] ?? null;
    const base = { serviceKey, live };
    const finish = (o: DeployOutcome): DeployOutcome => {
      remember(req.requestId, o);
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
      update = await activitiesFor(req.requester.taskQueue, startTimeout).applyModel(apply);
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
      record({
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
      const verification = await verifyOptions(req.requester.taskQueue, req.verification, startTimeout).verifyModel({
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
      withdraw(model.identity.key);
      // The newest earlier model that is not withdrawn: normally the one live before; never a model that itself
      // failed verification (a first deployment that failed stays live, withdrawn, until a good one replaces it).
      const previous = rollbackTarget(name);
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
        const back = record({
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
    const name = resourceOf(req)!;
    const live = state.live[name] ?? null;
    const finish = (o: RollbackOutcome): RollbackOutcome => {
      remember(req.requestId, o);
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
    const target = rollbackTarget(name, req.toJobId);
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
      if (live) withdraw(live.identity.key);
      // An operator who restores a model vouches for it again: it may serve, be restored to and be redeployed.
      state.withdrawn = state.withdrawn.filter((k) => k !== target.identity.key);
      const restored = record({
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
      const name = resourceOf(req);
      if (!name) {
        throw noEarlierModel(
          Object.keys(state.live).length === 0
            ? `scoring service ${serviceKey} has no model deployed by ml-retrain: nothing to roll back`
            : `scoring service ${serviceKey} has several trained models (${Object.keys(state.live).join(', ')}): name one`,
        );
      }
      if (req.ifLiveKey) return;
      if (!rollbackTarget(name, req.toJobId)) {
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
