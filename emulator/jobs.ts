import { randomUUID } from 'node:crypto';
import type { BlobTarget } from './blobs';
import { buildIlearner, probeBlob, readOnlySas, resolveBlobRef, writeBlob } from './blobs';
import type { EmulatorContext } from './context';
import { knownAccounts } from './context';
import { liveModel } from './models';
import type { JobRecord, RuntimeService } from './state';
import type { EmulatedJob } from './types';

export type JobStatus = 'NotStarted' | 'Running' | 'Failed' | 'Cancelled' | 'Finished';

/** Integer StatusCode of older services (docs/spec/ml-studio-classic-api.md §2.6): 0 NotStarted, 1 Running, 2 Failed, 3 Cancelled, 4 Finished. */
export const STATUS_CODE_INT: Record<JobStatus, number> = {
  NotStarted: 0,
  Running: 1,
  Failed: 2,
  Cancelled: 3,
  Finished: 4,
};

/** Default output container when a request has no override (docs/spec/ml-studio-classic-api.md §2.8). */
export const DEFAULT_OUTPUT_CONTAINER = 'experimentoutput';

/**
 * Runs BES jobs. A job's progress is a function of its timestamps (started + running time), so a restarted emulator
 * picks up in-flight jobs where they are; the outputs are written once the running time is over, idempotently
 * (same content, same place), by a timer or by the first status GET that finds the job due.
 */
export class JobEngine {
  private readonly timers = new Map<string, NodeJS.Timeout>();
  private readonly finalizing = new Map<string, Promise<void>>();
  private closed = false;

  constructor(private readonly ctx: EmulatorContext) {}

  /** Re-arm timers for jobs that were running when the state was saved. */
  resume(): void {
    for (const job of this.ctx.state.jobs) {
      if (this.status(job) === 'Running') this.arm(job);
    }
  }

  find(serviceId: string, jobId: string): JobRecord | undefined {
    return this.ctx.state.jobs.find((j) => j.jobId === jobId && j.serviceId === serviceId);
  }

  status(job: JobRecord): JobStatus {
    if (job.final) return job.final.status;
    if (job.cancelledAtMs !== null) return 'Cancelled';
    if (job.startedAtMs === null) return 'NotStarted';
    return 'Running';
  }

  /** Make sure a job whose running time is over has its outputs written before anyone reports it Finished. */
  async settle(job: JobRecord): Promise<void> {
    if (this.status(job) !== 'Running' || job.startedAtMs === null || job.runMs === null) return;
    if (this.ctx.now() >= job.startedAtMs + job.runMs) await this.finalize(job);
  }

  start(job: JobRecord, service: RuntimeService): void {
    const faults = this.ctx.jobFaults;
    const applies = (f: { remaining: number; serviceId?: string } | null): boolean =>
      !!f && f.remaining > 0 && (!f.serviceId || f.serviceId === service.id);
    let runMs = this.ctx.opts.jobs.runningMs;
    if (applies(faults.slowNext)) {
      runMs += faults.slowNext!.extraMs;
      faults.slowNext!.remaining -= 1;
    }
    if (applies(faults.failNext)) {
      job.failDetails = faults.failNext!.details;
      faults.failNext!.remaining -= 1;
    }
    if (service.kind === 'training') {
      job.metrics = { ...this.ctx.opts.jobs.metrics };
      if (applies(faults.metricsNext)) {
        job.metrics = { ...faults.metricsNext!.metrics };
        faults.metricsNext!.remaining -= 1;
      }
      if (applies(faults.brokenNext)) {
        job.broken = true;
        faults.brokenNext!.remaining -= 1;
      }
    }
    job.startedAtMs = this.ctx.now();
    job.runMs = runMs;
    this.ctx.store.save();
    this.arm(job);
  }

  /** DELETE (docs/spec/ml-studio-classic-api.md §2.7): non-terminal jobs become Cancelled; terminal ones are left as they are. */
  cancel(job: JobRecord): void {
    job.cancelCount += 1;
    const status = this.status(job);
    if (status === 'NotStarted' || status === 'Running') {
      job.cancelledAtMs = this.ctx.now();
      const timer = this.timers.get(job.jobId);
      if (timer) clearTimeout(timer);
      this.timers.delete(job.jobId);
    }
    this.ctx.store.save();
  }

  async close(): Promise<void> {
    this.closed = true;
    for (const t of this.timers.values()) clearTimeout(t);
    this.timers.clear();
    // Let writes in flight finish so a restart does not see half-written outputs (they would be rewritten anyway).
    await Promise.allSettled([...this.finalizing.values()]);
  }

  private arm(job: JobRecord): void {
    if (this.closed || job.startedAtMs === null || job.runMs === null) return;
    const existing = this.timers.get(job.jobId);
    if (existing) clearTimeout(existing);
    const delay = Math.max(0, job.startedAtMs + job.runMs - this.ctx.now());
    const timer = setTimeout(() => {
      this.timers.delete(job.jobId);
      this.finalize(job).catch((err: unknown) => {
        if (this.ctx.opts.verbose)
          process.stderr.write(`[emulator] job ${job.jobId} finalize failed: ${String(err)}\n`);
      });
    }, delay);
    // The HTTP server keeps a CLI alive; a pending job alone must not keep a test process from exiting.
    timer.unref();
    this.timers.set(job.jobId, timer);
  }

  private finalize(job: JobRecord): Promise<void> {
    const pending = this.finalizing.get(job.jobId);
    if (pending) return pending;
    const p = this.doFinalize(job).finally(() => this.finalizing.delete(job.jobId));
    this.finalizing.set(job.jobId, p);
    return p;
  }

  private async doFinalize(job: JobRecord): Promise<void> {
    if (job.final || job.cancelledAtMs !== null || job.startedAtMs === null || job.runMs === null) return;
    const endMs = job.startedAtMs + job.runMs;
    const service = this.ctx.state.services.find((s) => s.id === job.serviceId);
    let status: 'Finished' | 'Failed' = 'Finished';
    let details: string | null = null;

    if (this.ctx.opts.jobs.inputBlobCheck === 'run') {
      for (const [name, ref] of Object.entries(job.inputs)) {
        const target = resolveBlobRef(ref, knownAccounts(this.ctx));
        const probe = 'code' in target ? ({ state: 'missing' } as const) : await probeBlob(target);
        if (probe.state !== 'exists') {
          const where = ref.RelativeLocation ?? '(no RelativeLocation)';
          status = 'Failed';
          // Only a blob the account says is not there is BlobNotFound; an account that cannot be reached or refuses
          // the key gets its own reason, as the real module's Azure error message would give.
          details = moduleFailure(job, 'Import Data', {
            code: probe.state === 'missing' ? 'BlobNotFound' : 'UnableToAccessBlob',
            target: name,
            message: `Unable to access the provided Azure blob - ${where}. Azure error message: ${'reason' in probe ? probe.reason : 'The specified blob does not exist.'}`,
          });
          break;
        }
      }
    }
    if (status === 'Finished' && job.failDetails) {
      status = 'Failed';
      details = job.failDetails;
    }
    if (status === 'Finished') {
      try {
        for (const [name, out] of Object.entries(job.outputs)) {
          const target = resolveBlobRef(out.ref, knownAccounts(this.ctx)) as BlobTarget;
          const content = this.outputContent(job, service, name, out.kind, endMs);
          await writeBlob(target, content, out.kind === 'model' ? 'application/octet-stream' : 'text/csv');
        }
      } catch (err) {
        status = 'Failed';
        details = moduleFailure(job, 'Export Data', {
          code: 'InvalidBlob',
          target: null,
          message: `Unable to write the output blob. Azure error message: ${String((err as Error).message ?? err).split('\n')[0]}`,
        });
      }
    }
    // A DELETE that arrived while the outputs were being written wins, as it would on a real cluster.
    if (job.cancelledAtMs !== null || job.final) return;
    job.final = { status, details, atMs: endMs };
    this.ctx.store.save();
  }

  private outputContent(
    job: JobRecord,
    service: RuntimeService | undefined,
    outputName: string,
    kind: 'dataset' | 'model',
    endMs: number,
  ): Buffer {
    const trainedAt = new Date(endMs).toISOString();
    if (kind === 'model') return buildIlearner({ jobId: job.jobId, service: job.servicePath, trainedAt });
    if (service?.kind === 'training') {
      const metrics = job.metrics ?? this.ctx.opts.jobs.metrics;
      const names = Object.keys(metrics);
      return Buffer.from(`${names.join(',')}\n${names.map((n) => String(metrics[n])).join(',')}\n`, 'utf8');
    }
    const model = service?.target ? liveModel(this.ctx, service.target, endMs) : null;
    const rows = [0, 1, 2].map((i) => `${i},${i % 2},${(0.5 + i / 10).toFixed(2)},${model ?? ''}`);
    return Buffer.from(`Id,Scored Labels,Scored Probabilities,Model\n${rows.join('\n')}\n# ${outputName}\n`, 'utf8');
  }
}

/** A Details text shaped like the real multi-part failure texts (docs/spec/ml-studio-classic-api.md §2.6), carrying the docs/spec/ml-studio-classic-api.md §6.1 error JSON. */
function moduleFailure(
  job: JobRecord,
  module: string,
  detail: { code: string; target: string | null; message: string },
): string {
  const body = { error: { code: 'BadArgument', message: 'Invalid argument provided.', details: [detail] } };
  return `Module: ${module}; SNR Job Id: ${job.jobId}; SNR Task Id: ${randomUUID()}; errorComponent=Module. taskStatusCode=400. ${JSON.stringify(body)} Error: ${detail.code}: ${detail.message}`;
}

/** BES Results (docs/spec/ml-studio-classic-api.md §2.6): a fresh read-only SAS per output on every call. */
export function jobResults(
  ctx: EmulatorContext,
  job: JobRecord,
): Record<string, { ConnectionString: null; RelativeLocation: string; BaseLocation: string; SasBlobToken: string }> {
  const results: Record<
    string,
    { ConnectionString: null; RelativeLocation: string; BaseLocation: string; SasBlobToken: string }
  > = {};
  for (const [name, out] of Object.entries(job.outputs)) {
    const target = resolveBlobRef(out.ref, knownAccounts(ctx));
    if ('code' in target) continue;
    const relativeLocation = `${out.container}/${out.blobName}`;
    if (target.account) {
      results[name] = {
        ConnectionString: null,
        RelativeLocation: relativeLocation,
        BaseLocation: `${target.account.blobEndpoint}/`,
        SasBlobToken: readOnlySas(target.account, out.container, out.blobName, ctx.opts.jobs.sasTtlSeconds),
      };
    } else {
      // Written through the caller's SAS to an account the emulator has no key for: hand that SAS back.
      results[name] = {
        ConnectionString: null,
        RelativeLocation: relativeLocation,
        BaseLocation: `${target.url.slice(0, target.url.length - relativeLocation.length).replace(/\/+$/, '')}/`,
        SasBlobToken: target.sas ?? '',
      };
    }
  }
  return results;
}

export function toEmulatedJob(engine: JobEngine, job: JobRecord, submitted: number): EmulatedJob {
  const outputs: EmulatedJob['outputs'] = {};
  for (const [name, out] of Object.entries(job.outputs))
    outputs[name] = { container: out.container, blobName: out.blobName };
  const status = engine.status(job);
  const endedAtMs = job.final ? job.final.atMs : job.cancelledAtMs;
  return {
    jobId: job.jobId,
    service: job.servicePath,
    serviceId: job.serviceId,
    status,
    submitted,
    started: job.startCount,
    cancelled: job.cancelCount,
    details: job.final?.details ?? null,
    outputs,
    createdAt: new Date(job.createdAtMs).toISOString(),
    startedAt: job.startedAtMs === null ? null : new Date(job.startedAtMs).toISOString(),
    endedAt: endedAtMs === null ? null : new Date(endedAtMs).toISOString(),
    metrics: job.metrics,
  };
}
