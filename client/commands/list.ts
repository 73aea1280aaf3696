import type { Client, WorkflowExecutionInfo } from '@temporalio/client';
import { InvalidArgumentError, Option } from 'commander';
import type { Command } from 'commander';
import { PhaseAttr, PipelineAttr, TrainingJobIdAttr } from '../../common/search-attributes';
import type { CliIO } from './common';
import { addExamples, formatDuration, formatTime, renderTable, withClient } from './common';

/** Workflow types this product starts: the retrain chain and (issue 4) the general ADF pipeline runner. */
export const PRODUCT_WORKFLOW_TYPES = ['retrainAndUpdate', 'runPipeline'];

const STATUS_NAMES: Record<string, string> = {
  running: 'Running',
  completed: 'Completed',
  failed: 'Failed',
  cancelled: 'Canceled',
  canceled: 'Canceled',
  terminated: 'Terminated',
  'timed-out': 'TimedOut',
};

/** Visibility strings are double-quoted; a quote or backslash in a name must not end the literal. */
function quote(value: string): string {
  return `"${value.replace(/\\/g, '\\\\').replace(/"/g, '\\"')}"`;
}

export interface ListFilter {
  pipeline?: string;
  status?: string;
  since?: Date;
  query?: string;
}

/** The visibility query `retrain list` sends; `temporal workflow list --query` accepts the same text. */
export function buildListQuery(f: ListFilter): string {
  const clauses = [`WorkflowType IN (${PRODUCT_WORKFLOW_TYPES.map(quote).join(', ')})`];
  if (f.pipeline) clauses.push(`${PipelineAttr.name} = ${quote(f.pipeline)}`);
  if (f.status) clauses.push(`ExecutionStatus = ${quote(STATUS_NAMES[f.status])}`);
  if (f.since) clauses.push(`StartTime >= ${quote(f.since.toISOString())}`);
  if (f.query) clauses.push(`(${f.query})`);
  return clauses.join(' AND ');
}

export interface RunSummary {
  workflowId: string;
  runId: string;
  workflowType: string;
  pipeline: string | null;
  status: string;
  phase: string | null;
  trainingJobId: string | null;
  start: string;
  end: string | null;
  durationMs: number;
  taskQueue: string;
}

function summarize(w: WorkflowExecutionInfo): RunSummary {
  const memoPipeline = typeof w.memo?.pipeline === 'string' ? w.memo.pipeline : null;
  const end = w.closeTime?.getTime();
  return {
    workflowId: w.workflowId,
    runId: w.runId,
    workflowType: w.type,
    pipeline: w.typedSearchAttributes.get(PipelineAttr) ?? memoPipeline,
    status: w.status.name,
    phase: w.typedSearchAttributes.get(PhaseAttr) ?? null,
    trainingJobId: w.typedSearchAttributes.get(TrainingJobIdAttr) ?? null,
    start: w.startTime.toISOString(),
    end: w.closeTime ? w.closeTime.toISOString() : null,
    durationMs: (end ?? Date.now()) - w.startTime.getTime(),
    taskQueue: w.taskQueue,
  };
}

export async function listRuns(client: Client, filter: ListFilter, limit: number): Promise<RunSummary[]> {
  const runs: RunSummary[] = [];
  for await (const w of client.workflow.list({ query: buildListQuery(filter), pageSize: Math.min(limit, 100) })) {
    runs.push(summarize(w));
    if (runs.length >= limit) break;
  }
  // Visibility returns newest first on every store but not by contract: sort, so the table always reads the same.
  return runs.sort((a, b) => b.start.localeCompare(a.start));
}

function positiveInt(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1) throw new InvalidArgumentError('expected a whole number >= 1');
  return n;
}

/** `30m`, `24h`, `7d` → the time that long ago. */
export function parseSince(value: string, now = Date.now()): Date {
  const m = /^(\d+)\s*(m|h|d)$/.exec(value.trim());
  if (!m) throw new InvalidArgumentError("expected a duration like '30m', '24h' or '7d'");
  const unit = { m: 60_000, h: 3_600_000, d: 86_400_000 }[m[2] as 'm' | 'h' | 'd'];
  return new Date(now - Number(m[1]) * unit);
}

export function registerListCommand(program: Command, io: CliIO): void {
  addExamples(
    program
      .command('list')
      .description('list recent runs, newest first, through visibility queries on the Pipeline/Phase attributes')
      .option('-p, --pipeline <name>', 'only runs of this pipeline (search attribute Pipeline)')
      .addOption(new Option('-s, --status <status>', 'only runs in this state').choices(Object.keys(STATUS_NAMES)))
      .option('--since <duration>', "only runs started within this long ('30m', '24h', '7d')", (v) => parseSince(v))
      .option('--query <visibility query>', 'an extra visibility clause, ANDed (e.g. \'Phase = "Training"\')')
      .option('-n, --limit <n>', 'at most this many runs', positiveInt, 20)
      .option('--json', 'print the runs as JSON'),
    [
      'retrain list',
      'retrain list --pipeline RetrainAndUpdate --status failed --since 7d',
      'retrain list --query \'Phase = "Training"\' --json',
    ],
  ).action(
    async (opts: {
      pipeline?: string;
      status?: string;
      since?: Date;
      query?: string;
      limit: number;
      json?: boolean;
    }) => {
      const runs = await withClient((client) => listRuns(client, opts, opts.limit));
      if (opts.json) {
        io.out(JSON.stringify(runs, null, 2));
        return;
      }
      if (runs.length === 0) {
        io.out('no runs match');
        return;
      }
      const rows = runs.map((r) => [
        r.workflowId,
        r.pipeline ?? '-',
        r.status,
        r.phase ?? '-',
        formatTime(r.start),
        formatDuration(r.durationMs),
        r.trainingJobId ?? '-',
      ]);
      for (const line of renderTable(
        ['WORKFLOW ID', 'PIPELINE', 'STATUS', 'PHASE', 'START (UTC)', 'DURATION', 'BES JOB'],
        rows,
      ))
        io.out(line);
    },
  );
}
