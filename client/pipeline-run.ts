import type { Client } from '@temporalio/client';
import { WorkflowIdConflictPolicy } from '@temporalio/common';
import { PipelineAttr, ScoringServiceAttr } from '../common/search-attributes';
import type { PipelineDefinition, RunPipelineInput, RunPipelineResult } from '../common/pipeline-definition';
import type { UpdateResult } from '../common/types';
import { formatDiagnostic } from '../config/diagnostics';
import { validateFolder } from '../config/factory';
import type { CliIO } from './commands/common';
import { CliError, withClient } from './commands/common';
import { updateLine } from './deployment-view';
import { followFromCli } from './follow-cli';
import type { StartedRun } from './run';
import { hasSearchAttributes, noteMissingSearchAttributes, startOrAttach } from './run';
import { runWorkflowId } from './workflow-ids';

/**
 * Starting `runPipeline` from the CLI: the pipeline is parsed and checked locally (fail fast, one line per problem),
 * and the parsed definition goes with the run, so the worker does not parse it again.
 */
export class PipelineCheckError extends Error {
  override name = 'PipelineCheckError';
}

/** Validate `name` in `dir` as the worker will: its own file and the linked services it uses. */
export async function checkPipeline(dir: string, name: string, warn: (l: string) => void): Promise<PipelineDefinition> {
  const v = await validateFolder(dir);
  const def = v.pipelines.get(name.toLowerCase());
  const file = def?.file;
  const relevant = v.diagnostics.filter((d) => (file && d.file === file) || /[/\\]linkedService[/\\]/.test(d.file));
  const errors = relevant.filter((x) => x.severity === 'error');
  if (!def) {
    // Invalid pipelines are not in the map: say why if the name is there, else that it does not exist.
    const named = v.diagnostics.filter((d) => d.severity === 'error' && /[/\\]pipeline[/\\]/.test(d.file));
    const mine = named.filter((d) => d.file.toLowerCase().endsWith(`${name.toLowerCase()}.json`));
    if (mine.length) throw new PipelineCheckError(mine.map(formatDiagnostic).join('\n'));
    throw new PipelineCheckError(`pipeline '${name}' not found in ${dir.replace(/\/$/, '')}/pipeline`);
  }
  if (errors.length) throw new PipelineCheckError(errors.map(formatDiagnostic).join('\n'));
  for (const d of relevant.filter((x) => x.severity === 'warning')) warn(`warning: ${formatDiagnostic(d)}`);
  return def;
}

export interface PipelineRunOptions {
  pipeline: string;
  config: string;
  id?: string;
  taskQueue: string;
  pollSeconds?: string;
  param?: Record<string, unknown>;
  progressSeconds?: number;
  cancelOnInterrupt?: boolean;
  reconnectTimeout?: number;
}

/** `retrain run|start --pipeline NAME`: check locally, start runPipeline, and (run) follow it to the end. */
export async function runPipelineFromCli(opts: PipelineRunOptions, io: CliIO, follow: boolean): Promise<void> {
  let def: PipelineDefinition;
  try {
    def = await checkPipeline(opts.config, opts.pipeline, io.err);
  } catch (e) {
    if (!(e instanceof PipelineCheckError)) throw e;
    const lines = e.message.split('\n');
    if (lines.length === 1) throw new CliError(lines[0]);
    for (const l of lines) io.err(l);
    throw new CliError(`pipeline '${opts.pipeline}' is invalid (${lines.length} errors above)`);
  }
  const input: RunPipelineInput = { pipeline: def.name, parameters: opts.param ?? {} };
  if (opts.pollSeconds !== undefined) {
    const n = Number(opts.pollSeconds);
    if (!Number.isFinite(n) || n <= 0)
      throw new CliError(`--poll-seconds must be a positive number, got '${opts.pollSeconds}'`);
    input.options = { pollIntervalSeconds: n };
  }
  await withClient(async (client) => {
    const handle = await startPipeline(
      client,
      input,
      { taskQueue: opts.taskQueue, workflowId: opts.id, definition: def },
      io.err,
    );
    if (!follow) return io.out(handle.workflowId);
    await followFromCli(client, handle, io, {
      progressSeconds: opts.progressSeconds,
      cancelOnInterrupt: opts.cancelOnInterrupt,
      reconnectTimeoutSeconds: opts.reconnectTimeout,
      print: (result) => printPipelineResult(result as unknown as RunPipelineResult, io.out),
    });
  });
}

/**
 * Start runPipeline. With `opts.definition` (from checkPipeline) the run carries it and uses it as is; without it the
 * worker loads `input.pipeline` from its own `--config` folder.
 */
export async function startPipeline(
  client: Client,
  input: RunPipelineInput,
  opts: { taskQueue: string; workflowId?: string; definition?: PipelineDefinition },
  log: (line: string) => void = () => undefined,
): Promise<StartedRun> {
  const namespace = client.options.namespace;
  const attrs = await hasSearchAttributes(client, namespace);
  if (!attrs && input.options?.searchAttributes !== false) noteMissingSearchAttributes(namespace, log);
  const services = (opts.definition?.activities ?? [])
    .filter((a) => a.type === 'AzureMLUpdateResource')
    .map((a) => (a as { linkedServiceName: string }).linkedServiceName);
  const pipeline = opts.definition?.name ?? input.pipeline;
  return startOrAttach((memo) =>
    client.workflow.start('runPipeline', {
      taskQueue: opts.taskQueue,
      workflowId: opts.workflowId ?? runWorkflowId(pipeline),
      workflowIdConflictPolicy: WorkflowIdConflictPolicy.USE_EXISTING,
      args: [
        {
          ...input,
          ...(opts.definition && { definition: opts.definition }),
          options: { ...input.options, searchAttributes: attrs && input.options?.searchAttributes !== false },
        },
      ],
      memo: { pipeline, scoring: services, ...memo },
      typedSearchAttributes: attrs
        ? [
            { key: PipelineAttr, value: pipeline },
            { key: ScoringServiceAttr, value: services },
          ]
        : undefined,
      staticSummary: `ADF pipeline ${pipeline}${input.recovery ? ` (rerun of ${input.recovery.referenceWorkflowId})` : ''}`,
      staticDetails: `Activities: ${(opts.definition?.activities ?? []).map((a) => `${a.name} (${a.type})`).join(', ')}`,
    }),
  );
}

/** The run's outcome, one line per activity, plus the updates in the familiar `updated:` form. */
export function printPipelineResult(result: RunPipelineResult, out: (l: string) => void): void {
  for (const r of result.activityRuns) {
    const took = r.durationMs !== null ? ` in ${(r.durationMs / 1000).toFixed(1)} s` : '';
    out(
      `activity: ${r.activityName} (${r.activityType}) ${r.status}${r.reused ? ' (reused from the reference run)' : ''}${took}`,
    );
    const o = r.output as { jobId?: string; update?: UpdateResult } | null;
    if (r.activityType === 'AzureMLBatchExecution' && o?.jobId) out(`BES job:  ${o.jobId}`);
    const u = o?.update;
    if (u) out(updateLine(u));
  }
}

/** `--param name=value` (repeatable): values are JSON when they parse as JSON, else strings. */
export function collectParam(value: string, previous: Record<string, unknown> = {}): Record<string, unknown> {
  const eq = value.indexOf('=');
  if (eq <= 0) throw new Error(`--param expects name=value, got '${value}'`);
  const raw = value.slice(eq + 1);
  let v: unknown = raw;
  try {
    v = JSON.parse(raw);
  } catch {
    // A plain string.
  }
  return { ...previous, [value.slice(0, eq)]: v };
}
