/**
 * `retrain schedule …` against the real dev server's Schedules, with a worker running the real activities on the
 * emulator: the defaults (skip, 1-minute catch-up), trigger with the schedule's own overlap policy, pause-on-failure,
 * pause/unpause, backfill, delete, and both actions (retrainAndUpdate from --input, runPipeline from --pipeline).
 */
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ScheduleHandle } from '@temporalio/client';
import { ScheduleNotFoundError } from '@temporalio/client';
import { uniqueId } from '../helpers/temporal';
import { cli } from '../helpers/cli';
import { examplePipeline, writePipeline } from '../helpers/inputs';
import { waitUntil } from '../helpers/processes';
import type { Stack } from '../helpers/stack';
import { startStack } from '../helpers/stack';

describe('retrain schedule', () => {
  let env: Stack;
  let inputFile: string;
  let tq: string[];
  const created: string[] = [];

  beforeAll(async () => {
    env = await startStack();
    const dir = await mkdtemp(join(tmpdir(), 'ops-sched-'));
    inputFile = join(dir, 'run.json');
    await writeFile(inputFile, JSON.stringify(env.input({ pipeline: uniqueId('Sched') })));
    tq = ['--task-queue', env.taskQueue];
  });

  afterAll(async () => {
    for (const id of created)
      await env.t.client.schedule
        .getHandle(id)
        .delete()
        .catch(() => undefined);
    await env?.close();
  });

  async function create(args: string[]): Promise<ScheduleHandle> {
    const id = uniqueId('sched');
    const r = await cli(['schedule', 'create', id, ...args, ...tq]);
    expect({ code: r.code, err: r.err }).toEqual({ code: 0, err: '' });
    expect(r.out.trim()).toBe(`created schedule ${id}${args.includes('--paused') ? ' (paused)' : ''}`);
    created.push(id);
    return env.t.client.schedule.getHandle(id);
  }

  const runsOf = async (h: ScheduleHandle) => (await h.describe()).info.recentActions.map((a) => a.action.workflow);

  test('when a schedule is created with defaults, then it skips overlaps, catches up 1 minute and lists readably', async () => {
    const h = await create(['--input', inputFile, '--cron', '0 3 1 1 *', '--timezone', 'Europe/Berlin']);
    const d = await h.describe();
    expect(d.policies).toEqual({ overlap: 'SKIP', catchupWindow: 60_000, pauseOnFailure: false });
    expect(d.action).toMatchObject({
      workflowType: 'retrainAndUpdate',
      taskQueue: env.taskQueue,
      workflowId: h.scheduleId,
    });
    expect(d.action.staticSummary).toBe(
      'Retrain trainingEndpoint → update updatableScoringEndpoint2, classicScoringEndpoint',
    );
    expect(d.spec.timezone).toBe('Europe/Berlin');

    const described = await cli(['schedule', 'describe', h.scheduleId]);
    expect(described.code).toBe(0);
    expect(described.out).toMatch(/overlap: +skip/);
    expect(described.out).toMatch(/catch-up window: +60s/);
    expect(described.out).toMatch(/starts: +retrainAndUpdate on task queue/);
    expect(described.out).toMatch(/when: +calendar month=JANUARY dayOfMonth=1 hour=3 minute=0; tz Europe\/Berlin/);

    const json = JSON.parse((await cli(['schedule', 'describe', h.scheduleId, '--json'])).out);
    expect(json.policies.overlap).toBe('skip');

    const listed = await waitUntil('the schedule in the list', async () => {
      const r = await cli(['schedule', 'list']);
      return r.out.includes(h.scheduleId) && r;
    });
    const line = listed.out.split('\n').find((l) => l.startsWith(h.scheduleId))!;
    expect(line).toMatch(/active +calendar .* +retrainAndUpdate +\d{4}-01-01 02:00:00Z/);
  });

  test('when `trigger` fires while a run is still going, then the schedule skips it (its own policy, not allow-all)', async () => {
    const h = await create(['--input', inputFile, '--cron', '0 3 1 1 *']);
    env.emu.setJobFaults({ slowNext: { count: 1, extraMs: 4000 } });
    const first = await cli(['schedule', 'trigger', h.scheduleId]);
    expect(first.out.trim()).toBe(`triggered schedule ${h.scheduleId} (overlap skip)`);
    const [running] = await waitUntil('the first run', async () => (await h.describe()).info.runningActions);
    const second = await cli(['schedule', 'trigger', h.scheduleId]);
    expect(second.code).toBe(0);
    await waitUntil('the skip', async () => (await h.describe()).info.numActionsSkippedOverlap === 1);
    await env.t.client.workflow.getHandle(running.workflow.workflowId).result();
    expect((await runsOf(h)).map((w) => w.workflowId)).toEqual([running.workflow.workflowId]);

    // Once it is done, a trigger starts a new run.
    expect((await cli(['schedule', 'trigger', h.scheduleId])).code).toBe(0);
    await waitUntil('the second run', async () => (await h.describe()).info.numActionsTaken === 2);
  });

  test('when a run fails on a --pause-on-failure schedule, then the schedule pauses; unpause resumes it', async () => {
    const h = await create(['--input', inputFile, '--every', '1d', '--pause-on-failure']);
    expect((await h.describe()).policies.pauseOnFailure).toBe(true);
    env.emu.setJobFaults({ failNext: { count: 1, details: 'Error 0001: Column names not found' } });
    await cli(['schedule', 'trigger', h.scheduleId]);
    const d = await waitUntil('the pause', async () => {
      const now = await h.describe();
      return now.state.paused && now;
    });
    expect(d.state.note).toMatch(/fail/i);
    const unpaused = await cli(['schedule', 'unpause', h.scheduleId, '--note', 'fixed the data']);
    expect(unpaused.out.trim()).toBe(`unpaused schedule ${h.scheduleId}`);
    expect((await h.describe()).state).toMatchObject({ paused: false, note: 'fixed the data' });
    const paused = await cli(['schedule', 'pause', h.scheduleId, '--note', 'maintenance']);
    expect(paused.code).toBe(0);
    expect((await h.describe()).state).toMatchObject({ paused: true, note: 'maintenance' });
    expect((await cli(['schedule', 'list'])).out).toMatch(new RegExp(`${h.scheduleId} +paused`));
  });

  test('when a past range is backfilled, then each occurrence runs, one after another', async () => {
    const h = await create(['--input', inputFile, '--cron', '0 2 * * *', '--paused']);
    const r = await cli([
      'schedule',
      'backfill',
      h.scheduleId,
      '--start',
      '2024-01-01T00:00:00Z',
      '--end',
      '2024-01-04T00:00:00Z',
    ]);
    expect(r.out.trim()).toBe(
      `backfill of ${h.scheduleId} requested for 2024-01-01 00:00:00Z – 2024-01-04 00:00:00Z (overlap buffer-all)`,
    );
    await waitUntil('three backfilled runs', async () => (await h.describe()).info.numActionsTaken === 3, 60_000);
    await waitUntil('the last one to finish', async () => (await h.describe()).info.runningActions.length === 0);
    const ids = (await runsOf(h)).map((w) => w.workflowId);
    expect(ids).toEqual(['01', '02', '03'].map((d) => `${h.scheduleId}-2024-01-${d}T02:00:00Z`));
    expect((await h.describe()).info.numActionsSkippedOverlap).toBe(0);
    // Buffered, not concurrent: each run started after the one before had closed.
    const spans = await Promise.all(ids.map((id) => env.t.client.workflow.getHandle(id).describe()));
    for (let i = 1; i < spans.length; i++) {
      expect(spans[i].startTime.getTime()).toBeGreaterThanOrEqual(spans[i - 1].closeTime!.getTime());
    }
  });

  test('when a schedule starts an ADF pipeline, then runPipeline runs it with the parameters and the trigger name', async () => {
    const name = uniqueId('SchedPipe').replace(/-/g, '');
    const pipeline = examplePipeline('RetrainAndUpdate', {
      container: env.container,
      trainedModelName: env.emu.ids.trainedModelName,
      name,
    });
    pipeline.properties.parameters = { runDate: { type: 'String' } };
    await writePipeline(env.configDir, name, pipeline);

    const h = await create(['--pipeline', name, '--parameters', '{"runDate":"2024-01-01"}', '--every', '1d']);
    const d = await h.describe();
    expect(d.action.workflowType).toBe('runPipeline');
    expect(d.action.args).toEqual([
      expect.objectContaining({
        pipeline: name,
        parameters: { runDate: '2024-01-01' },
        trigger: { type: 'ScheduleTrigger', name: h.scheduleId, id: h.scheduleId },
      }),
    ]);
    await cli(['schedule', 'trigger', h.scheduleId]);
    const [run] = await waitUntil('the run', async () => (await runsOf(h)).length > 0 && runsOf(h));
    const result = await env.t.client.workflow.getHandle(run.workflowId).result();
    expect(result).toMatchObject({ pipeline: name, runStatus: 'Succeeded' });
  });

  test('when a schedule is deleted, then describe says it is gone in one line and exits 1', async () => {
    const h = await create(['--input', inputFile, '--every', '1d', '--paused']);
    expect((await cli(['schedule', 'delete', h.scheduleId])).out.trim()).toBe(`deleted schedule ${h.scheduleId}`);
    await expect(h.describe()).rejects.toBeInstanceOf(ScheduleNotFoundError);
    const r = await cli(['schedule', 'describe', h.scheduleId]);
    expect(r.code).toBe(1);
    expect(r.err.trim()).toBe(`error: no schedule with id '${h.scheduleId}'`);
  });

  test('when create is missing what or when to run, then it says which in one line', async () => {
    const noWhen = await cli(['schedule', 'create', uniqueId('bad'), '--input', inputFile]);
    expect(noWhen.code).toBe(1);
    expect(noWhen.err.trim()).toBe('error: give when to run: --cron EXPR, --every DURATION or --calendar JSON');
    const noWhat = await cli(['schedule', 'create', uniqueId('bad'), '--every', '1d']);
    expect(noWhat.err.trim()).toBe(
      'error: give what to run: --pipeline NAME (runPipeline) or --input FILE.json (retrainAndUpdate)',
    );
    const badEvery = await cli(['schedule', 'create', uniqueId('bad'), '--input', inputFile, '--every', 'often']);
    expect(badEvery.code).toBe(1);
    expect(badEvery.err).toContain('--every must be a duration like 30s, 5m, 1h or 1d');
  });
});
