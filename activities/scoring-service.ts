import { ApplicationFailure, CancelledFailure, WorkflowIdConflictPolicy } from '@temporalio/common';
import { Context } from '@temporalio/activity';
import type { Client } from '@temporalio/client';
import { WithStartWorkflowOperation, WorkflowNotFoundError, WorkflowUpdateStage } from '@temporalio/client';
import { FailureType } from '../common/failures';
import type {
  DeployOutcome,
  DeployRequest,
  LineageEntry,
  RollbackOutcome,
  RollbackRequest,
  ServiceView,
} from '../common/models';
import { scoringServiceWorkflowId } from '../common/models';
import { serviceKeyOf } from '../config/service-key';
import { deployUpdate, rollbackUpdate, withdrawUpdate } from '../workflows/queries';
import type { ActivityDeps } from './deps';
import { updateKind } from './update';

/** The scoring-service workflow's type name (workflows/scoring-service.ts). */
export const SCORING_SERVICE_WORKFLOW = 'scoringService';

export interface ScoringServiceStart {
  serviceKey: string;
  /** Continue-as-new beyond this many history events (the server also suggests it at 4 Ki events / 4 MB). */
  maxHistoryEvents?: number;
  /** How long a request's activity may wait for a worker on the requester's task queue (default 30 minutes). */
  requestStartTimeoutMs?: number;
}

/** The key of the scoring service a linked service updates (its `updateResourceEndpoint`). */
export function serviceKeyFor(deps: Pick<ActivityDeps, 'azureML'>, linkedServiceName: string): string {
  const ls = deps.azureML(linkedServiceName);
  updateKind(ls);
  return serviceKeyOf(ls.updateResourceEndpoint!);
}

/** Start the service's workflow if it is not running: the first request for a service creates its one writer. */
export function startOperation(
  serviceKey: string,
  taskQueue: string,
  maxHistoryEvents?: number,
  requestStartTimeoutMs?: number,
) {
  const args: [ScoringServiceStart] = [
    {
      serviceKey,
      ...(maxHistoryEvents !== undefined && { maxHistoryEvents }),
      ...(requestStartTimeoutMs !== undefined && { requestStartTimeoutMs }),
    },
  ];
  return new WithStartWorkflowOperation(SCORING_SERVICE_WORKFLOW, {
    workflowId: scoringServiceWorkflowId(serviceKey),
    taskQueue,
    args,
    workflowIdConflictPolicy: WorkflowIdConflictPolicy.USE_EXISTING,
    memo: { serviceKey },
    staticSummary: `Scoring service ${serviceKey}: one writer, live model and lineage`,
  });
}

/** Read a service's view from its memo: works with no worker polling, and for a service never deployed to (null). */
export async function describeService(client: Client, serviceKey: string): Promise<ServiceView | null> {
  try {
    const d = await client.workflow.getHandle(scoringServiceWorkflowId(serviceKey)).describe();
    return ((d.memo ?? {}) as { view?: ServiceView }).view ?? null;
  } catch (e) {
    if (e instanceof WorkflowNotFoundError) return null;
    throw e;
  }
}

/** Heartbeat on a timer while waiting on the service's workflow, so a dead worker is noticed and cancellation arrives. */
async function heartbeating<T>(act: Context, work: () => Promise<T>): Promise<T> {
  const every = Math.max(50, Math.floor((act.info.heartbeatTimeoutMs ?? 30_000) / 3));
  const timer = setInterval(() => act.heartbeat(), every);
  try {
    return await work();
  } finally {
    clearInterval(timer);
  }
}

function settingsHistoryLimit(deps: ActivityDeps): number | undefined {
  return deps.settings.scoringServiceMaxHistoryEvents;
}

export interface DeployModelInput {
  request: DeployRequest;
  /**
   * The run's ADF attempt ends then (its `policy.timeout`, runs from v0.3 on): at that time the activity stops waiting
   * as on cancellation (a queued request is withdrawn, one applying finishes) and fails with `ActivityTimedOut` and
   * this message.
   */
  deadline?: { atMs: number; message: string };
}

export interface RollbackModelInput {
  request: RollbackRequest;
}

export interface LiveModelsInput {
  services: { linkedServiceName: string; trainedModelName: string }[];
}

export function createScoringServiceActivities(deps: ActivityDeps) {
  return {
    /**
     * Hand a deployment to the scoring service's workflow (update-with-start, idempotent on the request id) and wait
     * for its outcome. If the run is cancelled meanwhile, a request still queued is withdrawn; one already applying
     * finishes first, so nothing reaches the service after the run ends Cancelled.
     */
    async deployModel({ request, deadline }: DeployModelInput): Promise<DeployOutcome> {
      const act = Context.current();
      const client = act.client;
      const key = serviceKeyFor(deps, request.linkedServiceName);
      return heartbeating(act, async () => {
        const update = await client.workflow
          .startUpdateWithStart(deployUpdate, {
            args: [request],
            updateId: request.requestId,
            waitForStage: WorkflowUpdateStage.ACCEPTED,
            startWorkflowOperation: startOperation(key, request.requester.taskQueue, settingsHistoryLimit(deps)),
          })
          .catch((e: unknown) => {
            throw refused(e);
          });
        const outcome: Promise<DeployOutcome> = update.result().catch((e: unknown) => {
          throw refused(e);
        });
        const cancelled = act.cancelled.then(
          () => undefined,
          (e: unknown) => e,
        );
        let timer: NodeJS.Timeout | undefined;
        const expired = new Promise<{ e: unknown }>((resolve) => {
          if (!deadline) return;
          timer = setTimeout(
            () =>
              resolve({
                e: ApplicationFailure.create({
                  type: FailureType.ActivityTimedOut,
                  nonRetryable: true,
                  message: deadline.message,
                }),
              }),
            Math.max(0, deadline.atMs - Date.now()),
          );
        });
        const first: { o: DeployOutcome } | { e: unknown } = await Promise.race([
          outcome.then((o) => ({ o })),
          cancelled.then((e) => ({ e })),
          expired,
        ]).finally(() => clearTimeout(timer));
        if ('o' in first) return first.o;
        await client.workflow
          .getHandle(scoringServiceWorkflowId(key))
          .executeUpdate(withdrawUpdate, { args: [request.requestId] })
          .catch((e: unknown) => {
            act.log.warn('withdraw failed', { error: String(e) });
          });
        const final = await outcome;
        act.log.info('deployment request after cancellation', { outcome: final.outcome });
        throw first.e instanceof Error ? first.e : new CancelledFailure('the run was cancelled');
      });
    },

    /** Ask the scoring service's workflow to restore an earlier model (all-or-nothing fan-out, `retrain rollback`). */
    async rollbackModel({ request }: RollbackModelInput): Promise<RollbackOutcome> {
      const act = Context.current();
      const client = act.client;
      const key = serviceKeyFor(deps, request.linkedServiceName);
      return heartbeating(act, () =>
        client.workflow
          .executeUpdateWithStart(rollbackUpdate, {
            args: [request],
            updateId: request.requestId,
            startWorkflowOperation: startOperation(key, request.taskQueue, settingsHistoryLimit(deps)),
          })
          .catch((e: unknown) => {
            throw refused(e);
          }),
      );
    },

    /** The live model (with its recorded metrics) of each service, for a gate relative to it. */
    async liveModels({ services }: LiveModelsInput): Promise<(LineageEntry | null)[]> {
      const client = Context.current().client;
      const out: (LineageEntry | null)[] = [];
      for (const s of services) {
        const view = await describeService(client, serviceKeyFor(deps, s.linkedServiceName));
        out.push(view?.live[s.trainedModelName] ?? null);
      }
      return out;
    },
  };
}

/**
 * An update the service's workflow refused (its validator) or failed: the workflow's own failure, made final here so
 * the activity is not retried into the same refusal.
 */
function refused(e: unknown): unknown {
  if ((e as { name?: string })?.name !== 'WorkflowUpdateFailedError') return e;
  const cause = (e as { cause?: { type?: string; message?: string } }).cause;
  return ApplicationFailure.create({
    type: cause?.type ?? FailureType.ConfigError,
    nonRetryable: true,
    message: cause?.message || (e as Error).message,
  });
}
