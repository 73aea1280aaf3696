import { readFile } from 'node:fs/promises';
import type {
  Client,
  ScheduleDescription,
  ScheduleOverlapPolicy,
  ScheduleSpec,
  ScheduleSummary,
} from '@temporalio/client';
import type { Duration } from '@temporalio/common';
import { ScheduleAlreadyRunning } from '@temporalio/client';
import { msToNumber } from '@temporalio/common/lib/time';
import type { Command } from 'commander';
import { InvalidArgumentError, Option } from 'commander';
import type { RetrainAndUpdateInput } from '../../common/types';
import { noteMissingSearchAttributes } from '../run';
import {
  backfillSchedule,
  DEFAULT_POLICIES,
  describeSpec,
  namespaceHasAttributes,
  OVERLAP_CHOICES,
  pipelineAction,
  retrainAction,
  triggerWithOwnPolicy,
} from '../schedules';
import type { CliIO } from './common';
import {
  addExamples,
  CliError,
  formatTime,
  parseJsonOption,
  renderTable,
  taskQueueDefault,
  withClient,
} from './common';

function duration(name: string) {
  return (value: string): string => {
    try {
      if (msToNumber(value as never) <= 0) throw new Error('not positive');
    } catch {
      throw new InvalidArgumentError(`${name} must be a duration like 30s, 5m, 1h or 1d`);
    }
    return value;
  };
}

function date(name: string) {
  return (value: string): Date => {
    const d = new Date(value);
    if (Number.isNaN(d.getTime()))
      throw new InvalidArgumentError(`${name} must be an ISO-8601 time, e.g. 2024-01-01T00:00:00Z`);
    return d;
  };
}

const collect = (value: string, previous: string[] = []) => [...previous, value];

/** `--every 1d` or `--every 6h/30m` (every 6 hours, 30 minutes past), as `temporal schedule create --interval`. */
function intervalSpec(value: string): { every: Duration; offset?: Duration } {
  const [every, offset] = value.split('/');
  duration('--every')(every);
  if (offset !== undefined) duration('--every offset')(offset);
  return offset ? { every: every as Duration, offset: offset as Duration } : { every: every as Duration };
}

interface CreateOpts {
  pipeline?: string;
  parameters?: string;
  input?: string;
  cron?: string[];
  every?: string[];
  calendar?: string[];
  timezone?: string;
  startAt?: Date;
  endAt?: Date;
  overlap: string;
  catchupWindow: string;
  pauseOnFailure?: boolean;
  paused?: boolean;
  note?: string;
  taskQueue: string;
}

function specFrom(opts: CreateOpts): ScheduleSpec {
  const spec: ScheduleSpec = {
    cronExpressions: opts.cron,
    intervals: opts.every?.map(intervalSpec),
    calendars: opts.calendar?.map((c) => parseJsonOption(c, '--calendar') as NonNullable<ScheduleSpec['calendars']>[0]),
    timezone: opts.timezone,
    startAt: opts.startAt,
    endAt: opts.endAt,
  };
  if (!spec.cronExpressions?.length && !spec.intervals?.length && !spec.calendars?.length) {
    throw new CliError('give when to run: --cron EXPR, --every DURATION or --calendar JSON');
  }
  return spec;
}

async function createSchedule(client: Client, id: string, opts: CreateOpts, io: CliIO): Promise<void> {
  if (!!opts.pipeline === !!opts.input) {
    throw new CliError('give what to run: --pipeline NAME (runPipeline) or --input FILE.json (retrainAndUpdate)');
  }
  const spec = specFrom(opts);
  const attrs = await namespaceHasAttributes(client);
  if (!attrs) noteMissingSearchAttributes(client.options.namespace, io.err);
  let action;
  if (opts.input) {
    let input: RetrainAndUpdateInput;
    try {
      input = JSON.parse(await readFile(opts.input, 'utf8')) as RetrainAndUpdateInput;
    } catch (e) {
      throw new CliError(`${opts.input}: ${(e as Error).message}`);
    }
    action = retrainAction({ scheduleId: id, taskQueue: opts.taskQueue, input, attrs });
  } else {
    const parameters = opts.parameters ? parseJsonOption(opts.parameters, '--parameters') : {};
    if (!parameters || typeof parameters !== 'object' || Array.isArray(parameters)) {
      throw new CliError('--parameters must be a JSON object, e.g. \'{"runDate":"2024-01-01"}\'');
    }
    action = pipelineAction({
      scheduleId: id,
      taskQueue: opts.taskQueue,
      pipeline: opts.pipeline!,
      parameters: parameters as Record<string, unknown>,
      attrs,
    });
  }
  try {
    await client.schedule.create({
      scheduleId: id,
      spec,
      action,
      policies: {
        overlap: OVERLAP_CHOICES[opts.overlap],
        catchupWindow: opts.catchupWindow as Duration,
        pauseOnFailure: !!opts.pauseOnFailure,
      },
      state: { paused: !!opts.paused, note: opts.note },
    });
  } catch (e) {
    if (e instanceof ScheduleAlreadyRunning) {
      throw new CliError(`schedule '${id}' already exists (retrain schedule describe ${id}; delete it to recreate)`);
    }
    throw e;
  }
  io.out(`created schedule ${id}${opts.paused ? ' (paused)' : ''}`);
}

export function renderScheduleList(schedules: ScheduleSummary[]): string[] {
  const rows = schedules.map((s) => [
    s.scheduleId,
    s.state.paused ? 'paused' : 'active',
    s.spec ? describeSpec(s.spec) : '-',
    s.action?.workflowType ?? '-',
    formatTime(s.info.nextActionTimes[0]),
    formatTime(s.info.recentActions.at(-1)?.takenAt),
  ]);
  return renderTable(['SCHEDULE ID', 'STATE', 'WHEN', 'WORKFLOW', 'NEXT RUN (UTC)', 'LAST RUN (UTC)'], rows);
}

const OVERLAP_NAMES: Record<string, string> = Object.fromEntries(
  Object.entries(OVERLAP_CHOICES).map(([k, v]): [string, string] => [String(v), k]),
);

function overlapName(p: ScheduleOverlapPolicy | undefined): string {
  return p === undefined ? 'skip' : (OVERLAP_NAMES[p] ?? String(p));
}

export function renderSchedule(d: ScheduleDescription): string[] {
  const a = d.action;
  const lines = [
    `Schedule ${d.scheduleId}`,
    `  state:            ${d.state.paused ? 'paused' : 'active'}${d.state.note ? ` (note: ${d.state.note})` : ''}`,
    `  when:             ${describeSpec(d.spec)}`,
    `  starts:           ${a.workflowType} on task queue ${a.taskQueue}, workflow id ${a.workflowId}-<time>`,
    `  overlap:          ${overlapName(d.policies.overlap)}`,
    `  catch-up window:  ${Math.round(d.policies.catchupWindow / 1000)}s`,
    `  pause on failure: ${d.policies.pauseOnFailure ? 'yes' : 'no'}`,
    `  actions taken:    ${d.info.numActionsTaken} (skipped for overlap: ${d.info.numActionsSkippedOverlap}, missed catch-up: ${d.info.numActionsMissedCatchupWindow})`,
    `  running:          ${d.info.runningActions.map((r) => r.workflow.workflowId).join(', ') || '-'}`,
    `  next runs (UTC):  ${d.info.nextActionTimes.slice(0, 3).map(formatTime).join(', ') || '-'}`,
  ];
  if (a.staticSummary) lines.push(`  summary:          ${a.staticSummary}`);
  const recent = d.info.recentActions.slice(-5);
  if (recent.length) {
    lines.push('  recent runs:');
    for (const r of recent) lines.push(`    ${formatTime(r.takenAt)}  ${r.action.workflow.workflowId}`);
  }
  return lines;
}

function describeJson(d: ScheduleDescription): unknown {
  const { raw: _raw, ...rest } = d;
  void _raw;
  return {
    ...rest,
    action: { ...d.action, args: undefined },
    policies: { ...d.policies, overlap: overlapName(d.policies.overlap) },
  };
}

export function registerScheduleCommand(program: Command, io: CliIO): void {
  const schedule = addExamples(
    program
      .command('schedule')
      .description(
        'Temporal Schedules that start runs: create, list, describe, pause, unpause, trigger, backfill, delete',
      ),
    [
      'retrain schedule create nightly --pipeline RetrainAndUpdate --cron "30 2 * * *" --timezone Europe/Berlin',
      'retrain schedule list',
      'retrain schedule trigger nightly',
    ],
  );

  addExamples(
    schedule
      .command('create <scheduleId>')
      .description('create a schedule (overlap skip, 1-minute catch-up window unless told otherwise)')
      .option('-p, --pipeline <name>', 'start runPipeline for this ADF pipeline (the worker reads <config>/pipeline)')
      .option('--parameters <json>', 'pipeline parameters as a JSON object (with --pipeline)')
      .option('-i, --input <file>', 'start retrainAndUpdate with this JSON input instead')
      .option('--cron <expr>', 'cron expression, e.g. "30 2 * * MON,THU" (repeatable)', collect)
      .option('--every <interval>', 'fixed interval, e.g. 1d or 6h/30m (every 6 h at :30) (repeatable)', collect)
      .option(
        '--calendar <json>',
        'calendar spec, e.g. \'{"dayOfWeek":"MONDAY","hour":2,"minute":30}\' (repeatable)',
        collect,
      )
      .option('--timezone <iana>', 'IANA time zone for --cron/--calendar, e.g. Europe/Berlin (default UTC)')
      .option('--start-at <time>', 'no runs before this ISO-8601 time', date('--start-at'))
      .option('--end-at <time>', 'no runs after this ISO-8601 time', date('--end-at'))
      .addOption(
        new Option('--overlap <policy>', 'when a run is still going at the next fire time')
          .choices(Object.keys(OVERLAP_CHOICES))
          .default('skip'),
      )
      .option(
        '--catchup-window <duration>',
        'how late a missed fire may still run after an outage',
        duration('--catchup-window'),
        DEFAULT_POLICIES.catchupWindow,
      )
      .option('--pause-on-failure', 'pause the schedule when a run it started fails')
      .option('--paused', 'create it paused')
      .option('--note <text>', 'a note shown with the schedule (e.g. who created it and why)')
      .option('-q, --task-queue <name>', 'task queue of the workers', taskQueueDefault()),
    [
      'retrain schedule create nightly --pipeline RetrainAndUpdate --parameters \'{"runDate":"latest"}\' --cron "30 2 * * *"',
      'retrain schedule create weekly-retrain --input run.json --calendar \'{"dayOfWeek":"MONDAY","hour":2}\' --timezone Europe/Berlin --pause-on-failure',
      'retrain schedule create hourly --input run.json --every 1h/5m --overlap buffer-one',
    ],
  ).action((id: string, opts: CreateOpts) => withClient((client) => createSchedule(client, id, opts, io)));

  addExamples(
    schedule
      .command('list')
      .description('list schedules: state, when, next and last run')
      .option('--json', 'print JSON'),
    ['retrain schedule list', 'retrain schedule list --json'],
  ).action((opts: { json?: boolean }) =>
    withClient(async (client) => {
      const all: ScheduleSummary[] = [];
      for await (const s of client.schedule.list()) all.push(s);
      all.sort((a, b) => a.scheduleId.localeCompare(b.scheduleId));
      if (opts.json) io.out(JSON.stringify(all, null, 2));
      else if (all.length === 0) io.out('no schedules');
      else for (const line of renderScheduleList(all)) io.out(line);
    }),
  );

  addExamples(
    schedule
      .command('describe <scheduleId>')
      .description('show a schedule: spec, policies, state, next and recent runs')
      .option('--json', 'print JSON'),
    ['retrain schedule describe nightly'],
  ).action((id: string, opts: { json?: boolean }) =>
    withClient(async (client) => {
      const d = await client.schedule.getHandle(id).describe();
      if (opts.json) io.out(JSON.stringify(describeJson(d), null, 2));
      else for (const line of renderSchedule(d)) io.out(line);
    }),
  );

  addExamples(
    schedule.command('pause <scheduleId>').description('stop a schedule from firing').option('--note <text>', 'why'),
    ['retrain schedule pause nightly --note "training data late, see INC-42"'],
  ).action((id: string, opts: { note?: string }) =>
    withClient(async (client) => {
      await client.schedule.getHandle(id).pause(opts.note ?? 'paused with retrain schedule pause');
      io.out(`paused schedule ${id}`);
    }),
  );

  addExamples(
    schedule
      .command('unpause <scheduleId>')
      .description('let a paused schedule fire again')
      .option('--note <text>', 'why'),
    ['retrain schedule unpause nightly'],
  ).action((id: string, opts: { note?: string }) =>
    withClient(async (client) => {
      await client.schedule.getHandle(id).unpause(opts.note ?? 'unpaused with retrain schedule unpause');
      io.out(`unpaused schedule ${id}`);
    }),
  );

  addExamples(
    schedule
      .command('trigger <scheduleId>')
      .description("start a run now, honouring the schedule's overlap policy (skip: nothing starts if one is running)"),
    ['retrain schedule trigger nightly'],
  ).action((id: string) =>
    withClient(async (client) => {
      const policy = await triggerWithOwnPolicy(client.schedule.getHandle(id));
      io.out(`triggered schedule ${id} (overlap ${overlapName(policy)})`);
    }),
  );

  addExamples(
    schedule
      .command('backfill <scheduleId>')
      .description('run the occurrences between two times now, as if the schedule had fired then')
      .requiredOption('--start <time>', 'ISO-8601 start (inclusive)', date('--start'))
      .requiredOption('--end <time>', 'ISO-8601 end (exclusive)', date('--end'))
      .addOption(
        new Option(
          '--overlap <policy>',
          'overlap policy for the backfilled runs (default buffer-all: one after another)',
        ).choices(Object.keys(OVERLAP_CHOICES)),
      ),
    ['retrain schedule backfill nightly --start 2024-01-01T00:00:00Z --end 2024-01-08T00:00:00Z'],
  ).action((id: string, opts: { start: Date; end: Date; overlap?: string }) =>
    withClient(async (client) => {
      if (opts.end <= opts.start) throw new CliError('--end must be after --start');
      const policy = await backfillSchedule(
        client.schedule.getHandle(id),
        opts.start,
        opts.end,
        opts.overlap ? OVERLAP_CHOICES[opts.overlap] : undefined,
      );
      io.out(
        `backfill of ${id} requested for ${formatTime(opts.start)} – ${formatTime(opts.end)} (overlap ${overlapName(policy)})`,
      );
    }),
  );

  addExamples(schedule.command('delete <scheduleId>').description('delete a schedule (runs it started keep running)'), [
    'retrain schedule delete nightly',
  ]).action((id: string) =>
    withClient(async (client) => {
      await client.schedule.getHandle(id).delete();
      io.out(`deleted schedule ${id}`);
    }),
  );
}
