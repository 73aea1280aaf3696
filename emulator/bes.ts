import { createHash, randomUUID } from 'node:crypto';
import type { BlobRef } from './blobs';
import { probeBlob, resolveBlobRef } from './blobs';
import { serviceSwagger } from './swagger';
import type { EmulatorContext } from './context';
import { knownAccounts } from './context';
import type { Ctx } from './http';
import { bearerToken, besCategoryError, isRecord, jsonBody, send } from './http';
import type { JobEngine } from './jobs';
import { DEFAULT_OUTPUT_CONTAINER, jobResults, STATUS_CODE_INT } from './jobs';
import { liveModel } from './models';
import type { JobOutput, JobRecord, PortSpec, RuntimeService } from './state';

const DATASET_EXTENSIONS = ['csv', 'tsv', 'arff'];
const MODEL_EXTENSIONS = ['ilearner'];

/** Header on RRS responses naming the live model (the BES job id that trained it). */
export const MODEL_HEADER = 'x-ms-emulator-model-id';

type Detail = { code: string; message: string; target?: string };

/** api-version (docs/spec/ml-studio-classic-api.md §2.1): missing means 2.0, anything else is refused. */
function checkApiVersion(ctx: Ctx): boolean {
  const v = ctx.url.searchParams.get('api-version');
  if (v === null || v === '2.0') return true;
  besCategoryError(ctx, 'BadArgument', {
    code: 'BadVersionCall',
    message: `The api-version '${v}' is not supported. Use api-version=2.0.`,
  });
  return false;
}

/**
 * The runtime service addressed by `/{workspaces|subscriptions}/{scope}/services/{id}`, after the api-version and
 * key checks; null when an error response was already sent.
 */
function authorizedService(emu: EmulatorContext, ctx: Ctx): RuntimeService | null {
  const service = addressedService(emu, ctx);
  if (!service) return null;
  const key = bearerToken(ctx);
  if (!key || (key !== service.keys.primary && key !== service.keys.secondary)) {
    besCategoryError(ctx, 'Unauthorized', {
      code: 'ScoreRequestUnauthorized',
      message: 'Invalid credentials provided.',
    });
    return null;
  }
  return service;
}

/** The service a BES path names, or null after answering 400/404 (api-version, workspace, service). */
function addressedService(emu: EmulatorContext, ctx: Ctx): RuntimeService | null {
  if (!checkApiVersion(ctx)) return null;
  const [shape, scope, serviceId] = ctx.params;
  const service = emu.state.services.find((s) => s.id === serviceId);
  const reachable =
    service &&
    (shape === 'workspaces' ? service.workspaceId === scope : service.subscriptionNoDashes === scope.toLowerCase());
  if (!service || !reachable) {
    if (shape === 'workspaces' && !emu.state.services.some((s) => s.workspaceId === scope)) {
      besCategoryError(ctx, 'NotFound', { code: 'WorkspaceNotFound', message: `Workspace ${scope} was not found.` });
    } else {
      besCategoryError(ctx, 'NotFound', {
        code: 'WebServiceNotFound',
        message: `Web service ${serviceId} was not found.`,
      });
    }
    return null;
  }
  return service;
}

function servicePath(ctx: Ctx): string {
  const [shape, scope, serviceId] = ctx.params;
  return `${shape}/${scope}/services/${serviceId}`;
}

function extensionOf(blobName: string): string {
  const base = blobName.split('/').pop() ?? '';
  const dot = base.lastIndexOf('.');
  return dot > 0 ? base.slice(dot + 1).toLowerCase() : '';
}

function extensionError(port: PortSpec, where: string): Detail {
  const allowed = (port.kind === 'model' ? MODEL_EXTENSIONS : DATASET_EXTENSIONS).map((e) => `.${e}`).join(', ');
  return {
    code: 'InvalidBlobExtension',
    target: port.name,
    message: `The blob reference: ${where} has an invalid or missing file extension. Supported file extensions for this output type are: "${allowed}".`,
  };
}

/** Key order must not make two identical requests look different. */
function canonical(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(canonical);
  if (isRecord(value)) {
    const out: Record<string, unknown> = {};
    for (const k of Object.keys(value).sort()) out[k] = canonical(value[k]);
    return out;
  }
  return value;
}

export function createBesHandlers(emu: EmulatorContext, jobs: JobEngine) {
  const badArgument = (ctx: Ctx, detail: Detail): void => besCategoryError(ctx, 'BadArgument', detail);

  async function submit(ctx: Ctx): Promise<void> {
    const service = authorizedService(emu, ctx);
    if (!service) return;
    const body = jsonBody(ctx);
    if (body === undefined) return badArgument(ctx, { code: 'RequestIsEmpty', message: 'The request body is empty.' });
    if (body instanceof Error || !isRecord(body)) {
      return badArgument(ctx, { code: 'RequestBodyInvalid', message: 'The request body is not a valid JSON object.' });
    }
    if (body.Input !== undefined && body.Input !== null && body.Inputs !== undefined && body.Inputs !== null) {
      return badArgument(ctx, {
        code: 'DuplicateInputInBatchCall',
        message: 'The batch request cannot contain both Input and Inputs. Use Inputs.',
      });
    }
    let inputsRaw: unknown = body.Inputs;
    if ((inputsRaw === undefined || inputsRaw === null) && body.Input !== undefined && body.Input !== null) {
      // Legacy single-input form (docs/spec/ml-studio-classic-api.md §2.3): it feeds the service's first input.
      inputsRaw = { [service.inputs[0]?.name ?? 'input1']: body.Input };
    }
    if (inputsRaw !== undefined && inputsRaw !== null && !isRecord(inputsRaw)) {
      return badArgument(ctx, { code: 'RequestBodyInvalid', message: 'Inputs must be an object.' });
    }
    const inputs: Record<string, unknown> = inputsRaw ?? {};
    const unknownInputs = Object.keys(inputs).filter((n) => !service.inputs.some((p) => p.name === n));
    if (unknownInputs.length) {
      return badArgument(ctx, {
        code: 'InvalidInputNames',
        target: unknownInputs[0],
        message: `Input name(s) ${unknownInputs.join(', ')} do not match the web service inputs: ${service.inputs.map((p) => p.name).join(', ')}.`,
      });
    }
    const missing = service.requiredInputs.filter((n) => inputs[n] === undefined);
    if (missing.length) {
      return badArgument(ctx, {
        code: 'BatchJobInputsNotSpecified',
        target: missing[0],
        message: `The following required input(s) were not specified with the request: ${missing.join(', ')}. Please verify all required input data are specified and try again.`,
      });
    }
    const accounts = knownAccounts(emu);
    const resolvedInputs: Record<string, BlobRef> = {};
    for (const port of service.inputs) {
      const ref = inputs[port.name];
      if (ref === undefined) continue;
      if (!isRecord(ref)) {
        return badArgument(ctx, {
          code: 'MissingInputBlobInformation',
          target: port.name,
          message: `Missing Azure storage blob information for input ${port.name}.`,
        });
      }
      const target = resolveBlobRef(ref, accounts);
      if ('code' in target) {
        return badArgument(ctx, {
          code: target.code === 'MissingBlobInformation' ? 'MissingInputBlobInformation' : target.code,
          target: port.name,
          message: `${target.message} (input ${port.name})`,
        });
      }
      const where = `${target.container}/${target.blobName}`;
      if (emu.opts.jobs.checkInputExtensions && !DATASET_EXTENSIONS.includes(extensionOf(target.blobName))) {
        return badArgument(ctx, extensionError(port, where));
      }
      const probe = emu.opts.jobs.inputBlobCheck === 'submit' ? await probeBlob(target) : undefined;
      if (probe && probe.state !== 'exists') {
        return badArgument(ctx, {
          code: probe.state === 'missing' ? 'BlobNotFound' : 'UnableToAccessBlob',
          target: port.name,
          message: `Unable to access the provided Azure blob - ${where}. Azure error message: ${'reason' in probe ? probe.reason : 'The specified blob does not exist.'}`,
        });
      }
      resolvedInputs[port.name] = ref;
    }

    if (body.Outputs !== undefined && body.Outputs !== null && !isRecord(body.Outputs)) {
      return badArgument(ctx, { code: 'RequestBodyInvalid', message: 'Outputs must be an object or null.' });
    }
    const overrides: Record<string, unknown> = body.Outputs ?? {};
    for (const name of Object.keys(overrides)) {
      if (!service.outputs.some((p) => p.name === name)) {
        return badArgument(ctx, {
          code: 'InvalidOutputOverrideName',
          target: name,
          message: `Invalid output override name: ${name}. The web service outputs are: ${service.outputs.map((p) => p.name).join(', ')} (names are case-sensitive).`,
        });
      }
    }
    if (body.GlobalParameters !== undefined && body.GlobalParameters !== null && !isRecord(body.GlobalParameters)) {
      return badArgument(ctx, { code: 'RequestBodyInvalid', message: 'GlobalParameters must be an object or null.' });
    }

    const jobId = newJobId(emu);
    const outputs: Record<string, JobOutput> = {};
    for (const port of service.outputs) {
      const override = overrides[port.name];
      if (override === undefined) {
        const ext = port.kind === 'model' ? 'ilearner' : 'csv';
        const blobName = `${jobId}/${randomUUID().replace(/-/g, '')}.${ext}`;
        outputs[port.name] = {
          kind: port.kind,
          container: DEFAULT_OUTPUT_CONTAINER,
          blobName,
          ref: {
            ConnectionString: emu.storage.connectionString,
            RelativeLocation: `${DEFAULT_OUTPUT_CONTAINER}/${blobName}`,
          },
        };
        continue;
      }
      if (!isRecord(override)) {
        return badArgument(ctx, {
          code: 'MissingOutputOverrideSpecification',
          target: port.name,
          message: `The output override for ${port.name} has no blob specification.`,
        });
      }
      const target = resolveBlobRef(override, accounts);
      if ('code' in target) {
        return badArgument(ctx, {
          code: target.code === 'MissingBlobInformation' ? 'MissingOutputOverrideSpecification' : target.code,
          target: port.name,
          message: `${target.message} (output ${port.name})`,
        });
      }
      const allowed = port.kind === 'model' ? MODEL_EXTENSIONS : DATASET_EXTENSIONS;
      if (emu.opts.jobs.checkOutputExtensions && !allowed.includes(extensionOf(target.blobName))) {
        return badArgument(ctx, extensionError(port, `${target.container}/${target.blobName}`));
      }
      outputs[port.name] = {
        kind: port.kind,
        container: target.container,
        blobName: target.blobName,
        ref: override,
      };
    }

    const fingerprint = createHash('sha256')
      .update(service.id)
      .update(
        JSON.stringify(
          canonical({ Inputs: inputs, Outputs: body.Outputs ?? null, GlobalParameters: body.GlobalParameters ?? null }),
        ),
      )
      .digest('hex');
    const job: JobRecord = {
      jobId,
      serviceId: service.id,
      servicePath: servicePath(ctx),
      fingerprint,
      inputs: resolvedInputs,
      outputs,
      globalParameters: isRecord(body.GlobalParameters) ? body.GlobalParameters : null,
      createdAtMs: emu.now(),
      startedAtMs: null,
      runMs: null,
      failDetails: null,
      metrics: null,
      cancelledAtMs: null,
      startCount: 0,
      cancelCount: 0,
      final: null,
    };
    emu.state.jobs.push(job);
    emu.store.save();
    send(ctx, 200, JSON.stringify(jobId), { 'Content-Type': 'application/json; charset=utf-8' });
  }

  function findJob(ctx: Ctx, service: RuntimeService): JobRecord | null {
    const jobId = ctx.params[3];
    const job = jobs.find(service.id, jobId);
    if (!job) {
      // JobNotFound is invented (docs/spec/ml-studio-classic-api.md §2.6 [I]); the 404 + NotFound category is what clients key on.
      besCategoryError(ctx, 'NotFound', { code: 'JobNotFound', message: `Job ${jobId} was not found.` });
      return null;
    }
    return job;
  }

  function start(ctx: Ctx): void {
    const service = authorizedService(emu, ctx);
    if (!service) return;
    const job = findJob(ctx, service);
    if (!job) return;
    job.startCount += 1;
    const status = jobs.status(job);
    if (status !== 'NotStarted') {
      emu.store.save();
      return besCategoryError(ctx, 'InvalidOperation', {
        code: 'CannotStartJob',
        message: `The job cannot be started because it is in ${status} state.`,
      });
    }
    jobs.start(job, service);
    send(ctx, 204);
  }

  async function status(ctx: Ctx): Promise<void> {
    const service = authorizedService(emu, ctx);
    if (!service) return;
    const job = findJob(ctx, service);
    if (!job) return;
    await jobs.settle(job);
    const s = jobs.status(job);
    send(ctx, 200, {
      StatusCode: emu.opts.jobs.statusCodeFormat === 'integer' ? STATUS_CODE_INT[s] : s,
      Results: s === 'Finished' ? jobResults(emu, job) : null,
      Details: s === 'Failed' ? (job.final?.details ?? null) : null,
    });
  }

  function cancel(ctx: Ctx): void {
    const service = authorizedService(emu, ctx);
    if (!service) return;
    const job = findJob(ctx, service);
    if (!job) return;
    jobs.cancel(job);
    send(ctx, 204);
  }

  function execute(ctx: Ctx): void {
    const service = authorizedService(emu, ctx);
    if (!service) return;
    if (service.kind !== 'scoring' || !service.target) {
      return besCategoryError(ctx, 'InvalidOperation', {
        code: 'NotSupported',
        message: 'This web service only supports batch execution (it produces trained models).',
      });
    }
    const body = jsonBody(ctx);
    if (body === undefined) return badArgument(ctx, { code: 'RequestIsEmpty', message: 'The request body is empty.' });
    if (body instanceof Error || !isRecord(body) || !isRecord(body.Inputs)) {
      return besCategoryError(ctx, 'BadUserArgument', {
        code: 'InputParseError',
        message: 'Inputs must be an object.',
      });
    }
    const model = liveModel(emu, service.target);
    if (model && emu.state.jobs.some((j) => j.jobId === model && j.broken)) {
      // A model that loaded but cannot score: what a bad .ilearner looks like to callers (job fault brokenNext).
      return besCategoryError(ctx, 'InternalError', {
        code: 'ModelExecutionFailed',
        message: `The trained model ${model} failed to score the request.`,
      });
    }
    const results: Record<string, unknown> = {};
    const outputName = service.outputs[0]?.name ?? 'output1';
    const first = Object.values(body.Inputs)[0];
    if (Array.isArray(first)) {
      // Swagger-style request (`format=swagger`): rows as objects, answered the same way.
      results[outputName] = first.map((row, i) => ({
        ...(isRecord(row) ? row : {}),
        'Scored Labels': String(i % 2),
        'Scored Probabilities': score(model, i),
        Model: model,
      }));
    } else {
      const table = isRecord(first) ? first : {};
      const columns = Array.isArray(table.ColumnNames) ? (table.ColumnNames as unknown[]).map(String) : [];
      const values = Array.isArray(table.Values) ? (table.Values as unknown[]) : [];
      results[outputName] = {
        type: 'table',
        value: {
          ColumnNames: [...columns, 'Scored Labels', 'Scored Probabilities', 'Model'],
          ColumnTypes: [...columns.map(() => 'String'), 'String', 'Double', 'String'],
          Values: values.map((row, i) => [
            ...(Array.isArray(row) ? row.map((v) => (v === null ? null : String(v))) : []),
            String(i % 2),
            score(model, i),
            model,
          ]),
        },
      };
    }
    send(ctx, 200, { Results: results }, { [MODEL_HEADER]: model ?? '' });
  }

  /** `GET {BES}/swagger.json`: the document the service publishes about itself (BESSW); no key needed to read it. */
  function swagger(ctx: Ctx): void {
    const service = addressedService(emu, ctx);
    if (!service) return;
    send(ctx, 200, serviceSwagger(emu.baseUrl, `/${servicePath(ctx)}`, service));
  }

  return { submit, start, status, cancel, execute, swagger };
}

/** A stable pseudo score per model and row, so two calls against the same model agree. */
function score(model: string | null, row: number): string {
  const h = createHash('sha256')
    .update(`${model ?? ''}:${row}`)
    .digest();
  return (h.readUInt16BE(0) / 65535).toFixed(6);
}

function newJobId(emu: EmulatorContext): string {
  for (;;) {
    const id = emu.ids.hex32();
    if (!emu.state.jobs.some((j) => j.jobId === id)) return id;
  }
}
