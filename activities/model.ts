import { ApplicationFailure } from '@temporalio/common';
import { Context } from '@temporalio/activity';
import { BlobClient } from '@azure/storage-blob';
import { FailureType } from '../common/failures';
import type { LocateModelInput, ModelRef, ModelSource } from '../common/types';
import type { ActivityDeps } from './deps';
import { getJobStatus } from './bes';
import { blobError, splitPath } from './storage';

/** Where a model blob is, with a read SAS. Holds a secret: never returned from an activity. */
export interface ModelLocation {
  baseLocation: string;
  relativeLocation: string;
  sasToken: string;
}

function withSlash(u: string): string {
  return u.endsWith('/') ? u : `${u}/`;
}

/**
 * Resolve a model source to a location with a fresh read SAS. For a BES output this GETs the job again: the
 * documented way to get a fresh token (the first one may have expired).
 */
export async function resolveModelLocation(
  deps: ActivityDeps,
  source: ModelSource,
  abortSignal?: AbortSignal,
): Promise<ModelLocation> {
  if (source.kind === 'storage') {
    const access = deps.storageAccess(deps.storage(source.linkedServiceName));
    const loc = access.location(source.filePath);
    return { ...loc, sasToken: access.readSas(source.filePath, deps.settings.sasTtlMinutes) };
  }
  const ls = deps.azureML(source.trainingLinkedServiceName);
  const st = await getJobStatus(deps, ls, source.jobId, abortSignal);
  const ref = st.results[source.outputName];
  if (!ref || !ref.RelativeLocation) {
    throw ApplicationFailure.create({
      type: FailureType.TrainedModelNotFound,
      nonRetryable: true,
      message:
        `BES job ${source.jobId} has no output '${source.outputName}' (outputs: ${Object.keys(st.results).join(', ') || 'none'}); ` +
        `check trainedModelOutput or the update's trainedModelFilePath`,
    });
  }
  if (!ref.BaseLocation) {
    throw ApplicationFailure.create({
      type: FailureType.ServiceError,
      nonRetryable: true,
      message: `BES job ${source.jobId} output '${source.outputName}' has no BaseLocation; give the update a trainedModelLinkedServiceName and trainedModelFilePath instead`,
    });
  }
  const sas = ref.SasBlobToken ?? '';
  return {
    baseLocation: withSlash(ref.BaseLocation),
    relativeLocation: ref.RelativeLocation.replace(/^\/+/, ''),
    sasToken: sas && !sas.startsWith('?') ? `?${sas}` : sas,
  };
}

function describeSource(source: ModelSource): string {
  return source.kind === 'storage'
    ? `trainedModelFilePath '${source.filePath}' in storage linked service '${source.linkedServiceName}'`
    : `output '${source.outputName}' of BES job ${source.jobId}`;
}

export function createModelActivities(deps: ActivityDeps) {
  return {
    /** Find the trained model, check that it exists and is non-empty, and return a reference without secrets. */
    async locateTrainedModel({ activityName, source }: LocateModelInput): Promise<ModelRef> {
      const act = Context.current();
      const loc = await resolveModelLocation(deps, source, act.cancellationSignal);
      const url = `${loc.baseLocation}${loc.relativeLocation}`;
      let facts: { etag: string; contentLength: number; lastModified: string };
      try {
        if (source.kind === 'storage') {
          const p = await deps
            .storageAccess(deps.storage(source.linkedServiceName))
            .properties(source.filePath, act.cancellationSignal);
          if (!p) throw new Error('unreachable: properties returned nothing');
          facts = p;
        } else {
          const blob = new BlobClient(`${url}${loc.sasToken}`);
          const p = await blob.getProperties({ abortSignal: act.cancellationSignal }).catch((e: unknown) => {
            throw blobError(e, source.trainingLinkedServiceName, loc.relativeLocation);
          });
          facts = {
            etag: p.etag ?? '',
            contentLength: p.contentLength ?? 0,
            lastModified: (p.lastModified ?? new Date(0)).toISOString(),
          };
        }
      } catch (e) {
        if (e instanceof ApplicationFailure && e.type === FailureType.TrainedModelNotFound) {
          throw ApplicationFailure.create({
            type: FailureType.TrainedModelNotFound,
            nonRetryable: true,
            message: `activity '${activityName}': the trained model does not exist: ${describeSource(source)}`,
          });
        }
        throw e;
      }
      if (facts.contentLength <= 0) {
        throw ApplicationFailure.create({
          type: FailureType.TrainedModelEmpty,
          nonRetryable: true,
          message: `activity '${activityName}': the trained model is empty (0 bytes): ${describeSource(source)}`,
        });
      }
      if (!/\.ilearner$/i.test(loc.relativeLocation)) {
        act.log.warn('trained model blob does not end in .ilearner', { blob: loc.relativeLocation });
      }
      const { container, blobName } = splitPath(loc.relativeLocation);
      return { source, url, container, blobName, ...facts };
    },
  };
}
