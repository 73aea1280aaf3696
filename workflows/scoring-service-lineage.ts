/**
 * The scoring service's state and lineage (./scoring-service.ts holds the workflow): what is live, what was live
 * before, which models were withdrawn, which requests were answered; and how the Web UI shows it.
 */
import { ApplicationFailure, TimeoutFailure } from '@temporalio/workflow';
import { FailureType } from '../common/failures';
import type { DeployOutcome, LineageEntry, RollbackOutcome } from '../common/models';

/** Lineage entries kept (and shown); older ones drop off. */
export const LINEAGE_LIMIT = 100;
/** Request outcomes remembered, so a request retried after a continue-as-new is answered, not repeated. */
const PROCESSED_LIMIT = 50;

export interface ServiceState {
  seq: number;
  live: Record<string, LineageEntry | null>;
  lineage: LineageEntry[];
  withdrawn: string[];
  processed: { id: string; outcome: DeployOutcome | RollbackOutcome }[];
}

export function remember(state: ServiceState, id: string, outcome: DeployOutcome | RollbackOutcome): void {
  state.processed.push({ id, outcome: { ...outcome, live: null } });
  if (state.processed.length > PROCESSED_LIMIT) state.processed.splice(0, state.processed.length - PROCESSED_LIMIT);
}

export function record(state: ServiceState, entry: Omit<LineageEntry, 'seq' | 'liveFrom' | 'liveUntil'>): LineageEntry {
  const now = new Date().toISOString();
  const previous = state.live[entry.trainedModelName];
  if (previous) previous.liveUntil = now;
  const full: LineageEntry = { ...entry, seq: ++state.seq, liveFrom: now, liveUntil: null };
  state.lineage.push(full);
  if (state.lineage.length > LINEAGE_LIMIT) state.lineage.splice(0, state.lineage.length - LINEAGE_LIMIT);
  state.live[entry.trainedModelName] = full;
  return full;
}

export function withdraw(state: ServiceState, key: string): void {
  if (!state.withdrawn.includes(key)) state.withdrawn.push(key);
  if (state.withdrawn.length > LINEAGE_LIMIT) state.withdrawn.splice(0, state.withdrawn.length - LINEAGE_LIMIT);
}

/** The entry a rollback restores: `toJobId`'s newest, else the newest before the live model; never a withdrawn one. */
export function rollbackTarget(
  state: ServiceState,
  trainedModelName: string,
  toJobId?: string,
): LineageEntry | undefined {
  const live = state.live[trainedModelName];
  const candidates = state.lineage.filter(
    (e) =>
      e.trainedModelName === trainedModelName &&
      e.identity.key !== live?.identity.key &&
      (toJobId ? e.identity.jobId === toJobId : !state.withdrawn.includes(e.identity.key)),
  );
  return candidates[candidates.length - 1];
}

export function resourceOf(state: ServiceState, req: { trainedModelName?: string }): string | undefined {
  if (req.trainedModelName) return req.trainedModelName;
  const names = Object.keys(state.live);
  return names.length === 1 ? names[0] : undefined;
}

/** The newest lineage entries as a markdown table, live ones marked, newest first. */
export function lineageMarkdown(
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
export function noWorker(
  err: unknown,
  taskQueue: string,
  timeoutMs: number,
): { type: string; message: string } | undefined {
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
export function noEarlierModel(message: string): ApplicationFailure {
  return ApplicationFailure.create({ type: FailureType.NoEarlierModel, nonRetryable: true, message });
}

/** The innermost failure of an activity call: its ApplicationFailure's type and message. */
export function failureOf(err: unknown): { type: string; message: string } {
  let e = err as { cause?: unknown; type?: string; message?: string } | undefined;
  while (e?.cause) e = e.cause;
  return { type: e?.type ?? 'ServiceError', message: e?.message || String(err) };
}
