/**
 * The model-lifecycle part of a fake activity set, for workflow-logic tests on a real Temporal server: the REAL
 * scoring-service activities (deployModel, rollbackModel, liveModels: update-with-start on the real `scoringService`
 * workflow, through the worker's own client) around fake prepareModel, applyModel and verifyModel, which keep a small
 * world of their own: which model each linked service serves now.
 *
 * Each call of this factory gets scoring services of its own (a unique workspace in `updateResourceEndpoint`), so its
 * scoring-service workflows never meet another test file's, whose worker may be gone. `terminateServices` ends them.
 */
import { Context } from '@temporalio/activity';
import type { Client } from '@temporalio/client';
import { ApplicationFailure } from '@temporalio/common';
import type { Activities } from '../../activities';
import { DEFAULT_ACTIVITY_SETTINGS } from '../../activities/deps';
import type { ActivityDeps } from '../../activities/deps';
import type { PrepareModelInput } from '../../activities/model';
import { identityKey, PINNED_MODELS_DIR } from '../../activities/model';
import { createScoringServiceActivities, serviceKeyFor } from '../../activities/scoring-service';
import { splitPath } from '../../activities/storage';
import { FailureType } from '../../common/failures';
import { scoringServiceWorkflowId } from '../../common/models';
import type { ModelMetrics, TrainedModel } from '../../common/models';
import type { ModelSource } from '../../common/types';
import type { AzureMLLinkedService } from '../../config/linked-services';
import { Secret } from '../../config/secret';
import { uniqueId } from '../helpers/temporal';

/** What a fake apply or verify is about: the run and update activity that asked, and the model. */
export interface LifecycleCall {
  /** The run (retrainAndUpdate / runPipeline workflow id) whose model this is. */
  workflowId: string;
  activityName: string;
  linkedServiceName: string;
  /** Where the model came from: the source path (storage) or output name (BES output). */
  sourcePath: string;
  jobId: string | null;
  /** True for a restore of an earlier model (rollback), false for a deployment. */
  restore: boolean;
}

export interface LifecycleHooks {
  /** Each prepareModel call (before it answers); may throw to fail it. */
  prepare?(workflowId: string, input: PrepareModelInput): void;
  /** Metrics the prepared model reports (default none). */
  metrics?(workflowId: string, input: PrepareModelInput): ModelMetrics | null;
  /** Each applyModel call, before the fake service changes; throw to fail it. */
  apply?(call: LifecycleCall): void;
  /** Each verifyModel call: return false and the scoring call answers 500 (a broken model). Default true. */
  scores?(call: LifecycleCall): boolean;
}

type LifecycleActivities = Pick<
  Activities,
  'prepareModel' | 'deployModel' | 'rollbackModel' | 'liveModels' | 'applyModel' | 'verifyModel'
>;

const locationKey = (s: ModelSource) =>
  s.kind === 'storage' ? `storage:${s.linkedServiceName}:${s.filePath}` : `bes:${s.jobId}:${s.outputName}`;

export function lifecycleFakes(hooks: LifecycleHooks = {}) {
  const workspace = uniqueId('ws');
  /** Linked services as the scoring-service activities see them: each name is its own classic endpoint. */
  const azureML = (name: string): AzureMLLinkedService => ({
    kind: 'AzureML',
    name,
    file: `linkedService/${name}.json`,
    mlEndpoint: `https://scoring.example/workspaces/${workspace}/services/${name}/jobs`,
    apiKey: new Secret(`key-${name}`),
    updateResourceEndpoint: `https://management.azureml.example/workspaces/${workspace}/webservices/s/endpoints/${name.toLowerCase()}`,
  });
  const unused = () => {
    throw new Error('not used by the scoring-service activities');
  };
  const deps: ActivityDeps = {
    azureML,
    storage: unused,
    storageAccess: unused,
    credentialFor: unused,
    httpClient: { sendRequest: unused },
    settings: DEFAULT_ACTIVITY_SETTINGS,
  };
  const real = createScoringServiceActivities(deps);

  /** Each prepared model location → the run and source it was prepared for. */
  const models = new Map<string, { workflowId: string; sourcePath: string; jobId: string | null }>();
  /** `linkedService|location` → the update activity that deploys it (set when the request is sent). */
  const requesters = new Map<string, string>();
  /** What each fake service serves now: the BES job of its model. */
  const live = new Map<string, string | null>();
  /** Applies and verifications, in order, as `apply:<linkedService>:<job>` / `verify:<linkedService>:<job>`. */
  const log: string[] = [];
  const serviceKeys = new Set<string>();
  let clock = Date.now();

  const callOf = (linkedServiceName: string, location: ModelSource, restore: boolean): LifecycleCall => {
    const m = models.get(locationKey(location));
    if (!m) throw new Error(`no model was prepared at ${locationKey(location)}`);
    return {
      workflowId: m.workflowId,
      activityName: requesters.get(`${linkedServiceName}|${locationKey(location)}`) ?? '?',
      linkedServiceName,
      sourcePath: m.sourcePath,
      jobId: m.jobId,
      restore,
    };
  };

  const activities: LifecycleActivities = {
    async prepareModel(input) {
      const workflowId = Context.current().info.workflowExecution!.workflowId;
      hooks.prepare?.(workflowId, input);
      const source = input.source;
      const sourcePath = source.kind === 'storage' ? source.filePath : source.outputName;
      // One blob version per run: the fakes' BES jobs reuse ids across runs, so the run tells trainings apart (a
      // later training writing the same path is another model, as in storage).
      const etag = `"${workflowId}:${input.producedBy ?? 'external'}:${sourcePath}"`;
      const key = identityKey(input.producedBy, etag);
      const via = input.pinVia ?? (source.kind === 'storage' ? source : null);
      let pinned: TrainedModel['pinned'] = null;
      if (via) {
        const { container, blobName } = splitPath(via.filePath);
        const filePath = `${container}/${PINNED_MODELS_DIR}/${key}/${blobName.split('/').pop()}`;
        pinned = {
          linkedServiceName: via.linkedServiceName,
          filePath,
          url: `https://acct.blob.example/${filePath}`,
          etag: `"pin-${key}"`,
        };
      }
      const location: ModelSource = pinned
        ? { kind: 'storage', linkedServiceName: pinned.linkedServiceName, filePath: pinned.filePath }
        : source;
      // The latest preparation of a location is the run that deploys it (a recovery rerun re-prepares the reused job's).
      models.set(locationKey(location), { workflowId, sourcePath, jobId: input.producedBy });
      const { container, blobName } = splitPath(via?.filePath ?? `models/${sourcePath}`);
      // Training time orders models on a service: a later preparation is a newer model.
      clock = Math.max(clock + 1, Date.now());
      return {
        source,
        url: `https://acct.blob.example/${container}/${blobName}`,
        container,
        blobName,
        etag,
        contentLength: 10,
        lastModified: new Date(clock).toISOString(),
        identity: { key, jobId: input.producedBy, etag, contentMd5: null, trainedAt: new Date(clock).toISOString() },
        pinned,
        metrics: hooks.metrics?.(workflowId, input) ?? null,
      };
    },

    async deployModel(input) {
      const r = input.request;
      const model = r.model;
      const location: ModelSource = model.pinned
        ? { kind: 'storage', linkedServiceName: model.pinned.linkedServiceName, filePath: model.pinned.filePath }
        : model.source;
      requesters.set(`${r.linkedServiceName}|${locationKey(location)}`, r.requester.activityName);
      serviceKeys.add(serviceKeyFor(deps, r.linkedServiceName));
      return real.deployModel(input);
    },

    async rollbackModel(input) {
      serviceKeys.add(serviceKeyFor(deps, input.request.linkedServiceName));
      return real.rollbackModel(input);
    },

    liveModels: (input) => real.liveModels(input),

    async applyModel(input) {
      const call = callOf(input.linkedServiceName, input.location, /^rollback/.test(input.label));
      hooks.apply?.(call);
      const before = live.get(input.linkedServiceName);
      live.set(input.linkedServiceName, call.jobId);
      log.push(`apply:${input.linkedServiceName}:${call.jobId}`);
      const url =
        input.location.kind === 'storage'
          ? `https://acct.blob.example/${input.location.filePath}`
          : `https://bes.example/${input.location.jobId}/${input.location.outputName}`;
      return {
        kind: 'classic',
        target: azureML(input.linkedServiceName).updateResourceEndpoint!,
        modelUrl: url,
        alreadyApplied: before === call.jobId,
      };
    },

    async verifyModel(input) {
      const jobId = live.get(input.linkedServiceName) ?? null;
      log.push(`verify:${input.linkedServiceName}:${jobId}`);
      const m = [...models.values()].find((x) => x.jobId === jobId);
      const call: LifecycleCall = {
        workflowId: m?.workflowId ?? '?',
        activityName: '?',
        linkedServiceName: input.linkedServiceName,
        sourcePath: m?.sourcePath ?? '?',
        jobId,
        restore: /^rollback/.test(input.label),
      };
      if (hooks.scores && !hooks.scores(call)) {
        throw ApplicationFailure.create({
          type: FailureType.VerificationFailed,
          nonRetryable: true,
          message: `${input.label}: scoring answered 500 ModelExecutionFailed`,
        });
      }
      if (input.expectJobId !== null && jobId !== input.expectJobId) {
        throw ApplicationFailure.create({
          type: FailureType.VerificationFailed,
          nonRetryable: true,
          message: `${input.label}: the answer names model ${jobId}, not ${input.expectJobId}`,
        });
      }
      return { how: 'identity', observed: jobId, calls: 1, ms: 0 };
    },
  };

  return {
    activities,
    /** The BES job each fake scoring service serves now (by linked service name). */
    live,
    log,
    /** End the scoring-service workflows these fakes started (long-lived by design). */
    async terminateServices(client: Client): Promise<void> {
      for (const key of serviceKeys) {
        await client.workflow
          .getHandle(scoringServiceWorkflowId(key))
          .terminate('test finished')
          .catch(() => undefined);
      }
    },
  };
}
