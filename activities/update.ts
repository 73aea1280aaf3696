import { ApplicationFailure } from '@temporalio/common';
import { Context } from '@temporalio/activity';
import type { AzureMLLinkedService } from '../config/linked-services';
import { FailureType } from '../common/failures';
import type { ServiceUpdate } from '../common/models';
import type { ModelSource, UpdateKind, UpdateResult, UpdateServiceInput } from '../common/types';
import type { ActivityDeps } from './deps';
import type { ModelLocation } from './model';
import { resolveModelLocation } from './model';
import { blobError } from './storage';
import { BlobClient } from '@azure/storage-blob';
import type { UpdateTarget } from './update-target';
import { updateArm } from './update-arm';
import { heartbeating } from './update-target';
import { updateClassic } from './update-classic';

const ARM_PATH =
  /\/subscriptions\/[^/]+\/resourceGroups\/[^/]+\/providers\/Microsoft\.MachineLearning\/webServices\/[^/?]+/i;
const CLASSIC_PATH = /\/workspaces\/[^/]+\/webservices\/[^/]+\/endpoints\/[^/?]+/i;

/** Which update protocol a linked service's `updateResourceEndpoint` calls for. */
export function updateKind(ls: AzureMLLinkedService): UpdateKind {
  const url = ls.updateResourceEndpoint;
  if (!url) {
    throw ApplicationFailure.create({
      type: FailureType.ConfigError,
      nonRetryable: true,
      message: `AzureML linked service '${ls.name}' has no 'updateResourceEndpoint', so it cannot be updated`,
    });
  }
  if (ARM_PATH.test(url)) return 'arm';
  if (CLASSIC_PATH.test(url)) return 'classic';
  throw ApplicationFailure.create({
    type: FailureType.ConfigError,
    nonRetryable: true,
    message:
      `AzureML linked service '${ls.name}' field 'updateResourceEndpoint' is neither a classic endpoint ` +
      `(.../workspaces/{ws}/webservices/{id}/endpoints/{name}) nor an ARM web service ` +
      `(.../providers/Microsoft.MachineLearning/webServices/{name}?api-version=...)`,
  });
}

/** Input of `applyModel`: point one trained-model resource at one blob version. */
export interface ApplyModelInput {
  linkedServiceName: string;
  trainedModelName: string;
  /** The blob to point the service at (a pinned copy, or a lineage entry to restore). */
  location: ModelSource;
  /** The ETag that blob must have: the model's version. */
  expectedEtag: string;
  /** `request X` / `rollback to job Y`, for messages. */
  label: string;
}

/**
 * The blob must still be the version being deployed: a pinned copy never changes, so a different ETag means someone
 * rewrote it; an unpinned model (a BES default location) rewritten by a later job is that job's model, not ours.
 */
async function checkVersion(input: ApplyModelInput, loc: ModelLocation): Promise<void> {
  const act = Context.current();
  const owner =
    input.location.kind === 'storage' ? input.location.linkedServiceName : input.location.trainingLinkedServiceName;
  const props = await new BlobClient(`${loc.baseLocation}${loc.relativeLocation}${loc.sasToken}`)
    .getProperties({ abortSignal: act.cancellationSignal })
    .catch((e: unknown) => {
      throw blobError(e, owner, loc.relativeLocation);
    });
  if (props.etag !== input.expectedEtag) {
    throw ApplicationFailure.create({
      type: FailureType.ModelSuperseded,
      nonRetryable: true,
      message:
        `${input.label}: the model blob ${loc.relativeLocation} is no longer the version to deploy ` +
        `(etag ${props.etag ?? 'none'}, expected ${input.expectedEtag}); nothing was sent`,
    });
  }
}

export function createUpdateActivities(deps: ActivityDeps) {
  const update = async (ls: AzureMLLinkedService, target: UpdateTarget, loc: ModelLocation) =>
    updateKind(ls) === 'classic' ? updateClassic(deps, ls, target, loc) : updateArm(deps, ls, target, loc);
  return {
    /**
     * Point the scoring service's trained-model resource at one model version, then read back that it does. Classic:
     * PATCH the non-default endpoint with its API key. ARM: service principal token, GET, set the asset's
     * locationInfo.uri, PATCH, follow the async operation. The read SAS is minted here and never leaves the activity.
     * Idempotent: the blob's path names one version (checked by ETag first), so a retry that finds the service on it
     * sends nothing.
     */
    async applyModel(input: ApplyModelInput): Promise<ServiceUpdate> {
      const act = Context.current();
      const ls = deps.azureML(input.linkedServiceName);
      updateKind(ls);
      const result = await heartbeating(act, async () => {
        const loc = await resolveModelLocation(deps, input.location, act.cancellationSignal);
        await checkVersion(input, loc);
        return update(ls, { trainedModelName: input.trainedModelName, label: input.label, skipIfCurrent: true }, loc);
      });
      act.log.info('scoring service updated', {
        linkedService: ls.name,
        kind: result.kind,
        alreadyApplied: result.alreadyApplied,
      });
      return result;
    },

    /**
     * The update of runs started before model identity existed (their histories call it): always sends, because its
     * input names a path, and a path is not a model version (the same path rewritten is a new model).
     */
    async updateScoringService(input: UpdateServiceInput): Promise<UpdateResult> {
      const act = Context.current();
      const ls = deps.azureML(input.step.linkedServiceName);
      updateKind(ls);
      const target = {
        trainedModelName: input.step.trainedModelName,
        label: `activity '${input.step.activityName}'`,
        skipIfCurrent: false,
      };
      const result = await heartbeating(act, async () =>
        update(ls, target, await resolveModelLocation(deps, input.model.source, act.cancellationSignal)),
      );
      act.log.info('scoring service updated', { linkedService: ls.name, kind: result.kind });
      return {
        ...result,
        activityName: input.step.activityName,
        linkedServiceName: ls.name,
        trainedModelName: input.step.trainedModelName,
      };
    },
  };
}
