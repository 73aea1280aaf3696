/**
 * The CLI tells the truth under faults (issue 11, points 2 and 3), judged from Temporal itself (describe, history)
 * and the CLI's own output and exit code:
 * - no worker on the task queue: `run` and `status` say so; Ctrl-C detaches and the run goes on; a second `run` of the
 *   same id says it attached;
 * - a workflow task failing again and again: `status` and `run` show it with its cause;
 * - values over Temporal's payload limit: the run fails at once with PayloadTooLarge naming activity, field and size;
 * - the Temporal server killed while `run` follows: the CLI says so, re-attaches when it is back and reports the real
 *   outcome; when it stays down, it gives up with exit code 3, never "run failed".
 */
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { MockActivityEnvironment } from '@temporalio/testing';
import { Client, Connection } from '@temporalio/client';
import { NativeConnection } from '@temporalio/worker';
import { loadAdfConfig } from '../../config/linked-services';
import { loadWorkerSettings } from '../../config/env';
import { buildActivityDeps } from '../../worker/deps';
import { payloadGuardInterceptor } from '../../worker/payload-guard';
import { createWorker } from '../../worker/worker';
import { CrashableTemporal } from '../durability/outages';
import { uniqueId, workflowBundle } from '../helpers/temporal';
import { CLI, cli } from '../helpers/cli';
import { writePipeline as writeAdfPipeline } from '../helpers/inputs';
import { spawnLogged, waitUntil } from '../helpers/processes';
import type { Stack } from '../helpers/stack';
import { startStack } from '../helpers/stack';

let env: Stack;
beforeAll(async () => {
  env = await startStack();
});
afterAll(async () => env?.close());

/** `@replace(replace(…'xxxxxxxxxx'…))`: a string of 10^(n+1) characters built by the expression engine. */
const grow = (n: number) => `@${'replace('.repeat(n)}'xxxxxxxxxx'${",'x','xxxxxxxxxx')".repeat(n)}`;

const writePipeline = (name: string, activities: unknown[], variables: Record<string, unknown> = {}) =>
  writeAdfPipeline(env.configDir, name, { name, properties: { activities, variables } }, 2);

const setVar = (name: string, variableName: string, value: string, dependsOn: string[] = []) => ({
  name,
  type: 'SetVariable',
  dependsOn: dependsOn.map((activity) => ({ activity, dependencyConditions: ['Succeeded'] })),
  typeProperties: { variableName, value },
});

describe('a run nobody polls', () => {
  test('when no worker polls the task queue, then run and status say so, Ctrl-C detaches, and a second run says it attached', async () => {
    const queue = uniqueId('nobody');
    const id = uniqueId('retrain-nobody');
    const inputFile = join(env.configDir, `${id}.json`);
    await writeFile(inputFile, JSON.stringify(env.input()));
    const base = ['run', '--input', inputFile, '--task-queue', queue, '--id', id, '--progress-seconds', '2'];
    const first = spawnLogged(process.execPath, [CLI, ...base], process.env);
    const firstExit = new Promise<number | null>((res) => first.child.once('exit', (c) => res(c)));
    try {
      await first.waitFor(new RegExp(`started ${id}`), 30_000);
      const t0 = Date.now();
      await first.waitFor(/warning: no worker is polling task queue '[^']+': the run waits until one starts/, 10_000);
      expect(Date.now() - t0).toBeLessThan(5_000);
      first.child.kill('SIGINT');
      expect(await firstExit).toBe(130);
      expect(first.output()).toContain(`detached: the run goes on; \`retrain cancel ${id}\` stops it`);
    } finally {
      await first.stop('SIGKILL');
    }
    // Temporal's word: the run is still going.
    expect((await env.t.client.workflow.getHandle(id).describe()).status.name).toBe('RUNNING');

    const status = await cli(['status', id]);
    expect(status.code).toBe(0);
    expect(status.out).toMatch(/warning: +no worker is polling task queue/);

    const second = spawnLogged(process.execPath, [CLI, ...base], process.env);
    const secondExit = new Promise<number | null>((res) => second.child.once('exit', (c) => res(c)));
    try {
      await second.waitFor(new RegExp(`attached to running ${id} \\(started [0-9T:.-]+Z\\); following it`), 30_000);
      expect(second.output()).not.toContain(`started ${id}`);
      second.child.kill('SIGINT');
      expect(await secondExit).toBe(130);
    } finally {
      await second.stop('SIGKILL');
      await env.t.client.workflow.getHandle(id).terminate('test over');
    }
  }, 120_000);
});

describe('a workflow task that keeps failing', () => {
  test('when the workflow code throws on every task, then status and run show the failing task with its cause, from history', async () => {
    const queue = uniqueId('broken');
    // A workflow of the product's type whose code is broken: its task fails and is retried forever.
    const stopWorker = await env.startWorker({
      taskQueue: queue,
      workflowsPath: require.resolve('./fixtures/broken-workflow'),
    });
    const id = uniqueId('retrain-broken');
    try {
      await env.t.client.workflow.start('retrainAndUpdate', { taskQueue: queue, workflowId: id, args: [env.input()] });
      await waitUntil('a second workflow task attempt', async () => {
        const d = await env.t.client.workflow.getHandle(id).describe();
        return (d.raw.pendingWorkflowTask?.attempt ?? 0) >= 2;
      });
      const status = await cli(['status', id]);
      expect(status.out).toMatch(
        /warning: +the workflow task is failing repeatedly \(attempt \d+\): WORKFLOW_WORKER_UNHANDLED_FAILURE: broken workflow code: no such model/,
      );
      const inputFile = join(env.configDir, `${id}.json`);
      await writeFile(inputFile, JSON.stringify(env.input()));
      const run = spawnLogged(
        process.execPath,
        [CLI, 'run', '--input', inputFile, '--id', id, '--task-queue', queue, '--progress-seconds', '2'],
        process.env,
      );
      try {
        await run.waitFor(/attached to running/, 30_000);
        await run.waitFor(
          /warning: the workflow task is failing repeatedly \(attempt \d+\): WORKFLOW_WORKER_UNHANDLED_FAILURE: broken workflow code/,
          15_000,
        );
      } finally {
        await run.stop('SIGKILL');
      }
    } finally {
      await env.t.client.workflow.getHandle(id).terminate('test over');
      await stopWorker();
    }
  }, 120_000);
});

describe('payload limits', () => {
  test('when a SetVariable value is over the limit, then the run fails at once with PayloadTooLarge naming activity, field and size', async () => {
    await writePipeline('BigVariable', [setVar('SetBig', 'big', grow(6))], { big: { type: 'String' } });
    const t0 = Date.now();
    const r = await cli([
      'run',
      '--config',
      env.configDir,
      '--pipeline',
      'BigVariable',
      '--task-queue',
      env.taskQueue,
      '--id',
      uniqueId('big'),
    ]);
    expect(r.code).toBe(1);
    expect(r.err).toContain(
      "run failed: PayloadTooLarge: activity 'SetBig' (SetVariable): typeProperties is 10.0 MB (typeProperties.value: 10.0 MB), over the 2.0 MB",
    );
    expect(Date.now() - t0).toBeLessThan(60_000);
  }, 90_000);

  test('when values that fit one by one make the run result too large, then the run fails naming the result, not wedged', async () => {
    await writePipeline('TwoBig', [setVar('SetA', 'a', grow(5)), setVar('SetB', 'b', grow(5), ['SetA'])], {
      a: { type: 'String' },
      b: { type: 'String' },
    });
    const id = uniqueId('twobig');
    const r = await cli([
      'run',
      '--config',
      env.configDir,
      '--pipeline',
      'TwoBig',
      '--task-queue',
      env.taskQueue,
      '--id',
      id,
    ]);
    expect(r.code).toBe(1);
    expect(r.err).toMatch(/run failed: PayloadTooLarge: pipeline 'TwoBig': result is 4\.0 MB \(result\.activityRuns/);
    const history = await env.t.client.workflow.getHandle(id).fetchHistory();
    const taskFailures = history.events!.filter((e) => e.workflowTaskFailedEventAttributes);
    expect(taskFailures).toEqual([]);
  }, 90_000);

  test('when an activity returns more than the limit, then the guard fails it as PayloadTooLarge, not retryable', async () => {
    const mock = new MockActivityEnvironment(undefined, { interceptors: [payloadGuardInterceptor] });
    const big = async (_input: { activityName: string }) => ({ outputs: { rows: 'y'.repeat(3_000_000) } });
    await expect(mock.run(big, { activityName: 'amlBEGetilearner' })).rejects.toMatchObject({
      type: 'PayloadTooLarge',
      nonRetryable: true,
      message: expect.stringContaining(
        "activity 'amlBEGetilearner' (unknown): result is 3.0 MB (result.outputs.rows: 3.0 MB), over the 2.0 MB",
      ),
    });
    const empty = async () => Promise.reject(new Error(''));
    await expect(mock.run(empty)).rejects.toMatchObject({
      message: 'activity unknown failed with Error and no message from the service or client library',
    });
  });
});

describe('the Temporal server goes away while run follows', () => {
  let server: CrashableTemporal;
  let stopWorker: () => Promise<void>;
  const queue = uniqueId('outage');

  beforeAll(async () => {
    server = await new CrashableTemporal().start();
    const connection = await NativeConnection.connect({ address: server.address });
    const settings = loadWorkerSettings({ ...process.env, AZURE_AUTHORITY_HOST: env.emu.urls.authorityHost });
    const worker = await createWorker({
      connection,
      taskQueue: queue,
      deps: buildActivityDeps(await loadAdfConfig(env.configDir), settings),
      workflowBundle: await workflowBundle(),
    });
    const running = worker.run();
    stopWorker = async () => {
      if (worker.getState() === 'RUNNING') worker.shutdown();
      await running;
      await connection.close();
    };
    await writePipeline('WaitALittle', [{ name: 'Pause', type: 'Wait', typeProperties: { waitTimeInSeconds: 8 } }]);
  }, 90_000);

  afterAll(async () => {
    await stopWorker?.();
    await server?.stop();
  });

  const run = (extra: string[] = []) =>
    spawnLogged(
      process.execPath,
      [CLI, 'run', '--config', env.configDir, '--pipeline', 'WaitALittle', '--task-queue', queue, ...extra],
      { ...process.env, TEMPORAL_ADDRESS: server.address },
    );

  test('when the server is killed and comes back, then run says so, re-attaches and reports success', async () => {
    const r = run(['--progress-seconds', '1']);
    const exited = new Promise<number | null>((res) => r.child.once('exit', (c) => res(c)));
    try {
      const [, id] = await r.waitFor(/started (\S+)/, 30_000);
      await server.down();
      await r.waitFor(/Temporal at \S+ is unreachable \(.+\); the run is not affected\. Retrying/, 30_000);
      await new Promise((res) => setTimeout(res, 2000));
      await server.up();
      await r.waitFor(new RegExp(`reconnected to Temporal after \\S+; re-attached to ${id}`), 60_000);
      await r.waitFor(/run succeeded/, 60_000);
      expect(await exited).toBe(0);
    } finally {
      await r.stop('SIGKILL');
    }
    expect(r.output()).not.toContain('run failed');
  }, 150_000);

  test('when the server stays down past --reconnect-timeout, then run gives up with exit code 3 and says the run may go on', async () => {
    const r = run(['--reconnect-timeout', '3']);
    const exited = new Promise<number | null>((res) => r.child.once('exit', (c) => res(c)));
    let id = '';
    try {
      [, id] = await r.waitFor(/started (\S+)/, 30_000);
      await server.down();
      expect(await exited).toBe(3);
      expect(r.output()).toMatch(
        new RegExp(`error: gave up after \\S+: Temporal at \\S+ is unreachable, so run ${id} was not followed`),
      );
      expect(r.output()).not.toContain('run failed');
    } finally {
      await r.stop('SIGKILL');
      await server.up();
    }
    // And the run it left did not fail: it completes once the server is back.
    const client = new Client({ connection: await Connection.connect({ address: server.address }) });
    try {
      await client.workflow.getHandle(id).result();
      expect((await client.workflow.getHandle(id).describe()).status.name).toBe('COMPLETED');
    } finally {
      await client.connection.close();
    }
  }, 150_000);
});

describe('failure types', () => {
  test('when an expression makes a model path name another host, then the update fails at once with ConfigError and the reason, touching nothing', async () => {
    await writePipeline('ForeignHost', [
      {
        name: 'UpdateFromElsewhere',
        type: 'AzureMLUpdateResource',
        linkedServiceName: { referenceName: 'updatableScoringEndpoint2', type: 'LinkedServiceReference' },
        typeProperties: {
          trainedModelName: env.emu.ids.trainedModelName,
          trainedModelLinkedServiceName: { referenceName: 'StorageLinkedService', type: 'LinkedServiceReference' },
          trainedModelFilePath: "@concat('//evil.example/', 'models/m.ilearner')",
        },
      },
    ]);
    const before = env.emu.inspect().requests.length;
    const id = uniqueId('foreign');
    const r = await cli([
      'run',
      '--config',
      env.configDir,
      '--pipeline',
      'ForeignHost',
      '--task-queue',
      env.taskQueue,
      '--id',
      id,
    ]);
    expect(r.code).toBe(1);
    expect(r.err).toContain(
      "run failed: ConfigError: file path '//evil.example/models/m.ilearner' (storage linked service 'StorageLinkedService') starts with // (a host)",
    );
    // One attempt, no retries: history has a single ActivityTaskStarted, and the emulator saw no update request.
    const history = await env.t.client.workflow.getHandle(id).fetchHistory();
    const started = history.events!.filter((e) => e.activityTaskStartedEventAttributes);
    expect(started.map((e) => e.activityTaskStartedEventAttributes!.attempt)).toEqual(started.map(() => 1));
    const newRequests = env.emu.inspect().requests.slice(before);
    expect(newRequests.filter((q) => q.route?.startsWith('arm.') || q.route?.startsWith('classic.'))).toEqual([]);
  }, 90_000);
});
