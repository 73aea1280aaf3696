import { randomUUID } from 'node:crypto';
import type { Client, WorkflowExecutionDescription, WorkflowHandle } from '@temporalio/client';
import { WorkflowFailedError } from '@temporalio/client';
import { WorkflowIdConflictPolicy } from '@temporalio/common';
import { SEARCH_ATTRIBUTES, PipelineAttr, ScoringServiceAttr } from '../common/search-attributes';
import type { RetrainAndUpdateInput, RetrainAndUpdateResult, RunStatus } from '../common/types';
import { statusQuery } from '../workflows/queries';
import { approvalLine, gateLine } from './deployment-view';
import { isConnectionError, noWorkerNote, taskQueuePollers, troubleNote, workflowTaskTrouble } from './run-health';
import { runWorkflowId } from './workflow-ids';

export interface StartOptions {
  taskQueue: string;
  /** Business id; default `retrain-<pipeline>-<UTC timestamp>`. Starting an id that is running attaches to it. */
  workflowId?: string;
  namespace?: string;
}

/** Are the product's search attributes registered? Without them every upsert would fail the workflow task. */
export async function hasSearchAttributes(client: Client, namespace: string): Promise<boolean> {
  try {
    const res = await client.connection.operatorService.listSearchAttributes({ namespace });
    const known = Object.keys(res.customAttributes ?? {});
    return Object.keys(SEARCH_ATTRIBUTES).every((a) => known.includes(a));
  } catch {
    return false;
  }
}

/**
 * What every start of retrainAndUpdate carries, whoever starts it (`retrain run`, a schedule): the input with the
 * search-attribute switch decided, the memo and search attributes `retrain list` and the Web UI show, and a summary
 * line so the Web UI's run list reads as "retrain X → update Y" rather than a bare id.
 */
export function retrainStartOptions(input: RetrainAndUpdateInput, attrs: boolean) {
  const pipeline = input.pipeline ?? 'retrainAndUpdate';
  const finalInput: RetrainAndUpdateInput = {
    ...input,
    options: { ...input.options, searchAttributes: attrs && input.options?.searchAttributes !== false },
  };
  const services = input.updates.map((u) => u.linkedServiceName);
  return {
    args: [finalInput] as [RetrainAndUpdateInput],
    memo: { pipeline, training: input.training.linkedServiceName, scoring: services },
    typedSearchAttributes: attrs
      ? [
          { key: PipelineAttr, value: pipeline },
          { key: ScoringServiceAttr, value: services },
        ]
      : undefined,
    staticSummary: `Retrain ${input.training.linkedServiceName} → update ${services.join(', ') || '(no scoring service)'}`,
    staticDetails: `Pipeline ${pipeline}: BES job on ${input.training.linkedServiceName}, then ${input.updates
      .map((u) => `${u.activityName} (${u.linkedServiceName}, '${u.trainedModelName}')`)
      .join('; ')}`,
  };
}

export function noteMissingSearchAttributes(namespace: string, log: (line: string) => void): void {
  log(
    `note: namespace '${namespace}' lacks the search attributes ${Object.keys(SEARCH_ATTRIBUTES).join(', ')}; ` +
      `runs start without them (see README: temporal operator search-attribute create)`,
  );
}

/** A started run, and whether the start attached to a run already going under that id (USE_EXISTING). */
export type StartedRun = WorkflowHandle & { attached: boolean; startTime?: Date };

/** Memo key holding a random id per start request: the run carries the id of the start that created it. */
export const START_REQUEST_MEMO = 'startRequestId';

/**
 * Start with USE_EXISTING and tell whether this call created the run: the server answers both cases the same way,
 * but only the start that created the run wrote its request id into the memo.
 */
export async function startOrAttach(
  start: (memo: Record<string, string>) => Promise<WorkflowHandle>,
): Promise<StartedRun> {
  const requestId = randomUUID();
  const handle = await start({ [START_REQUEST_MEMO]: requestId });
  const desc = await handle.describe().catch(() => undefined);
  const attached = desc !== undefined && desc.memo?.[START_REQUEST_MEMO] !== requestId;
  return Object.assign(handle, { attached, startTime: desc?.startTime });
}

export async function startRetrain(
  client: Client,
  input: RetrainAndUpdateInput,
  opts: StartOptions,
  log: (line: string) => void = () => undefined,
): Promise<StartedRun> {
  const pipeline = input.pipeline ?? 'retrainAndUpdate';
  const namespace = opts.namespace ?? client.options.namespace;
  const attrs = await hasSearchAttributes(client, namespace);
  if (!attrs && input.options?.searchAttributes !== false) noteMissingSearchAttributes(namespace, log);
  const options = retrainStartOptions(input, attrs);
  return startOrAttach((memo) =>
    client.workflow.start('retrainAndUpdate', {
      taskQueue: opts.taskQueue,
      workflowId: opts.workflowId ?? runWorkflowId(pipeline),
      workflowIdConflictPolicy: WorkflowIdConflictPolicy.USE_EXISTING,
      ...options,
      memo: { ...options.memo, ...memo },
    }),
  );
}

function elapsed(since: number): string {
  const s = Math.floor((Date.now() - since) / 1000);
  const mmss = `${String(Math.floor(s / 60) % 60).padStart(2, '0')}:${String(s % 60).padStart(2, '0')}`;
  return s >= 3600 ? `${Math.floor(s / 3600)}:${mmss}` : mmss;
}

function describeStatus(s: RunStatus): string {
  const parts: string[] = [s.phase];
  if (s.jobId) parts.push(`BES job ${s.jobId}${s.besStatus ? ` ${s.besStatus}` : ''}`);
  if (s.phase === 'Updating') {
    parts.push(
      Object.entries(s.updates)
        .map(([name, u]) => `${name}: ${u.outcome ?? u.state}`)
        .join(', '),
    );
  }
  return parts.join(' · ');
}

/** The CLI gave up following a run because Temporal stayed unreachable; the run itself may well go on. */
export class TemporalUnreachableError extends Error {
  override name = 'TemporalUnreachableError';
  /** `retrain run` exits with this code, so scripts can tell "gave up watching" from "the run failed" (1). */
  readonly exitCode = 3;
}

export interface FollowOptions {
  /** How often the run is looked at (describe, status query). Default 1 s. */
  pollMs?: number;
  /** The current line, and any warning, is repeated at least this often. Default 30 s. */
  repeatMs?: number;
  /** How long Temporal may stay unreachable before following gives up. Default 10 min. */
  giveUpMs?: number;
  /** For the health checks (task-queue pollers, failing workflow tasks); without it they are skipped. */
  client?: Client;
  /** Where Temporal is, for messages. */
  address?: string;
}

function firstLine(e: unknown): string {
  return (e instanceof Error ? e.message : String(e)).split('\n')[0];
}

/**
 * Print progress on every change of phase or BES status until the run ends; returns its result or throws the run's
 * failure. A training job can run for hours without a change, so the current line is repeated every `repeatMs` with
 * the elapsed time. What the status cannot show is said too, each read from Temporal itself: no worker polling the
 * task queue, a workflow task failing again and again, and Temporal being unreachable (then following retries with
 * backoff, re-attaches when the server is back, and gives up with TemporalUnreachableError after `giveUpMs`).
 */
export async function followRun(
  handle: WorkflowHandle,
  out: (line: string) => void,
  opts: FollowOptions = {},
): Promise<RetrainAndUpdateResult> {
  const started = Date.now();
  const repeatMs = opts.repeatMs ?? 30_000;
  const pollMs = opts.pollMs ?? 1000;
  const giveUpMs = opts.giveUpMs ?? 10 * 60_000;
  const where = opts.address ? `Temporal at ${opts.address}` : 'Temporal';
  const printed = new Map<string, number>();
  /** A line, printed when new or every repeatMs, under a key so a changed line replaces the old one. */
  const say = (key: string, line: string) => {
    const id = `${key}\u0000${line}`;
    const at = printed.get(id);
    if (at !== undefined && Date.now() - at < repeatMs) return;
    for (const k of [...printed.keys()]) if (k.startsWith(`${key}\u0000`)) printed.delete(k);
    printed.set(id, Date.now());
    out(`[${elapsed(started)}] ${line}`);
  };
  let downSince: number | undefined;
  let backoffMs = 1000;
  /** Retry after a connection error, or throw when it is another error or we waited long enough. */
  const unreachable = async (e: unknown): Promise<void> => {
    if (!isConnectionError(e)) throw e;
    const now = Date.now();
    if (downSince === undefined) {
      downSince = now;
      out(`[${elapsed(started)}] ${where} is unreachable (${firstLine(e)}); the run is not affected. Retrying…`);
    } else {
      out(
        `[${elapsed(started)}] ${where} still unreachable after ${elapsed(downSince)}; retrying in ${backoffMs / 1000} s`,
      );
    }
    if (now - downSince >= giveUpMs) {
      throw new TemporalUnreachableError(
        `gave up after ${elapsed(downSince)}: ${where} is unreachable, so run ${handle.workflowId} was not followed to ` +
          `its end; it may still be running (retrain status ${handle.workflowId})`,
      );
    }
    await new Promise((r) => setTimeout(r, backoffMs));
    backoffMs = Math.min(backoffMs * 2, 30_000);
  };
  const reconnected = () => {
    if (downSince === undefined) return;
    out(
      `[${elapsed(started)}] reconnected to Temporal after ${elapsed(downSince)}; re-attached to ${handle.workflowId}`,
    );
    downSince = undefined;
    backoffMs = 1000;
  };
  let pollersCheckedAt = -Infinity;
  let noWorker = false;
  for (;;) {
    let desc: WorkflowExecutionDescription;
    try {
      // A deadline instead of the client's own retries (about 20 s while the server is down): the operator hears
      // about an outage within seconds.
      desc = opts.client
        ? await opts.client.connection.withDeadline(Date.now() + 5_000, () => handle.describe())
        : await handle.describe();
    } catch (e) {
      await unreachable(e);
      continue;
    }
    reconnected();
    if (desc.status.name !== 'RUNNING') break;
    if (opts.client) {
      const client = opts.client;
      // Checked at once and then every few seconds, so the warning comes within the progress interval.
      if (Date.now() - pollersCheckedAt >= Math.min(repeatMs, 10_000)) {
        pollersCheckedAt = Date.now();
        const p = await taskQueuePollers(client, desc.taskQueue).catch(() => undefined);
        noWorker = p !== undefined && p.workflow === 0 && p.activity === 0;
      }
      if (noWorker) say('worker', `warning: ${noWorkerNote(desc.taskQueue)}`);
      const trouble = await workflowTaskTrouble(client, desc).catch(() => undefined);
      if (trouble) say('task', `warning: ${troubleNote(trouble)}`);
    }
    if (!noWorker) {
      try {
        // With a deadline: a query waits for a worker, and a silent wait is what this loop exists to avoid.
        const s = opts.client
          ? await opts.client.connection.withDeadline(Date.now() + 5_000, () => handle.query(statusQuery))
          : await handle.query(statusQuery);
        say('status', describeStatus(s));
        // Own keys: the gate's numbers and what to type for approval are printed once, not on every status line.
        if (s.gate) say('gate', gateLine(s.gate));
        if (s.approval) say('approval', approvalLine(s.approval, handle.workflowId));
      } catch {
        // No worker has run the workflow yet, or it just closed: the next describe tells.
      }
    }
    await new Promise((r) => setTimeout(r, pollMs));
  }
  for (;;) {
    try {
      return (await handle.result()) as RetrainAndUpdateResult;
    } catch (e) {
      await unreachable(e);
      reconnected();
    }
  }
}

/** How a run ended when it did not succeed, in words that do not call a cancelled run "failed". */
export function outcomeWord(err: unknown): 'failed' | 'cancelled' | 'terminated' | 'timed out' {
  if (err instanceof WorkflowFailedError) {
    const name = (err.cause as { name?: string } | undefined)?.name;
    if (name === 'CancelledFailure') return 'cancelled';
    if (name === 'TerminatedFailure') return 'terminated';
    if (name === 'TimeoutFailure') return 'timed out';
  }
  return 'failed';
}

/** The innermost failure: for a run that failed in an activity, the activity's ApplicationFailure. */
export function rootCause(err: unknown): { message: string; type?: string } {
  let e = err as { message?: string; cause?: unknown; type?: string } | undefined;
  if (err instanceof WorkflowFailedError && err.cause) e = err.cause;
  while (e?.cause) e = e.cause;
  return { message: e?.message ?? String(err), type: e?.type };
}
