import type { Client, WorkflowHandle } from '@temporalio/client';
import { WorkflowFailedError } from '@temporalio/client';
import { WorkflowIdConflictPolicy } from '@temporalio/common';
import { SEARCH_ATTRIBUTES, PipelineAttr, ScoringServiceAttr } from '../common/search-attributes';
import type { RetrainAndUpdateInput, RetrainAndUpdateResult, RunStatus } from '../common/types';
import { statusQuery } from '../workflows/queries';

export interface StartOptions {
  taskQueue: string;
  /** Business id; default `retrain-<pipeline>-<UTC timestamp>`. Starting an id that is running attaches to it. */
  workflowId?: string;
  namespace?: string;
}

function timestamp(d = new Date()): string {
  return d
    .toISOString()
    .replace(/[-:]/g, '')
    .replace(/\.\d+Z$/, 'Z');
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

export async function startRetrain(
  client: Client,
  input: RetrainAndUpdateInput,
  opts: StartOptions,
  log: (line: string) => void = () => undefined,
): Promise<WorkflowHandle> {
  const pipeline = input.pipeline ?? 'retrainAndUpdate';
  const namespace = opts.namespace ?? client.options.namespace;
  const attrs = await hasSearchAttributes(client, namespace);
  if (!attrs && input.options?.searchAttributes !== false) noteMissingSearchAttributes(namespace, log);
  return client.workflow.start('retrainAndUpdate', {
    taskQueue: opts.taskQueue,
    workflowId: opts.workflowId ?? `retrain-${pipeline}-${timestamp()}`,
    workflowIdConflictPolicy: WorkflowIdConflictPolicy.USE_EXISTING,
    ...retrainStartOptions(input, attrs),
  });
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
        .map(([name, u]) => `${name}: ${u.state}`)
        .join(', '),
    );
  }
  return parts.join(' · ');
}

/**
 * Print progress on every change of phase or BES status until the run ends; returns its result or throws. A training
 * job can run for hours without a change, so the current line is repeated every `repeatMs` (default 30 s) with the
 * elapsed time: a quiet terminal then still shows the run is alive.
 */
export async function followRun(
  handle: WorkflowHandle,
  out: (line: string) => void,
  opts: { pollMs?: number; repeatMs?: number } = {},
): Promise<RetrainAndUpdateResult> {
  const started = Date.now();
  const repeatMs = opts.repeatMs ?? 30_000;
  let last = '';
  let lastPrinted = 0;
  let done = false;
  const result = handle.result() as Promise<RetrainAndUpdateResult>;
  result.then(
    () => (done = true),
    () => (done = true),
  );
  while (!done) {
    try {
      const s = await handle.query(statusQuery);
      const line = describeStatus(s);
      if (line !== last || Date.now() - lastPrinted >= repeatMs) {
        out(`[${elapsed(started)}] ${line}`);
        last = line;
        lastPrinted = Date.now();
      }
    } catch {
      // No worker has run the workflow yet, or it just closed: keep waiting for the result.
    }
    await Promise.race([result.catch(() => undefined), new Promise((r) => setTimeout(r, opts.pollMs ?? 1000))]);
  }
  return result;
}

/** The innermost failure: for a run that failed in an activity, the activity's ApplicationFailure. */
export function rootCause(err: unknown): { message: string; type?: string } {
  let e = err as { message?: string; cause?: unknown; type?: string } | undefined;
  if (err instanceof WorkflowFailedError && err.cause) e = err.cause;
  while (e?.cause) e = e.cause;
  return { message: e?.message ?? String(err), type: e?.type };
}
