/**
 * The operator's `retrain` commands against a real Temporal server and the emulator: status, cancel, list, help,
 * errors, and `run`'s live progress. Each command runs as a child process, as an operator runs it.
 */
import { readdir, readFile, writeFile, mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Command } from 'commander';
import { startRetrain } from '../../client/run';
import { buildProgram } from '../../client/cli';
import { statusQuery } from '../../workflows/queries';
import { uniqueId } from '../helpers/temporal';
import { cli } from '../helpers/cli';
import { waitUntil } from '../helpers/processes';
import type { Stack } from '../helpers/stack';
import { startStack } from '../helpers/stack';

describe('retrain CLI: status, cancel, list, help and errors', () => {
  let env: Stack;
  let tq: Record<string, string>;
  // Runs of this file only: list filters on it, so other test files' runs never show up.
  const pipeline = uniqueId('CliOps');

  beforeAll(async () => {
    env = await startStack();
    tq = { TEMPORAL_TASK_QUEUE: env.taskQueue };
  });
  afterAll(async () => env?.close());

  async function secretsOf(): Promise<string[]> {
    const found: string[] = [];
    const collect = (v: unknown): void => {
      if (typeof v === 'string' && v.length > 12 && v !== 'SecureString') found.push(v);
      else if (v && typeof v === 'object') Object.values(v).forEach(collect);
    };
    for (const f of await readdir(join(env.configDir, 'linkedService'))) {
      const tp = JSON.parse(await readFile(join(env.configDir, 'linkedService', f), 'utf8')).properties.typeProperties;
      for (const k of ['apiKey', 'servicePrincipalKey', 'connectionString']) collect(tp[k]);
    }
    found.push(/AccountKey=([^;]+)/.exec(env.emu.storage.connectionString)![1]);
    return found;
  }

  test('when a run succeeded, then `status` shows the ADF activity-runs table and exits 0', async () => {
    const h = await startRetrain(env.t.client, env.input({ pipeline }), {
      taskQueue: env.taskQueue,
      workflowId: uniqueId('ops-status'),
    });
    await h.result();
    const r = await cli(['status', h.workflowId]);
    expect(r.code).toBe(0);
    const lines = r.out.split('\n');
    expect(r.out).toContain(`Pipeline run ${h.workflowId}`);
    expect(r.out).toMatch(/status: +Succeeded/);
    const header = lines.find((l) => l.startsWith('ACTIVITY'))!;
    expect(header.split(/\s{2,}/)).toEqual([
      'ACTIVITY',
      'TYPE',
      'STATUS',
      'START (UTC)',
      'DURATION',
      'OUTPUT',
      'ERROR',
    ]);
    const row = (name: string) => lines.find((l) => l.startsWith(`${name} `))!;
    expect(row('amlBEGetilearner')).toMatch(/AzureMLBatchExecution +Succeeded +\d{4}-\d\d-\d\d \d\d:\d\d:\d\dZ/);
    expect(row('amlUpdateResource')).toMatch(/AzureMLUpdateResource +Succeeded/);
    expect(row('amlUpdateClassic')).toMatch(/AzureMLUpdateResource +Succeeded/);
  });

  test('when `status --json` is asked for, then the records carry ADF fields and no secret', async () => {
    const h = await startRetrain(env.t.client, env.input({ pipeline }), {
      taskQueue: env.taskQueue,
      workflowId: uniqueId('ops-json'),
    });
    await h.result();
    const r = await cli(['status', h.workflowId, '--json']);
    expect(r.code).toBe(0);
    const run = JSON.parse(r.out);
    expect(run).toMatchObject({ workflowId: h.workflowId, pipeline, runStatus: 'Succeeded' });
    const names = run.activityRuns.map((a: { activityName: string }) => a.activityName);
    expect(names).toEqual(expect.arrayContaining(['amlBEGetilearner', 'amlUpdateResource', 'amlUpdateClassic']));
    for (const a of run.activityRuns) {
      expect(a).toEqual(
        expect.objectContaining({
          activityType: expect.any(String),
          status: 'Succeeded',
          durationMs: expect.any(Number),
        }),
      );
    }
    const leaked = (await secretsOf()).filter((s) => r.out.includes(s));
    expect(leaked.map((s) => `${s.slice(0, 4)}…`)).toEqual([]);
    expect(r.out).not.toMatch(/[?&]sig=/);
  });

  test('when a run failed, then `status` shows the failed activity with its failure type and message', async () => {
    env.emu.setJobFaults({ failNext: { count: 1, details: 'Error 0001: Column names not found' } });
    const h = await startRetrain(env.t.client, env.input({ pipeline }), {
      taskQueue: env.taskQueue,
      workflowId: uniqueId('ops-failed'),
    });
    await h.result().catch(() => undefined);
    const r = await cli(['status', h.workflowId]);
    expect(r.code).toBe(0);
    expect(r.out).toMatch(/status: +Failed/);
    // ADF reports a failed BES job as error code 2600; the history view uses the failure type.
    expect(r.out).toMatch(/\namlBEGetilearner +AzureMLBatchExecution +Failed .*(2600|BesJobFailed): BES job/);
    expect(r.out).toMatch(/message: .*Column names not found/);
    const json = JSON.parse((await cli(['status', h.workflowId, '--json'])).out);
    const failed = json.activityRuns.find((a: { status: string }) => a.status === 'Failed');
    expect(failed.error).toMatchObject({ target: 'amlBEGetilearner', failureType: 'UserError' });
    expect(failed.error.message).toContain('Column names not found');
  });

  test('when no worker is polling, then `status` still answers from the workflow history', async () => {
    const queue = uniqueId('ops-noworker');
    const stop = await env.startWorker({ taskQueue: queue });
    const h = await startRetrain(env.t.client, env.input({ pipeline }), {
      taskQueue: queue,
      workflowId: uniqueId('ops-hist'),
    });
    await h.result();
    await stop();
    const r = await cli(['status', h.workflowId, '--json']);
    expect(r.code).toBe(0);
    const run = JSON.parse(r.out);
    expect(run.source).toBe('history');
    expect(run.runStatus).toBe('Succeeded');
    expect(run.activityRuns.map((a: { activityName: string }) => a.activityName)).toEqual(
      expect.arrayContaining(['amlBEGetilearner', 'amlUpdateResource', 'amlUpdateClassic']),
    );
  });

  test('when `cancel` is given a training run, then the run ends Cancelled and its BES job is deleted', async () => {
    env.emu.setJobFaults({ slowNext: { count: 1, extraMs: 60_000 } });
    const h = await startRetrain(env.t.client, env.input({ pipeline }), {
      taskQueue: env.taskQueue,
      workflowId: uniqueId('ops-cancel'),
    });
    await waitUntil('training', async () => (await h.query(statusQuery)).besStatus === 'Running');
    const r = await cli(['cancel', h.workflowId]);
    expect(r.out).toContain(`cancel requested for ${h.workflowId}`);
    expect(r.out).toContain(`run ${h.workflowId} cancelled`);
    expect(r.code).toBe(0);
    const jobId = (await h.query(statusQuery)).jobId!;
    expect(env.emu.inspect().jobs.find((j) => j.jobId === jobId)?.status).toBe('Cancelled');

    const again = await cli(['cancel', h.workflowId]);
    expect(again.code).toBe(1);
    expect(again.err.trim()).toBe(`error: run '${h.workflowId}' is not running (CANCELLED); nothing to cancel`);
  });

  test('when `list` filters by pipeline and status, then it shows exactly those runs, newest first', async () => {
    await waitUntil('visibility', async () => {
      const r = await cli(['list', '--pipeline', pipeline, '--json']);
      // The five runs started by the tests above.
      return r.code === 0 && JSON.parse(r.out).length >= 5;
    });
    const all = JSON.parse((await cli(['list', '--pipeline', pipeline, '--json'])).out) as {
      workflowId: string;
      status: string;
      pipeline: string;
      start: string;
    }[];
    expect(all.every((r) => r.pipeline === pipeline)).toBe(true);
    expect(all.map((r) => r.start)).toEqual([...all.map((r) => r.start)].sort().reverse());
    const failed = JSON.parse((await cli(['list', '--pipeline', pipeline, '--status', 'failed', '--json'])).out);
    expect(failed.map((r: { workflowId: string }) => r.workflowId)).toEqual(
      all.filter((r) => r.status === 'FAILED').map((r) => r.workflowId),
    );
    expect(failed).toHaveLength(1);

    const table = await cli(['list', '--pipeline', pipeline, '--limit', '2']);
    expect(table.code).toBe(0);
    const lines = table.out.trim().split('\n');
    expect(lines[0].split(/\s{2,}/)).toEqual([
      'WORKFLOW ID',
      'PIPELINE',
      'STATUS',
      'PHASE',
      'START (UTC)',
      'DURATION',
      'BES JOB',
    ]);
    expect(lines).toHaveLength(4);
    expect(lines[2]).toContain(all[0].workflowId);
  });

  test('when `run` follows a long training job, then the progress line repeats with a growing elapsed time', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'ops-run-'));
    const file = join(dir, 'run.json');
    await writeFile(file, JSON.stringify(env.input({ pipeline })));
    env.emu.setJobFaults({ slowNext: { count: 1, extraMs: 3500 } });
    const r = await cli(['run', '--input', file, '--progress-seconds', '1'], tq);
    expect(r.code).toBe(0);
    const training = r.out.split('\n').filter((l) => /^\[\d\d:\d\d\] Training · BES job \w+ Running$/.test(l));
    expect(training.length).toBeGreaterThanOrEqual(2);
    const secs = training.map((l) => Number(l.slice(1, 3)) * 60 + Number(l.slice(4, 6)));
    expect(secs[secs.length - 1]).toBeGreaterThan(secs[0]);
    expect(r.out).toContain('run succeeded');
  });

  test('when a command fails, then it prints one error line and exits 1; --verbose adds the stack trace', async () => {
    const missing = await cli(['status', 'no-such-run']);
    expect(missing.code).toBe(1);
    expect(missing.err.trim()).toBe("error: no run with workflow id 'no-such-run'");
    expect(missing.out).toBe('');

    const verbose = await cli(['status', 'no-such-run', '--verbose']);
    expect(verbose.code).toBe(1);
    expect(verbose.err).toMatch(/\n\s+at /);

    const unreachable = await cli(['list'], { TEMPORAL_ADDRESS: '127.0.0.1:1' });
    expect(unreachable.code).toBe(1);
    expect(unreachable.err.trim().split('\n')).toHaveLength(1);
    expect(unreachable.err).toContain('cannot reach Temporal at 127.0.0.1:1');

    const usage = await cli(['list', '--status', 'sleeping']);
    expect(usage.code).toBe(1);
    expect(usage.err).toContain("error: option '-s, --status <status>' argument 'sleeping' is invalid");
    expect(usage.err.trim().split('\n')).toHaveLength(2);
  });

  test('when any command is asked for --help, then it shows examples', async () => {
    const paths: string[][] = [];
    const walk = (cmd: Command, path: string[]) => {
      for (const sub of cmd.commands) {
        if (sub.name() === 'help') continue;
        paths.push([...path, sub.name()]);
        walk(sub, [...path, sub.name()]);
      }
    };
    walk(buildProgram(), []);
    expect(paths.map((p) => p.join(' '))).toEqual(
      expect.arrayContaining([
        'run',
        'start',
        'worker',
        'status',
        'cancel',
        'list',
        'schedule create',
        'schedule list',
        'schedule describe',
        'schedule pause',
        'schedule unpause',
        'schedule trigger',
        'schedule backfill',
        'schedule delete',
        'triggers sync',
        'emulator',
        'dev',
      ]),
    );
    const missing: string[] = [];
    for (const p of [[], ...paths]) {
      const r = await cli([...p, '--help']);
      if (r.code !== 0 || !/\nExamples?:\n {2}\S/.test(r.out)) missing.push(p.join(' ') || '(top level)');
    }
    expect(missing).toEqual([]);
  });
});
