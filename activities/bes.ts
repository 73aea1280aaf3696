import { ApplicationFailure, ApplicationFailureCategory } from '@temporalio/common';
import { Context } from '@temporalio/activity';
import type { AzureMLLinkedService } from '../config/linked-services';
import { FailureType } from '../common/failures';
import type {
  BatchExecutionStep,
  BesStatus,
  CancelJobInput,
  StartJobInput,
  StartJobResult,
  SubmitJobInput,
  SubmitJobResult,
  WaitJobInput,
  WaitJobResult,
} from '../common/types';
import type { ActivityDeps } from './deps';
import { TRAINING_HEARTBEAT_WINDOW_MS } from './deps';
import type { CallContext, HttpResult } from './http';
import { ensureOk, failureFromResponse, parseErrorBody, send } from './http';
import type { BesBlobRef } from './storage';

/** BES URLs derived from a linked service's `mlEndpoint` (`.../jobs`, `.../jobs/`, with or without api-version). */
export function besUrls(mlEndpoint: string): { jobs: string; job(id: string): string; start(id: string): string } {
  const u = new URL(mlEndpoint);
  let path = u.pathname.replace(/\/+$/, '');
  if (/\/execute$/i.test(path)) path = path.replace(/\/execute$/i, '/jobs');
  else if (!/\/jobs$/i.test(path)) path = `${path}/jobs`;
  if (!u.searchParams.has('api-version')) u.searchParams.set('api-version', '2.0');
  const query = `?${u.searchParams.toString()}`;
  const base = `${u.origin}${path}`;
  return {
    jobs: `${base}${query}`,
    job: (id) => `${base}/${encodeURIComponent(id)}${query}`,
    start: (id) => `${base}/${encodeURIComponent(id)}/start${query}`,
  };
}

const STATUS_BY_NUMBER: BesStatus[] = ['NotStarted', 'Running', 'Failed', 'Cancelled', 'Finished'];

/** Older services answer 0-4; the BES swagger says strings; `Canceled` also occurs. Accept all. */
export function parseStatusCode(raw: unknown): BesStatus | undefined {
  if (typeof raw === 'number') return STATUS_BY_NUMBER[raw];
  if (typeof raw !== 'string') return undefined;
  if (/^\d$/.test(raw)) return STATUS_BY_NUMBER[Number(raw)];
  const s = raw.replace(/\s+/g, '').toLowerCase();
  if (s === 'canceled') return 'Cancelled';
  return STATUS_BY_NUMBER.find((x) => x.toLowerCase() === s);
}

export interface BesJobStatus {
  status: BesStatus;
  results: Record<string, BesBlobRef>;
  details: string | null;
}

function parseJobStatus(result: HttpResult, ctx: CallContext): BesJobStatus {
  const body = result.json() as Record<string, unknown> | undefined;
  const raw = body?.StatusCode ?? body?.['Status Code'];
  const status = parseStatusCode(raw);
  if (!body || !status) {
    throw ApplicationFailure.create({
      type: FailureType.ServiceError,
      message: `${ctx.operation} for linked service '${ctx.linkedServiceName}' returned an unreadable status (${JSON.stringify(raw)})`,
    });
  }
  const results = (body.Results ?? body.Result ?? {}) as Record<string, BesBlobRef> | null;
  return { status, results: results ?? {}, details: typeof body.Details === 'string' ? body.Details : null };
}

function authHeader(ls: AzureMLLinkedService): Record<string, string> {
  return { Authorization: `Bearer ${ls.apiKey.reveal()}` };
}

function ctxFor(ls: AzureMLLinkedService, operation: string): CallContext {
  return { operation, linkedServiceName: ls.name, authField: 'apiKey', urlField: 'mlEndpoint' };
}

/** Where in the activity's typeProperties a BES validation error points. */
function fieldForBesError(step: BatchExecutionStep, code: string | undefined, target: string | undefined): string {
  if (target && step.webServiceOutputs?.[target]) return `typeProperties.webServiceOutputs.${target}.filePath`;
  if (target && step.webServiceInputs?.[target]) return `typeProperties.webServiceInputs.${target}.filePath`;
  if (code && /Output/i.test(code)) return 'typeProperties.webServiceOutputs';
  if (code && /Input|Blob|Container/i.test(code)) return 'typeProperties.webServiceInputs';
  if (code && /Parameter/i.test(code)) return 'typeProperties.globalParameters';
  return 'typeProperties';
}

/** One BES call with the linked service's key, cancellable through the activity's signal. */
function besCall(
  deps: ActivityDeps,
  ls: AzureMLLinkedService,
  ctx: CallContext,
  call: { method: 'GET' | 'POST' | 'DELETE'; url: string; body?: unknown; abortSignal?: AbortSignal },
): Promise<HttpResult> {
  return send(deps.httpClient, { ...call, headers: authHeader(ls), timeoutMs: deps.settings.requestTimeoutMs }, ctx);
}

export async function getJobStatus(
  deps: ActivityDeps,
  ls: AzureMLLinkedService,
  jobId: string,
  abortSignal?: AbortSignal,
): Promise<BesJobStatus> {
  const ctx = ctxFor(ls, `BES status of job ${jobId}`);
  const res = await besCall(deps, ls, ctx, { method: 'GET', url: besUrls(ls.mlEndpoint).job(jobId), abortSignal });
  return parseJobStatus(ensureOk(res, ctx), ctx);
}

export function createBesActivities(deps: ActivityDeps) {
  function buildRequest(step: BatchExecutionStep): Record<string, unknown> {
    const refs = (files: BatchExecutionStep['webServiceInputs']) => {
      if (!files || Object.keys(files).length === 0) return undefined;
      const out: Record<string, BesBlobRef> = {};
      for (const [port, f] of Object.entries(files)) {
        out[port] = deps.storageAccess(deps.storage(f.linkedServiceName)).besBlobRef(f.filePath);
      }
      return out;
    };
    return {
      Inputs: refs(step.webServiceInputs) ?? {},
      Outputs: refs(step.webServiceOutputs) ?? null,
      GlobalParameters: step.globalParameters ?? {},
    };
  }

  return {
    /**
     * Submit (register) the training job; it stays NotStarted until startTrainingJob. Only a job id recorded in
     * workflow history is ever started, so a crash between submit and the recorded result can leave at most a
     * NotStarted orphan, never a second running job. The id is also heartbeated at once, so the retry adopts the
     * orphan instead of submitting another when that heartbeat reached the server.
     */
    async submitTrainingJob({ step }: SubmitJobInput): Promise<SubmitJobResult> {
      const act = Context.current();
      const ls = deps.azureML(step.linkedServiceName);
      const prior = act.info.heartbeatDetails as { jobId?: string } | undefined;
      if (prior?.jobId) {
        try {
          const st = await getJobStatus(deps, ls, prior.jobId, act.cancellationSignal);
          if (st.status === 'NotStarted') {
            act.log.info('adopting BES job submitted by an earlier attempt', { jobId: prior.jobId });
            return { jobId: prior.jobId, adopted: true };
          }
        } catch (e) {
          act.log.warn('could not adopt earlier BES job; submitting a new one', {
            jobId: prior.jobId,
            error: String(e),
          });
        }
      }
      const ctx = ctxFor(ls, `BES submit (activity '${step.activityName}')`);
      const res = await besCall(deps, ls, ctx, {
        method: 'POST',
        url: besUrls(ls.mlEndpoint).jobs,
        body: buildRequest(step),
        abortSignal: act.cancellationSignal,
      });
      if (res.status === 400) {
        const err = parseErrorBody(res);
        const d = err.details?.[0];
        const field = fieldForBesError(step, d?.code, d?.target);
        throw ApplicationFailure.create({
          type: FailureType.BadRequest,
          nonRetryable: true,
          message:
            `BES rejected the job of activity '${step.activityName}' (linked service '${ls.name}'): ` +
            `${d?.code ?? err.code ?? 'BadRequest'}${d?.target ? ` (${d.target})` : ''}: ${d?.message ?? err.message ?? ''} ` +
            `- check ${field}`,
          details: [{ status: 400, code: err.code ?? null, details: err.details ?? [] }],
        });
      }
      ensureOk(res, ctx);
      const jobId = parseJobId(res.text);
      if (!jobId) {
        throw ApplicationFailure.create({
          type: FailureType.ServiceError,
          message: `BES submit for linked service '${ls.name}' returned no job id`,
        });
      }
      act.heartbeat({ jobId });
      act.log.info('BES job submitted', { jobId, activity: step.activityName });
      return { jobId, adopted: false };
    },

    /** Start a submitted job. Idempotent: a job that is already past NotStarted counts as started. */
    async startTrainingJob({ linkedServiceName, jobId }: StartJobInput): Promise<StartJobResult> {
      const act = Context.current();
      const ls = deps.azureML(linkedServiceName);
      const ctx = ctxFor(ls, `BES start of job ${jobId}`);
      const res = await besCall(deps, ls, ctx, {
        method: 'POST',
        url: besUrls(ls.mlEndpoint).start(jobId),
        abortSignal: act.cancellationSignal,
      });
      if (res.status >= 200 && res.status < 300) return { started: true };
      if (res.status === 400) {
        // A retried start after a lost 204: the job already runs. Anything else is a real refusal.
        const st = await getJobStatus(deps, ls, jobId, act.cancellationSignal);
        if (st.status !== 'NotStarted') return { started: false };
      }
      throw failureFromResponse(res, ctx);
    },

    /**
     * Poll until the status differs from `lastStatus` or is terminal (runs before v0.3), or, given `untilEnd`, until
     * the job ends: in a heartbeating loop for the first minutes after the first attempt (a short job's end is seen
     * within one poll, without a round trip through the server), then once per attempt, throwing a benign, retryable `BesJobRunning` so the
     * retry policy (interval = poll interval) brings the next check. Retries add no history events, and between them a
     * long job holds no worker slot: the run's history has the same events for a 5 s and a 10 h job.
     */
    async waitForTrainingJob({
      linkedServiceName,
      jobId,
      lastStatus,
      pollIntervalMs,
      untilEnd,
    }: WaitJobInput): Promise<WaitJobResult> {
      const act = Context.current();
      const ls = deps.azureML(linkedServiceName);
      const windowMs = deps.settings.trainingHeartbeatWindowMs ?? TRAINING_HEARTBEAT_WINDOW_MS;
      for (;;) {
        const st = await getJobStatus(deps, ls, jobId, act.cancellationSignal);
        act.heartbeat({ jobId, status: st.status });
        if (st.status === 'Failed') {
          throw ApplicationFailure.create({
            type: FailureType.BesJobFailed,
            nonRetryable: true,
            message: `BES job ${jobId} of linked service '${ls.name}' failed: ${st.details ?? '(no Details)'}`,
            details: [{ jobId, details: st.details }],
          });
        }
        if (st.status === 'Cancelled') {
          throw ApplicationFailure.create({
            type: FailureType.BesJobCancelled,
            nonRetryable: true,
            message: `BES job ${jobId} of linked service '${ls.name}' was cancelled outside this run`,
            details: [{ jobId }],
          });
        }
        if (st.status === 'Finished' || (!untilEnd && st.status !== lastStatus)) {
          const outputs: Record<string, string> = {};
          for (const [name, ref] of Object.entries(st.results)) outputs[name] = ref?.RelativeLocation ?? '';
          return { status: st.status, outputs };
        }
        // Past the window, or when the worker's slots run short, the job is checked once per retry instead.
        if (untilEnd && (Date.now() - act.info.scheduledTimestampMs >= windowMs || deps.slotsShort?.())) {
          throw ApplicationFailure.create({
            type: FailureType.BesJobRunning,
            category: ApplicationFailureCategory.BENIGN,
            message: `BES job ${jobId} of linked service '${ls.name}' is ${st.status}; checking again after the poll interval`,
          });
        }
        // Throws CancelledFailure when the workflow cancels us; the workflow then DELETEs the job.
        await act.sleep(pollIntervalMs);
      }
    },

    /** DELETE the job. Idempotent: BES answers 204 for a job that already ended, and a gone job is fine too. */
    async cancelTrainingJob({ linkedServiceName, jobId }: CancelJobInput): Promise<void> {
      const act = Context.current();
      const ls = deps.azureML(linkedServiceName);
      const ctx = ctxFor(ls, `BES cancel of job ${jobId}`);
      const res = await besCall(deps, ls, ctx, {
        method: 'DELETE',
        url: besUrls(ls.mlEndpoint).job(jobId),
        abortSignal: act.cancellationSignal,
      });
      if (res.status === 404) return;
      ensureOk(res, ctx);
      act.log.info('BES job cancelled', { jobId });
    },
  };
}

/** The submit response is a JSON string literal; some proxies strip the quotes. */
export function parseJobId(text: string): string | undefined {
  const t = text.trim();
  try {
    const v = JSON.parse(t) as unknown;
    if (typeof v === 'string' && v) return v;
  } catch {
    // fall through to quote stripping
  }
  const stripped = t.replace(/^"+|"+$/g, '');
  return /^[A-Za-z0-9-]+$/.test(stripped) ? stripped : undefined;
}
