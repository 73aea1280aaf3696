import type { Command } from 'commander';
import type { PipelineRunView } from '../activity-runs';
import { loadPipelineRun } from '../activity-runs';
import { renderDeployment } from '../deployment-view';
import type { CliIO } from './common';
import { addExamples, formatDuration, formatTime, renderTable, truncate, withClient } from './common';

/** Wide enough to show a job id or a model URL's tail; `--json` has everything. */
const OUTPUT_WIDTH = 60;
const ERROR_WIDTH = 80;

function compact(value: unknown): string {
  if (value === undefined || value === null) return '-';
  return typeof value === 'string' ? value : JSON.stringify(value);
}

export function renderPipelineRun(run: PipelineRunView): string[] {
  const lines = [
    `Pipeline run ${run.workflowId}`,
    `  pipeline:  ${run.pipeline} (${run.workflowType})`,
    `  status:    ${run.runStatus}${run.phase ? ` · phase ${run.phase}` : ''} (Temporal: ${run.temporalStatus})`,
    `  start:     ${formatTime(run.runStart)}`,
    `  end:       ${formatTime(run.runEnd)}`,
    `  duration:  ${formatDuration(run.durationMs)}`,
  ];
  if (run.trainingJobId) lines.push(`  BES job:   ${run.trainingJobId}`);
  if (run.message) lines.push(`  message:   ${run.message}`);
  for (const w of run.warnings ?? []) lines.push(`  warning:   ${w}`);
  lines.push('', 'Activity runs:');
  if (run.activityRuns.length === 0) {
    lines.push('  (none yet)', ...renderDeployment(run, run.workflowId));
    return lines;
  }
  const rows = run.activityRuns.map((a) => [
    a.activityName,
    a.activityType,
    a.status,
    formatTime(a.start),
    formatDuration(a.durationMs),
    truncate(compact(a.output), OUTPUT_WIDTH),
    a.error ? truncate(`${a.error.errorCode}: ${a.error.message}`, ERROR_WIDTH) : '-',
  ]);
  lines.push(...renderTable(['ACTIVITY', 'TYPE', 'STATUS', 'START (UTC)', 'DURATION', 'OUTPUT', 'ERROR'], rows));
  lines.push(...renderDeployment(run, run.workflowId));
  return lines;
}

export function registerStatusCommand(program: Command, io: CliIO): void {
  addExamples(
    program
      .command('status <workflowId>')
      .description(
        "show a run as ADF's monitoring view (pipeline run, activity runs), then its quality gate, approval and each update's outcome",
      )
      .option('--json', 'print the pipeline run and activity runs as JSON (secrets masked)'),
    [
      'retrain status retrain-RetrainAndUpdate-20240101T023000Z',
      'retrain status retrain-RetrainAndUpdate-20240101T023000Z --json | jq .activityRuns',
    ],
  ).action(async (workflowId: string, opts: { json?: boolean }) => {
    const run = await withClient((client) => loadPipelineRun(client, workflowId));
    if (opts.json) io.out(JSON.stringify(run, null, 2));
    else for (const line of renderPipelineRun(run)) io.out(line);
  });
}
