import type { Command } from 'commander';
import { InvalidArgumentError, Option } from 'commander';
import { msToNumber } from '@temporalio/common/lib/time';
import { DEFAULT_POLICIES, OVERLAP_CHOICES } from '../schedules';
import type { SyncResult } from '../trigger-sync';
import { syncTriggers } from '../trigger-sync';
import type { CliIO } from './common';
import { addExamples, taskQueueDefault, withClient } from './common';

interface SyncOpts {
  config: string;
  taskQueue: string;
  overlap: string;
  catchupWindow: string;
  pauseOnFailure?: boolean;
  prune: boolean;
  dryRun?: boolean;
}

function duration(value: string): string {
  try {
    if (msToNumber(value as never) > 0) return value;
  } catch {
    // fall through to the message below
  }
  throw new InvalidArgumentError('expected a duration like 30s, 5m or 1h');
}

export function renderSyncResult(r: SyncResult, dryRun: boolean): string {
  const verb = dryRun && !['unchanged', 'skipped', 'error'].includes(r.action) ? `would be ${r.action}` : r.action;
  const what = r.scheduleId
    ? `${r.scheduleId}${r.trigger ? ` (trigger ${r.trigger}${r.pipeline ? ` → pipeline ${r.pipeline}` : ''})` : ''}`
    : (r.file ?? '');
  return `${verb.padEnd(9)} ${what}${r.detail ? `: ${r.detail}` : ''}`;
}

export function registerTriggersCommand(program: Command, io: CliIO): void {
  const triggers = addExamples(
    program.command('triggers').description('ADF triggers (<config>/trigger/*.json) as Temporal Schedules'),
    ['retrain triggers sync --config ./adf'],
  );
  addExamples(
    triggers
      .command('sync')
      .description(
        'create, update or delete Temporal Schedules so they match the ScheduleTriggers in <config>/trigger; ' +
          'safe to run again (unchanged triggers are left alone, manual pauses survive)',
      )
      .option('-c, --config <dir>', 'ADF folder with trigger/*.json', process.env.ML_CONFIG_DIR ?? './adf')
      .option('-q, --task-queue <name>', 'task queue of the workers', taskQueueDefault())
      .addOption(
        new Option('--overlap <policy>', 'when a run is still going at the next fire time')
          .choices(Object.keys(OVERLAP_CHOICES))
          .default('skip'),
      )
      .option(
        '--catchup-window <duration>',
        'how late a missed fire may still run',
        duration,
        DEFAULT_POLICIES.catchupWindow,
      )
      .option('--pause-on-failure', 'pause a schedule when a run it started fails')
      .option('--no-prune', 'keep schedules whose trigger file was removed')
      .option('--dry-run', 'print what would change, change nothing'),
    [
      'retrain triggers sync --config ./adf',
      'retrain triggers sync --config ./adf --dry-run',
      'retrain triggers sync --config ./adf --pause-on-failure --catchup-window 10m',
    ],
  ).action((opts: SyncOpts) =>
    withClient(async (client) => {
      const results = await syncTriggers(client, {
        configDir: opts.config,
        taskQueue: opts.taskQueue,
        overlap: OVERLAP_CHOICES[opts.overlap],
        catchupWindow: opts.catchupWindow,
        pauseOnFailure: !!opts.pauseOnFailure,
        prune: opts.prune,
        dryRun: opts.dryRun,
      });
      if (results.length === 0) io.out(`no triggers in ${opts.config}/trigger`);
      for (const r of results) {
        io.out(renderSyncResult(r, !!opts.dryRun));
        for (const w of r.warnings) io.err(`  warning: ${w}`);
      }
      const errors = results.filter((r) => r.action === 'error').length;
      if (errors) {
        io.err(`${errors} trigger(s) could not be synced`);
        process.exitCode = 1;
      }
    }),
  );
}
