/**
 * Secrets: the demo scenario (the seed's chain as an ADF pipeline, run with the `retrain` CLI as a user would), a
 * failing run, and the CLI's views of them. Every workflow history is fetched, and the CLI's and the worker's
 * output and the durability logs written so far are collected: no API key, service principal key, storage account
 * key or SAS signature may appear. (Each durability test also scans its own runs' histories and worker output.)
 */
import { existsSync } from 'node:fs';
import { readdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { TemporalTestContext } from '../helpers/temporal';
import { connectTemporal } from '../helpers/temporal';
import { workerEnv } from './campaigns';
import type { DurabilityEnv } from './harness';
import { OUTPUT_DIR, productBundle, runInput, scanForSecrets, startDurabilityEnv, writeSummary } from './harness';
import { cli } from '../helpers/cli';
import { examplePipeline, writePipeline } from '../helpers/inputs';
import { WorkerProcess } from '../helpers/processes';

describe('secrets', () => {
  let t: TemporalTestContext;
  let env: DurabilityEnv;
  let worker: WorkerProcess;
  let taskQueue: string;

  beforeAll(async () => {
    t = await connectTemporal();
    env = await startDurabilityEnv({ lanes: 1, emulator: { seed: 6007 } });
    // The demo's pipeline (scripts/demo.ts): train, then update the ARM service and the classic endpoint.
    const demo = examplePipeline('RetrainAndUpdateDemo', {
      container: env.container,
      trainedModelName: env.emu.ids.trainedModelName,
    });
    await writePipeline(env.configDir, 'RetrainAndUpdateDemo', demo, 2);
    taskQueue = `secrets-${Date.now().toString(36)}`;
    worker = new WorkerProcess({
      configDir: env.configDir,
      taskQueue,
      env: workerEnv(env),
      bundlePath: await productBundle(),
      logFile: join(OUTPUT_DIR, 'durability', 'logs', 'secrets-worker.log'),
    });
    await worker.start();
  });

  afterAll(async () => {
    await worker?.stop();
    await env?.close();
    await t?.close();
  });

  test('when the demo scenario and a failing run go through the CLI, then no key, secret or SAS signature shows in any history, output or log', async () => {
    const cliEnv = { ...workerEnv(env), TEMPORAL_TASK_QUEUE: taskQueue };
    const outputs: { name: string; text: string; code: number }[] = [];
    const retrain = async (name: string, args: string[]) => {
      const r = await cli(args, cliEnv, { fromSource: true });
      outputs.push({ name: `retrain ${name}`, text: r.all, code: r.code });
      return r;
    };
    const ids = { demo: `${taskQueue}-demo`, failing: `${taskQueue}-failing`, input: `${taskQueue}-input` };
    const common = ['--config', env.configDir, '--task-queue', taskQueue, '--poll-seconds', '0.2'];

    const demo = await retrain('run --pipeline', [
      'run',
      '--pipeline',
      'RetrainAndUpdateDemo',
      '--id',
      ids.demo,
      ...common,
    ]);
    expect(demo.code).toBe(0);
    env.emu.setJobFaults({ failNext: { count: 1, details: 'Module: Reader; Error 0001: Column names not found' } });
    const failing = await retrain('run --pipeline (BES fails)', [
      'run',
      '--pipeline',
      'RetrainAndUpdateDemo',
      '--id',
      ids.failing,
      '--verbose',
      ...common,
    ]);
    expect(failing.code).toBe(1);
    // The retrainAndUpdate workflow, from an input file, with the BES output as the classic endpoint's source.
    const inputFile = join(env.configDir, 'run-input.json');
    await writeFile(inputFile, JSON.stringify(runInput(env, env.lanes[0], ids.input)));
    expect((await retrain('run --input', ['run', '--input', inputFile, '--id', ids.input, ...common])).code).toBe(0);
    for (const id of Object.values(ids)) {
      expect((await retrain(`status ${id}`, ['status', id])).code).toBe(0);
      expect((await retrain(`status ${id} --json`, ['status', id, '--json'])).code).toBe(0);
    }
    await retrain('list --json', ['list', '--json']);
    await retrain('validate', ['validate', '--config', env.configDir]);

    const logsDir = join(OUTPUT_DIR, 'durability', 'logs');
    const logs = existsSync(logsDir)
      ? await Promise.all(
          (await readdir(logsDir)).map(async (f) => ({
            name: `log ${f}`,
            text: await readFile(join(logsDir, f), 'utf8'),
          })),
        )
      : [];
    const handles = Object.values(ids).map((id) => t.client.workflow.getHandle(id));
    const scan = await scanForSecrets(env.secrets, handles, [
      ...outputs,
      { name: 'secrets worker output', text: worker.output },
      ...logs,
    ]);
    writeSummary('secrets', {
      secretsKnown: env.secrets.length,
      historiesScanned: scan.historiesScanned,
      eventsScanned: scan.eventsScanned,
      cliOutputs: outputs.length,
      logFiles: logs.length,
      bytesScanned: scan.bytesScanned,
      leaks: scan.leaks.length,
    });
    // The scan can fail: a planted key and a SAS signature are found.
    const control = await scanForSecrets(
      env.secrets,
      [],
      [{ name: 'control', text: `x ${env.emu.keys.clientSecret} y https://a/b?sv=1&sig=AbCdEf0123456789 z` }],
    );
    expect(control.leaks).toHaveLength(2);
    // The scan saw what it should: the runs' histories name the linked services, the CLI printed the result.
    expect(scan.historiesScanned).toBe(3);
    expect(demo.all).toContain('succeeded');
    expect(failing.all).toContain('Column names not found');
    expect(scan.leaks).toEqual([]);
  }, 180_000);
});
