import type { Client } from '@temporalio/client';
import { WorkflowNotFoundError } from '@temporalio/client';
import type { LineageEntry, ServiceView } from '../common/models';
import { scoringServiceWorkflowId } from '../common/models';
import type { AzureMLLinkedService } from '../config/linked-services';
import { getLinkedService, loadAdfConfig } from '../config/linked-services';
import { serviceKeyOf } from '../config/service-key';
import { serviceQuery } from '../workflows/queries';
import { CliError, formatTime, renderTable, truncate } from './commands/common';
import { stripUrlQueries } from './redact';

/**
 * A scoring service as `retrain models` and `retrain rollback` see it: the linked service an operator names, the
 * service's key (its `updateResourceEndpoint`, as the worker computes it) and the one workflow that writes to it.
 */
export interface ScoringServiceRef {
  linkedService: AzureMLLinkedService;
  serviceKey: string;
  workflowId: string;
}

/** Resolve a linked service of the ADF folder to its scoring service; errors name the folder, file and field. */
export async function resolveScoringService(configDir: string, name: string): Promise<ScoringServiceRef> {
  const config = await loadAdfConfig(configDir);
  const ls = getLinkedService(config, name);
  const dir = `${configDir.replace(/\/+$/, '')}/linkedService`;
  if (!ls) {
    const scoring = [...config.linkedServices.values()]
      .filter((l): l is AzureMLLinkedService => l.kind === 'AzureML' && !!l.updateResourceEndpoint)
      .map((l) => l.name);
    throw new CliError(
      `linked service '${name}' not found: no file in ${dir} has "name": "${name}"` +
        ` (scoring services there: ${scoring.join(', ') || 'none'})`,
    );
  }
  if (ls.kind !== 'AzureML') {
    throw new CliError(`${ls.file}: '${ls.name}' is a ${ls.kind} linked service, not an AzureML scoring service`);
  }
  if (!ls.updateResourceEndpoint) {
    throw new CliError(
      `${ls.file}: properties.typeProperties.updateResourceEndpoint is not set, so '${ls.name}' names no scoring ` +
        `service to update (it is a training endpoint)`,
    );
  }
  const serviceKey = serviceKeyOf(ls.updateResourceEndpoint);
  return { linkedService: ls, serviceKey, workflowId: scoringServiceWorkflowId(serviceKey) };
}

export interface LoadedView {
  /** Null when the workflow exists but has not recorded anything yet. */
  view: ServiceView | null;
  /** `memo`: read without a worker; `query`: the workflow answered itself. */
  source: 'memo' | 'query' | null;
  taskQueue: string;
  status: string;
}

const QUERY_TIMEOUT_MS = 5_000;

/**
 * The service's view from its workflow's memo (readable with no worker running); when the memo has none yet, the
 * `service` query. Null when no workflow exists: ml-retrain never deployed to this service.
 */
export async function loadServiceView(client: Client, workflowId: string): Promise<LoadedView | null> {
  const handle = client.workflow.getHandle(workflowId);
  let desc;
  try {
    desc = await handle.describe();
  } catch (e) {
    if (e instanceof WorkflowNotFoundError) return null;
    throw e;
  }
  const base = { taskQueue: desc.taskQueue, status: desc.status.name };
  const memo = (desc.memo ?? {}) as { view?: ServiceView };
  if (memo.view) return { ...base, view: stripUrlQueries(memo.view), source: 'memo' };
  if (desc.status.name !== 'RUNNING') return { ...base, view: null, source: null };
  try {
    const view = await client.connection.withDeadline(Date.now() + QUERY_TIMEOUT_MS, () => handle.query(serviceQuery));
    return { ...base, view: stripUrlQueries(view), source: 'query' };
  } catch {
    // No worker has run the workflow yet: it has nothing recorded.
    return { ...base, view: null, source: null };
  }
}

/** Is this entry the one its trained-model resource serves now? */
export function isLive(view: ServiceView, e: LineageEntry): boolean {
  return view.live[e.trainedModelName]?.seq === e.seq;
}

function metricsText(m: Record<string, number> | null): string {
  if (!m) return '-';
  return Object.entries(m)
    .map(([k, v]) => `${k}=${v}`)
    .join(' ');
}

function approvalText(e: LineageEntry): string {
  const a = e.approval;
  if (!a) return '-';
  // A rollback records who asked for it; a deployment, who decided on the model.
  const who = e.how === 'rollback' ? `by ${a.by}` : `${a.decision} by ${a.by}`;
  return a.reason ? `${who}: ${a.reason}` : who;
}

function verificationText(e: LineageEntry): string {
  const v = e.verification;
  if (v) return v.how === 'identity' ? `scored: ${v.observed ?? '?'}` : 'answered (no model column)';
  return e.note && /verification/.test(e.note) ? e.note : 'not verified';
}

/** One line per model that was live, newest first, the live one marked. */
export function renderLineage(
  view: ServiceView,
  linkedService: string,
  workflowId: string,
  source: LoadedView['source'],
): string[] {
  const lines = [`Scoring service ${view.serviceKey} (linked service ${linkedService})`, `  workflow:  ${workflowId}`];
  const live = Object.entries(view.live).filter(([, e]) => e);
  for (const [name, e] of live) {
    lines.push(
      `  live now:  '${name}': model ${e!.identity.key} (BES job ${e!.identity.jobId ?? 'unknown'}, trained ` +
        `${formatTime(e!.identity.trainedAt)}) since ${formatTime(e!.liveFrom)}`,
    );
  }
  // Only the workflow's own answer counts requests in flight: the memo is written while the last one still counts.
  if (source === 'query' && view.pending > 0) {
    lines.push(`  pending:   ${view.pending} request(s) being applied or waiting their turn`);
  }
  if (view.withdrawn.length) lines.push(`  withdrawn: ${view.withdrawn.join(', ')} (rolled back; never applied again)`);
  lines.push('');
  const rows = [...view.lineage]
    .sort((a, b) => b.seq - a.seq)
    .map((e) => [
      isLive(view, e) ? 'live' : '',
      formatTime(e.liveFrom),
      formatTime(e.liveUntil),
      e.how,
      e.identity.jobId ?? '-',
      e.identity.key,
      formatTime(e.identity.trainedAt),
      truncate(metricsText(e.metrics), 40),
      truncate(approvalText(e), 40),
      truncate(verificationText(e), 50),
      e.run ? `${e.run.workflowId} (${e.run.activityName})` : '-',
    ]);
  lines.push(
    ...renderTable(
      [
        'LIVE',
        'LIVE FROM (UTC)',
        'UNTIL (UTC)',
        'HOW',
        'BES JOB',
        'MODEL',
        'TRAINED AT (UTC)',
        'METRICS',
        'APPROVAL',
        'VERIFICATION',
        'RUN (ACTIVITY)',
      ],
      rows,
    ),
  );
  return lines;
}
