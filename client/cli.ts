#!/usr/bin/env node
import { readFile } from 'node:fs/promises';
import { Command, InvalidArgumentError } from 'commander';
import type { RetrainAndUpdateInput, RetrainAndUpdateResult } from '../common/types';
import { registerApprovalCommands } from './commands/approval';
import { registerCancelCommand } from './commands/cancel';
import type { CliIO } from './commands/common';
import { connectClient, describeError } from './commands/common';
import { registerDevCommand } from './commands/dev';
import { registerEmulatorCommand } from './commands/emulator';
import { registerListCommand } from './commands/list';
import { registerModelsCommand } from './commands/models';
import { registerRollbackCommand } from './commands/rollback';
import { registerScheduleCommand } from './commands/schedule';
import { registerStatusCommand } from './commands/status';
import { registerTriggersCommand } from './commands/triggers';
import { registerRerunCommand } from './commands/rerun';
import { registerValidateCommand } from './commands/validate';
import { collectParam, runPipelineFromCli } from './pipeline-run';
import { updateLine } from './deployment-view';
import { followFromCli } from './follow-cli';
import { startRetrain } from './run';

interface RunOpts {
  input?: string;
  pipeline?: string;
  config: string;
  id?: string;
  taskQueue: string;
  pollSeconds?: string;
  progressSeconds?: number;
  param?: Record<string, unknown>;
  cancelOnInterrupt?: boolean;
  reconnectTimeout?: number;
}

const connect = connectClient;

/** The `--input` file of a retrainAndUpdate run (a `--pipeline` run goes to runPipelineFromCli instead). */
async function readInput(opts: RunOpts): Promise<RetrainAndUpdateInput> {
  if (!opts.input) throw new Error('give --pipeline NAME (from <config>/pipeline) or --input FILE.json');
  let input: RetrainAndUpdateInput;
  try {
    input = JSON.parse(await readFile(opts.input, 'utf8')) as RetrainAndUpdateInput;
  } catch (e) {
    throw new Error(`${opts.input}: ${(e as Error).message}`);
  }
  if (opts.pollSeconds !== undefined) {
    const n = Number(opts.pollSeconds);
    if (!Number.isFinite(n) || n <= 0)
      throw new Error(`--poll-seconds must be a positive number, got '${opts.pollSeconds}'`);
    input.options = { ...input.options, pollIntervalSeconds: n };
  }
  return input;
}

export function printResult(result: RetrainAndUpdateResult, out: (l: string) => void): void {
  out(`BES job:  ${result.jobId}`);
  out(`model:    ${result.model.url} (${result.model.contentLength} bytes, etag ${result.model.etag})`);
  for (const u of result.updates) out(updateLine(u));
}

function commonOptions(cmd: Command): Command {
  return cmd
    .option('-p, --pipeline <name>', 'ADF pipeline to run, from <config>/pipeline/*.json')
    .option('-i, --input <file>', 'retrainAndUpdate input as JSON (instead of --pipeline)')
    .option('-c, --config <dir>', 'ADF folder (linkedService/, pipeline/)', process.env.ML_CONFIG_DIR ?? './adf')
    .option(
      '--id <workflowId>',
      'workflow id (default retrain-<pipeline>-<UTC time>); reusing a running id attaches to it',
    )
    .option('-q, --task-queue <name>', 'task queue', process.env.TEMPORAL_TASK_QUEUE ?? 'ml-retrain')
    .option('--poll-seconds <n>', 'BES status poll interval')
    .option(
      '--param <name=value>',
      'pipeline parameter for --pipeline (repeatable; JSON values allowed)',
      collectParam,
    );
}

function positiveSeconds(value: string): number {
  const n = Number(value);
  if (!Number.isFinite(n) || n <= 0) throw new InvalidArgumentError('expected a positive number of seconds');
  return n;
}

export function buildProgram(
  out: (l: string) => void = console.log,
  err: (l: string) => void = console.error,
): Command {
  const io: CliIO = { out, err };
  const program = new Command('retrain')
    .description('Retrain an ML Studio (classic) model with BES and update scoring web services, on Temporal.')
    .option('-v, --verbose', 'print stack traces on errors')
    // Usage errors stay one line plus a pointer, not the whole help text.
    .showHelpAfterError('(add --help for usage and examples)')
    .addHelpText(
      'after',
      '\nExamples:\n  retrain dev\n  retrain run --config ./adf --pipeline RetrainAndUpdate\n  retrain list --status failed\n' +
        '  retrain status <workflowId>\n  retrain approve <workflowId> --by alice --reason "AUC up"\n' +
        '  retrain models updatableScoringEndpoint2 --config ./adf\n' +
        '  retrain rollback updatableScoringEndpoint2 --config ./adf --reason "worse in production"\n' +
        '  retrain schedule list\n  retrain triggers sync --config ./adf\n\n' +
        'Temporal connection: TEMPORAL_ADDRESS, TEMPORAL_NAMESPACE, TEMPORAL_API_KEY, TEMPORAL_TLS_*, or a profile ' +
        '(TEMPORAL_CONFIG_FILE, TEMPORAL_PROFILE).',
    );

  commonOptions(program.command('run'))
    .option('--progress-seconds <n>', 'repeat the progress line at least this often', positiveSeconds, 30)
    .option('--cancel-on-interrupt', 'Ctrl-C cancels the run (default: Ctrl-C detaches and the run goes on)')
    .option(
      '--reconnect-timeout <seconds>',
      'how long to keep retrying while Temporal is unreachable before giving up (exit code 3)',
      positiveSeconds,
      600,
    )
    .description('start a run and follow it until it ends, printing phase, BES status and elapsed time')
    .addHelpText(
      'after',
      '\nExamples:\n  retrain run --config ./adf --pipeline RetrainPipeline\n  retrain run --input run.json --poll-seconds 5',
    )
    .action(async (opts: RunOpts) => {
      // An ADF pipeline runs as runPipeline (the worker loads it from its --config); --input stays retrainAndUpdate.
      if (opts.pipeline && !opts.input) return runPipelineFromCli({ ...opts, pipeline: opts.pipeline }, io, true);
      const input = await readInput(opts);
      const client = await connect();
      try {
        const handle = await startRetrain(client, input, { taskQueue: opts.taskQueue, workflowId: opts.id }, err);
        await followFromCli(client, handle, io, {
          progressSeconds: opts.progressSeconds,
          cancelOnInterrupt: opts.cancelOnInterrupt,
          reconnectTimeoutSeconds: opts.reconnectTimeout,
          print: (result) => printResult(result, out),
        });
      } finally {
        await client.connection.close();
      }
    });

  commonOptions(program.command('start'))
    .description('start a run and print its workflow id')
    .addHelpText('after', '\nExample:\n  retrain start --pipeline RetrainPipeline')
    .action(async (opts: RunOpts) => {
      if (opts.pipeline && !opts.input) return runPipelineFromCli({ ...opts, pipeline: opts.pipeline }, io, false);
      const input = await readInput(opts);
      const client = await connect();
      try {
        const handle = await startRetrain(client, input, { taskQueue: opts.taskQueue, workflowId: opts.id }, err);
        out(handle.workflowId);
      } finally {
        await client.connection.close();
      }
    });

  program
    .command('worker')
    .description('run a worker for the task queue')
    .option('-c, --config <dir>', 'ADF folder with linkedService/*.json')
    .option('-q, --task-queue <name>', 'task queue')
    .addHelpText('after', '\nExample:\n  TEMPORAL_ADDRESS=127.0.0.1:7233 retrain worker --config ./adf')
    .action(async (opts: { config?: string; taskQueue?: string }) => {
      const { runWorker } = await import('../worker/main');
      await runWorker(opts);
    });

  registerStatusCommand(program, io);
  registerCancelCommand(program, io);
  registerListCommand(program, io);
  registerScheduleCommand(program, io);
  registerTriggersCommand(program, io);
  registerEmulatorCommand(program, io);
  registerDevCommand(program, io);
  registerValidateCommand(program, io);
  registerRerunCommand(program, io);
  registerApprovalCommands(program, io);
  registerModelsCommand(program, io);
  registerRollbackCommand(program, io);

  return program;
}

if (require.main === module) {
  const verbose = process.argv.includes('-v') || process.argv.includes('--verbose');
  buildProgram()
    .parseAsync()
    .catch((e: unknown) => {
      console.error(verbose ? e : `error: ${describeError(e)}`);
      process.exit(1);
    });
}
