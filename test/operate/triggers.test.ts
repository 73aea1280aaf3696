/**
 * `retrain triggers sync`: ADF `trigger/*.json` → Temporal Schedules on the real dev server, idempotent, keeping
 * manual pauses, pruning removed triggers, and a synced schedule's run executing the ADF pipeline end to end.
 */
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ScheduleNotFoundError } from '@temporalio/client';
import { MANAGED_BY } from '../../client/schedules';
import { uniqueId } from '../helpers/temporal';
import { cli } from '../helpers/cli';
import { examplePipeline, writePipeline } from '../helpers/inputs';
import { waitUntil } from '../helpers/processes';
import type { Stack } from '../helpers/stack';
import { startStack } from '../helpers/stack';

describe('retrain triggers sync', () => {
  let env: Stack;
  let factory: string;
  let sync: (...extra: string[]) => ReturnType<typeof cli>;
  const suffix = uniqueId('t').replace(/-/g, '');
  const nightly = `Nightly${suffix}`;
  const weekly = `Weekly${suffix}`;
  const pipeA = `RetrainA${suffix}`;
  const pipeB = `RetrainB${suffix}`;
  const handle = (id: string) => env.t.client.schedule.getHandle(id);

  function scheduleTrigger(name: string, o: { hours: number[]; state: 'Started' | 'Stopped'; pipelines: string[] }) {
    return {
      name,
      properties: {
        type: 'ScheduleTrigger',
        runtimeState: o.state,
        typeProperties: {
          recurrence: {
            frequency: 'Week',
            interval: 1,
            startTime: '2024-01-01T00:00:00',
            timeZone: 'W. Europe Standard Time',
            schedule: { hours: o.hours, minutes: [30], weekDays: ['Monday', 'Thursday'] },
          },
        },
        pipelines: o.pipelines.map((p) => ({
          pipelineReference: { referenceName: p, type: 'PipelineReference' },
          parameters: { runDate: '@trigger().scheduledTime' },
        })),
      },
    };
  }

  const writeTrigger = (file: string, json: unknown) =>
    writeFile(join(factory, 'trigger', file), JSON.stringify(json, null, 2));

  beforeAll(async () => {
    env = await startStack();
    // The worker reads pipelines from its config folder; the triggers live in the same ADF folder.
    factory = env.configDir;
    await mkdir(join(factory, 'trigger'), { recursive: true });
    await mkdir(join(factory, 'pipeline'), { recursive: true });
    for (const name of [pipeA, pipeB]) {
      const def = examplePipeline('RetrainAndUpdate', {
        container: env.container,
        trainedModelName: env.emu.ids.trainedModelName,
        name,
      });
      def.properties.parameters = { runDate: { type: 'String' } };
      await writePipeline(factory, name, def);
    }
    await writeTrigger(
      `${nightly}.json`,
      scheduleTrigger(nightly, { hours: [2], state: 'Started', pipelines: [pipeA] }),
    );
    await writeTrigger(
      `${weekly}.json`,
      scheduleTrigger(weekly, { hours: [4], state: 'Stopped', pipelines: [pipeA, pipeB] }),
    );
    await writeTrigger(`Tumbling${suffix}.json`, {
      name: `Tumbling${suffix}`,
      properties: { type: 'TumblingWindowTrigger', typeProperties: { frequency: 'Hour', interval: 1 } },
    });
    sync = (...extra) => cli(['triggers', 'sync', '--config', factory, '--task-queue', env.taskQueue, ...extra]);
  });

  afterAll(async () => {
    for (const id of [`adf-trigger-${nightly}`, `adf-trigger-${weekly}-${pipeA}`, `adf-trigger-${weekly}-${pipeB}`]) {
      await handle(id)
        .delete()
        .catch(() => undefined);
    }
    await env?.close();
  });

  test('when --dry-run is given, then it prints what it would create and creates nothing', async () => {
    const r = await sync('--dry-run');
    expect(r.code).toBe(0);
    expect(r.out).toContain(`would be created adf-trigger-${nightly} (trigger ${nightly} → pipeline ${pipeA})`);
    await expect(handle(`adf-trigger-${nightly}`).describe()).rejects.toBeInstanceOf(ScheduleNotFoundError);
  });

  test('when triggers are synced, then each trigger × pipeline is a schedule: spec, state, policies, action', async () => {
    const r = await sync();
    expect(r.code).toBe(0);
    const lines = r.out.trim().split('\n');
    expect(lines).toEqual(
      expect.arrayContaining([
        `created   adf-trigger-${nightly} (trigger ${nightly} → pipeline ${pipeA})`,
        `created   adf-trigger-${weekly}-${pipeA} (trigger ${weekly} → pipeline ${pipeA}): paused: the trigger is Stopped`,
        `created   adf-trigger-${weekly}-${pipeB} (trigger ${weekly} → pipeline ${pipeB}): paused: the trigger is Stopped`,
      ]),
    );
    expect(r.out).toMatch(new RegExp(`skipped +.*Tumbling${suffix}\\.json: TumblingWindowTrigger is not synced`));

    const d = await handle(`adf-trigger-${nightly}`).describe();
    expect(d.state.paused).toBe(false);
    expect(d.policies).toEqual({ overlap: 'SKIP', catchupWindow: 60_000, pauseOnFailure: false });
    expect(d.spec.timezone).toBe('Europe/Berlin');
    expect(d.memo).toMatchObject({ managedBy: MANAGED_BY, trigger: nightly });
    expect(d.action).toMatchObject({ workflowType: 'runPipeline', taskQueue: env.taskQueue });
    expect(d.action.args?.[0]).toMatchObject({
      pipeline: pipeA,
      parameters: { runDate: '@trigger().scheduledTime' },
      trigger: { type: 'ScheduleTrigger', name: nightly },
    });
    expect(d.action.staticSummary).toBe(`Pipeline ${pipeA} · trigger ${nightly}`);
    // Monday and Thursday 02:30 in Berlin: the next fire is one of those, at 01:30 or 00:30 UTC.
    const next = d.info.nextActionTimes[0];
    expect([1, 4]).toContain(next.getUTCDay());
    expect(next.getUTCMinutes()).toBe(30);
    expect((await handle(`adf-trigger-${weekly}-${pipeB}`).describe()).state.paused).toBe(true);
  });

  test('when nothing changed, then a second sync changes nothing', async () => {
    const before = await handle(`adf-trigger-${nightly}`).describe();
    const r = await sync();
    expect(r.code).toBe(0);
    expect(
      r.out
        .trim()
        .split('\n')
        .filter((l) => l.startsWith('unchanged')),
    ).toHaveLength(3);
    expect(r.out).not.toMatch(/^(created|updated|deleted)/m);
    expect((await handle(`adf-trigger-${nightly}`).describe()).info.lastUpdatedAt).toEqual(before.info.lastUpdatedAt);
  });

  test('when a trigger changes, then its schedule is updated in place and a manual pause survives', async () => {
    expect((await cli(['schedule', 'pause', `adf-trigger-${nightly}`, '--note', 'operator hold'])).code).toBe(0);
    await writeTrigger(
      `${nightly}.json`,
      scheduleTrigger(nightly, { hours: [5], state: 'Started', pipelines: [pipeA] }),
    );
    await writeTrigger(
      `${weekly}.json`,
      scheduleTrigger(weekly, { hours: [4], state: 'Started', pipelines: [pipeA, pipeB] }),
    );
    const r = await sync();
    expect(r.code).toBe(0);
    expect(r.out).toContain(
      `updated   adf-trigger-${nightly} (trigger ${nightly} → pipeline ${pipeA}): definition changed`,
    );
    expect(r.out).toContain(
      `updated   adf-trigger-${weekly}-${pipeB} (trigger ${weekly} → pipeline ${pipeB}): unpaused: the trigger is Started`,
    );
    const d = await handle(`adf-trigger-${nightly}`).describe();
    expect(d.state).toMatchObject({ paused: true, note: 'operator hold' });
    expect(d.info.nextActionTimes[0].getUTCHours()).toBeGreaterThanOrEqual(3);
    expect((await handle(`adf-trigger-${weekly}-${pipeB}`).describe()).state.paused).toBe(false);
  });

  test('when a synced schedule is triggered, then runPipeline runs the ADF pipeline with the trigger parameters', async () => {
    const h = handle(`adf-trigger-${nightly}`);
    const r = await cli(['schedule', 'trigger', h.scheduleId]);
    expect(r.code).toBe(0);
    const [run] = await waitUntil('the run', async () => {
      const actions = (await h.describe()).info.recentActions;
      return actions.length > 0 && actions;
    });
    const wf = env.t.client.workflow.getHandle(run.action.workflow.workflowId);
    await expect(wf.result()).resolves.toMatchObject({ pipeline: pipeA, runStatus: 'Succeeded' });
    expect((await wf.describe()).memo).toMatchObject({ pipeline: pipeA, trigger: nightly });
  });

  test('when a trigger file is removed, then its schedules are deleted; hand-made schedules stay', async () => {
    const mine = uniqueId('handmade');
    const made = await cli([
      'schedule',
      'create',
      mine,
      '--pipeline',
      pipeA,
      '--every',
      '1d',
      '--paused',
      '--task-queue',
      env.taskQueue,
    ]);
    expect(made.code).toBe(0);
    await rm(join(factory, 'trigger', `${weekly}.json`));
    const r = await waitUntil('the prune', async () => {
      const res = await sync();
      // Schedule listing is eventually consistent: the deletion shows once the list has the schedules.
      return res.out.includes(`deleted   adf-trigger-${weekly}-${pipeB}`) && res;
    });
    expect(r.out).toContain(`deleted   adf-trigger-${weekly}-${pipeA}`);
    await expect(handle(`adf-trigger-${weekly}-${pipeA}`).describe()).rejects.toBeInstanceOf(ScheduleNotFoundError);
    await expect(handle(mine).describe()).resolves.toBeDefined();
    await handle(mine).delete();
  });

  test('when a trigger file is invalid, then sync names it, exits 1 and prunes nothing', async () => {
    await writeTrigger('Broken.json', { name: 'Broken', properties: { type: 'ScheduleTrigger' } });
    await rm(join(factory, 'trigger', `${nightly}.json`));
    const r = await sync();
    expect(r.code).toBe(1);
    expect(r.out).toMatch(/^error +.*Broken\.json/m);
    expect(r.err).toContain('1 trigger(s) could not be synced');
    // Nightly's file is gone, but with an unreadable trigger around, nothing is deleted.
    await expect(handle(`adf-trigger-${nightly}`).describe()).resolves.toBeDefined();

    const missing = await cli(['triggers', 'sync', '--config', await mkdtemp(join(tmpdir(), 'no-triggers-'))]);
    expect(missing.code).toBe(1);
    expect(missing.err.trim()).toMatch(/^error: .*\/trigger does not exist: nothing to sync$/);
  });
});
