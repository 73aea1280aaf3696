import { createHash } from 'node:crypto';
import { ApplicationFailure } from '@temporalio/common';
import { Context } from '@temporalio/activity';
import { BlobClient } from '@azure/storage-blob';
import { isRestError } from '@azure/core-rest-pipeline';
import { FailureType } from '../common/failures';
import type { ModelIdentity, ModelMetrics, PinnedModel, TrainedModel } from '../common/models';
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

/** Input of `prepareModel`: the engine says where the model is, which job wrote it and where its metrics are. */
export interface PrepareModelInput {
  activityName: string;
  pipeline: string;
  source: ModelSource;
  /** The BES job of this run whose output is this blob, when the engine can tell. */
  producedBy: string | null;
  /** The storage linked service and path to pin through (a BES output declared in the activity). */
  pinVia: { linkedServiceName: string; filePath: string } | null;
  /** The evaluation output; `required` when a quality gate reads it (then a problem with it fails the run). */
  metrics: { source: ModelSource; port: string; required: boolean } | null;
}

/** An evaluation CSV larger than this is not the one-row output of Evaluate Model. */
const METRICS_MAX_BYTES = 1 << 20;
/** Under this prefix of the model's container, copies of deployed models are kept (one folder per identity). */
export const PINNED_MODELS_DIR = 'ml-retrain/models';

function metricsUnavailable(message: string): ApplicationFailure {
  return ApplicationFailure.create({ type: FailureType.MetricsUnavailable, nonRetryable: true, message });
}

/**
 * The first data row of an evaluation CSV (Evaluate Model writes a header and one row per evaluated model) as numbers.
 * Columns whose value is not a number are listed but have no value.
 */
export function parseMetricsCsv(text: string): { columns: string[]; values: Record<string, number> } | string {
  const lines = text
    .replace(/^\uFEFF/, '')
    .split(/\r?\n/)
    .filter((l) => l.trim() !== '' && !l.startsWith('#'));
  if (lines.length === 0) return 'the file is empty';
  const split = (l: string) => l.split(',').map((c) => c.trim().replace(/^"(.*)"$/, '$1'));
  const columns = split(lines[0]);
  if (lines.length < 2) return `the file has a header (${columns.join(', ')}) but no row of values`;
  const row = split(lines[1]);
  const values: Record<string, number> = {};
  columns.forEach((c, i) => {
    const n = Number(row[i]);
    if (row[i] !== undefined && row[i] !== '' && Number.isFinite(n)) values[c] = n;
  });
  if (Object.keys(values).length === 0) return `no numeric value in its first row (columns: ${columns.join(', ')})`;
  return { columns, values };
}

/** `jobId.etaghash`: unique per trained blob version, short enough for a path segment and a workflow memo. */
export function identityKey(jobId: string | null, etag: string): string {
  const h = createHash('sha256').update(etag).digest('hex').slice(0, 12);
  return `${jobId ?? 'external'}.${h}`;
}

export function createModelActivities(deps: ActivityDeps) {
  /** Read the evaluation CSV; a problem is fatal only when a gate needs the numbers. */
  async function readMetrics(input: PrepareModelInput, act: Context): Promise<ModelMetrics | null> {
    const m = input.metrics;
    if (!m) return null;
    const where =
      m.source.kind === 'storage'
        ? `${m.source.filePath} (${m.port})`
        : `output '${m.port}' of BES job ${m.source.jobId}`;
    const field = `pipeline '${input.pipeline}': evaluation output ${where}`;
    let text: string;
    try {
      let buf: Buffer;
      if (m.source.kind === 'storage') {
        buf = await deps
          .storageAccess(deps.storage(m.source.linkedServiceName))
          .download(m.source.filePath, METRICS_MAX_BYTES, act.cancellationSignal);
      } else {
        const loc = await resolveModelLocation(deps, m.source, act.cancellationSignal);
        buf = await new BlobClient(`${loc.baseLocation}${loc.relativeLocation}${loc.sasToken}`)
          .downloadToBuffer(0, METRICS_MAX_BYTES, { abortSignal: act.cancellationSignal })
          .catch((e: unknown) => {
            if (isRestError(e) && e.statusCode === 416) return Buffer.alloc(0);
            throw blobError(
              e,
              m.source.kind === 'besOutput' ? m.source.trainingLinkedServiceName : '',
              loc.relativeLocation,
            );
          });
      }
      text = buf.toString('utf8');
    } catch (e) {
      const f = e as { type?: string; message?: string; nonRetryable?: boolean };
      // Transient storage errors are retried like any other; a missing or forbidden file is the config's problem.
      if (f.type !== FailureType.TrainedModelNotFound && f.type !== FailureType.Forbidden) throw e;
      if (!m.required) {
        act.log.warn('evaluation output unreadable; the model has no recorded metrics', { where });
        return null;
      }
      throw metricsUnavailable(`${field} cannot be read: ${f.message ?? String(e)}`);
    }
    const parsed = parseMetricsCsv(text);
    if (typeof parsed === 'string') {
      if (!m.required) {
        act.log.warn('evaluation output has no metrics; the model has no recorded metrics', { where, why: parsed });
        return null;
      }
      throw metricsUnavailable(`${field} has no metrics: ${parsed}`);
    }
    return { from: where, columns: parsed.columns, values: parsed.values };
  }

  /** Find the trained model, check that it exists and is non-empty: a reference without secrets, and its MD5. */
  async function locate(
    activityName: string,
    source: ModelSource,
    act: Context,
  ): Promise<{ ref: ModelRef; contentMd5: string | null }> {
    const loc = await resolveModelLocation(deps, source, act.cancellationSignal);
    const url = `${loc.baseLocation}${loc.relativeLocation}`;
    let facts: { etag: string; contentLength: number; lastModified: string; contentMd5?: string | null };
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
          contentMd5: p.contentMD5 ? Buffer.from(p.contentMD5).toString('base64') : null,
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
    const { etag, contentLength, lastModified } = facts;
    return {
      ref: { source, url, container, blobName, etag, contentLength, lastModified },
      contentMd5: facts.contentMd5 ?? null,
    };
  }

  return {
    /**
     * Locate the trained model, identify it (job + blob version), pin an immutable copy next to it, and read its
     * evaluation metrics. The copy is what scoring services are pointed at: a later training that rewrites the same
     * `trainedModelFilePath` cannot change a deployed model, and a rollback finds the old bytes. The copy is made only
     * while the source still has the version just read (If-Match); a source already rewritten by a newer training
     * fails as `ModelSuperseded`.
     */
    async prepareModel(input: PrepareModelInput): Promise<TrainedModel> {
      const act = Context.current();
      const { ref, contentMd5 } = await locate(input.activityName, input.source, act);
      const identity: ModelIdentity = {
        key: identityKey(input.producedBy, ref.etag),
        jobId: input.producedBy,
        etag: ref.etag,
        contentMd5,
        trainedAt: ref.lastModified,
      };
      const via = input.pinVia ?? (input.source.kind === 'storage' ? input.source : null);
      let pinned: PinnedModel | null = null;
      if (via) {
        const access = deps.storageAccess(deps.storage(via.linkedServiceName));
        const { container, blobName } = splitPath(via.filePath);
        const file = blobName.split('/').pop() || 'model.ilearner';
        const target = `${container}/${PINNED_MODELS_DIR}/${identity.key}/${file}`;
        const r = await access.pin(
          via.filePath,
          ref.etag,
          target,
          {
            trainingjobid: input.producedBy ?? '',
            trainedat: identity.trainedAt,
            sourcepath: via.filePath.replace(/[^\x20-\x7e]/g, ''),
            pipeline: input.pipeline.replace(/[^\x20-\x7e]/g, ''),
          },
          act.cancellationSignal,
        );
        if (!r.pinned) {
          throw ApplicationFailure.create({
            type: FailureType.ModelSuperseded,
            nonRetryable: true,
            message:
              `activity '${input.activityName}': ${describeSource(input.source)} was rewritten (now etag ` +
              `${r.currentEtag ?? 'none'}) after this run's training wrote it (etag ${ref.etag}): a newer training ` +
              `owns that blob, so this run's model no longer exists`,
          });
        }
        const loc = access.location(target);
        pinned = {
          linkedServiceName: via.linkedServiceName,
          filePath: target,
          url: `${loc.baseLocation}${loc.relativeLocation}`,
          etag: r.etag,
        };
        act.log.info('trained model pinned', { model: identity.key, copy: target, reused: r.reused });
      }
      const metrics = await readMetrics(input, act);
      return { ...ref, identity, pinned, metrics };
    },

    /** Find the trained model, check that it exists and is non-empty, and return a reference without secrets. */
    async locateTrainedModel({ activityName, source }: LocateModelInput): Promise<ModelRef> {
      return (await locate(activityName, source, Context.current())).ref;
    },
  };
}
