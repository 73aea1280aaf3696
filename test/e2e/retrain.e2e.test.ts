/**
 * The product end to end: real Temporal server, real worker with the real activities, the emulator (BES, classic
 * management, ARM, Entra) over Azurite. Every assertion about the outside world comes from the emulator's
 * inspection and request log, not from the code under test.
 */
import { mkdtemp, readFile, writeFile, readdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { WorkflowFailedError } from '@temporalio/client';
import type { WorkflowHandle } from '@temporalio/client';
import type { HttpClient, PipelineRequest } from '@azure/core-rest-pipeline';
import type { EmulatorHandle } from '../../emulator';
import { startRetrain } from '../../client/run';
import { FailureType } from '../../common/failures';
import type { RetrainAndUpdateInput, RetrainAndUpdateResult } from '../../common/types';
import { statusQuery } from '../../workflows/queries';
import { cli } from '../helpers/cli';
import { pipelineOf, writePipeline as writeAdfPipeline } from '../helpers/inputs';
import type { Stack } from '../helpers/stack';
import { startStack } from '../helpers/stack';
import { waitUntil } from '../helpers/processes';
import { uniqueId } from '../helpers/temporal';

const JOB_MS = 800;

describe('retrainAndUpdate end to end on the emulator', () => {
  let stack: Stack;
  let emu: EmulatorHandle;
  let configDir: string;
  let container: string;
  let mainQueue: string;
  const handles: WorkflowHandle[] = [];
  /** Lets a test make the activities' HTTP client fail once after a given request (a crash in the wrong place). */
  let crashAfter: ((req: PipelineRequest) => boolean) | undefined;

  /** A worker whose HTTP client can be told to fail once after a response arrived (crashAfter). */
  async function startWorker(dir: string, taskQueue: string): Promise<void> {
    await stack.startWorker({
      configDir: dir,
      taskQueue,
      wrapDeps: (deps) => {
        const real = deps.httpClient;
        const wrapped: HttpClient = {
          async sendRequest(req) {
            const res = await real.sendRequest(req);
            if (crashAfter?.(req)) {
              crashAfter = undefined;
              throw new Error('simulated worker crash after the response arrived');
            }
            return res;
          },
        };
        return { ...deps, httpClient: wrapped };
      },
    });
  }

  beforeAll(async () => {
    stack = await startStack({ name: 'e2e', pipeline: 'e2e', jobMs: JOB_MS, armProvisioningMs: 300, worker: false });
    ({ emu, configDir, container, taskQueue: mainQueue } = stack);
    await startWorker(configDir, mainQueue);
  });

  afterAll(async () => stack?.close());

  const input = (over: Partial<RetrainAndUpdateInput> = {}, model?: string) => stack.input(over, model);

  async function run(i: RetrainAndUpdateInput, taskQueue = mainQueue): Promise<WorkflowHandle> {
    const h = await startRetrain(stack.t.client, i, { taskQueue, workflowId: uniqueId('e2e-run') });
    handles.push(h);
    return h;
  }

  const failureOf = async (h: WorkflowHandle) => {
    const err = await h.result().catch((e: unknown) => e);
    expect(err).toBeInstanceOf(WorkflowFailedError);
    let e = (err as WorkflowFailedError).cause as {
      cause?: unknown;
      type?: string;
      message: string;
      nonRetryable?: boolean;
    };
    while (e.cause) e = e.cause as typeof e;
    return e;
  };

  const updatesFor = (jobId: string) => emu.inspect().updates.filter((u) => u.modelJobId === jobId);

  test('when a run succeeds, then one BES job ran and both the ARM service and the classic endpoint serve its model', async () => {
    const h = await run(input());
    const result = (await h.result()) as RetrainAndUpdateResult;
    const state = emu.inspect();
    const job = state.jobs.find((j) => j.jobId === result.jobId)!;
    expect(job).toMatchObject({ status: 'Finished', submitted: 1, started: 1, cancelled: 0 });
    expect(result.updates.map((u) => u.kind).sort()).toEqual(['arm', 'classic']);
    expect(
      updatesFor(result.jobId)
        .map((u) => u.kind)
        .sort(),
    ).toEqual(['arm', 'classic']);
    const live = Object.values(state.liveModels);
    expect(live.filter((m) => m === result.jobId)).toHaveLength(2);
    expect(result.model.contentLength).toBeGreaterThan(0);
    expect((await h.query(statusQuery)).phase).toBe('Succeeded');

    // "The new model is live", checked the way a user would: a scoring call on each service.
    for (const [url, ls] of [
      [emu.urls.classicScore, 'classicScoringEndpoint'],
      [emu.urls.armScore, 'updatableScoringEndpoint2'],
    ]) {
      const json = JSON.parse(await readFile(join(configDir, 'linkedService', `${ls}.json`), 'utf8'));
      const key = json.properties.typeProperties.apiKey.value ?? json.properties.typeProperties.apiKey;
      const res = await fetch(url, {
        method: 'POST',
        headers: { Authorization: `Bearer ${key}`, 'Content-Type': 'application/json' },
        body: JSON.stringify({ Inputs: { input1: { ColumnNames: ['a'], Values: [['1']] } }, GlobalParameters: {} }),
      });
      expect(res.status).toBe(200);
      const body = (await res.json()) as {
        Results: Record<string, { value: { ColumnNames: string[]; Values: string[][] } }>;
      };
      const table = Object.values(body.Results)[0].value;
      expect(table.Values[0][table.ColumnNames.indexOf('Model')]).toBe(result.jobId);
    }
  });

  test('when the BES job fails, then the run fails with its Details and nothing is updated', async () => {
    const before = emu.inspect().updates.length;
    emu.setJobFaults({
      failNext: { count: 1, details: 'Module: Reader; errorComponent=Module. taskStatusCode=400. Error: bad column' },
    });
    const h = await run(input());
    const cause = await failureOf(h);
    expect(cause.type).toBe(FailureType.BesJobFailed);
    expect(cause.message).toContain('Error: bad column');
    expect(emu.inspect().updates.length).toBe(before);
    expect((await h.query(statusQuery)).updates.amlUpdateClassic.state).toBe('Skipped');
  });

  test('when the trained model blob is missing, then the run fails with TrainedModelNotFound and nothing is updated', async () => {
    const before = emu.inspect().updates.length;
    const i = input();
    i.updates = [{ ...i.updates[0], trainedModelFilePath: `${container}/models/does-not-exist.ilearner` }];
    const cause = await failureOf(await run(i));
    expect(cause.type).toBe(FailureType.TrainedModelNotFound);
    expect(cause.message).toContain('does-not-exist.ilearner');
    expect(emu.inspect().updates.length).toBe(before);
  });

  test('when the classic endpoint refuses the API key, then the update fails at once, naming the linked service and field', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'e2e-badkey-'));
    await emu.writeConfig(dir);
    const file = join(dir, 'linkedService', 'classicScoringEndpoint.json');
    const json = JSON.parse(await readFile(file, 'utf8'));
    json.properties.typeProperties.apiKey = { type: 'SecureString', value: 'not-the-key-0000' };
    await writeFile(file, JSON.stringify(json));
    const queue = uniqueId('badkey');
    await startWorker(dir, queue);
    const before = emu.inspect().requests.filter((r) => r.route?.startsWith('classic.')).length;
    const i = input();
    i.updates = [i.updates[1]];
    const cause = await failureOf(await run(i, queue));
    expect(cause.type).toBe(FailureType.Unauthorized);
    expect(cause.nonRetryable).toBe(true);
    expect(cause.message).toContain("linked service 'classicScoringEndpoint'");
    expect(cause.message).toContain("field 'apiKey'");
    // Not retried: one GET, refused, and no PATCH.
    const classic = emu
      .inspect()
      .requests.filter((r) => r.route?.startsWith('classic.'))
      .slice(before);
    expect(classic.map((r) => `${r.route} ${r.status}`)).toEqual(['classic.get 401']);
  });

  test('when BES answers 503 twice, then the calls are retried and the run succeeds', async () => {
    const before = emu.inspect().requests.length;
    emu.setFaults([{ routes: ['bes.status'], count: 2, kind: { type: 'status', status: 503 } }]);
    const h = await run(input());
    const result = (await h.result()) as RetrainAndUpdateResult;
    emu.setFaults([]);
    const statuses = emu
      .inspect()
      .requests.slice(before)
      .filter((r) => r.route === 'bes.status')
      .map((r) => r.status);
    expect(statuses.filter((s) => s === 503)).toHaveLength(2);
    expect(updatesFor(result.jobId)).toHaveLength(2);
  });

  test('when a job runs ten times longer, then the history has the same number of events', async () => {
    const short = await run(input());
    await short.result();
    emu.setJobFaults({ slowNext: { count: 1, extraMs: 9 * JOB_MS } });
    const long = await run(input());
    const started = Date.now();
    await long.result();
    expect(Date.now() - started).toBeGreaterThan(8 * JOB_MS);
    const count = async (h: WorkflowHandle) => (await h.fetchHistory()).events?.length;
    expect(await count(long)).toBe(await count(short));
  });

  test('when a run has one update, then its history has at most 40 events, as many for a short job as for one polled past the heartbeat window', async () => {
    const queue = uniqueId('lean');
    // A one-second heartbeat window: the long job's end is then found by the poll activity's retries.
    await stack.startWorker({
      configDir,
      taskQueue: queue,
      wrapDeps: (deps) => ({ ...deps, settings: { ...deps.settings, trainingHeartbeatWindowMs: 1000 } }),
    });
    const oneUpdate = () => {
      const i = input();
      i.updates = [i.updates[1]];
      return i;
    };
    const short = await run(oneUpdate(), queue);
    const shortResult = (await short.result()) as RetrainAndUpdateResult;
    emu.setJobFaults({ slowNext: { count: 1, extraMs: 5000 } });
    const long = await run(oneUpdate(), queue);
    const longResult = (await long.result()) as RetrainAndUpdateResult;
    // The world: each job ran once and finished, and the endpoint was pointed at each model in turn.
    for (const r of [shortResult, longResult]) {
      expect(emu.inspect().jobs.find((j) => j.jobId === r.jobId)).toMatchObject({ status: 'Finished', started: 1 });
      expect(updatesFor(r.jobId).map((u) => u.kind)).toEqual(['classic']);
    }
    const events = async (h: WorkflowHandle) => (await h.fetchHistory()).events ?? [];
    const [shortEvents, longEvents] = await Promise.all([events(short), events(long)]);
    const parts = (es: typeof shortEvents) => {
      const count = (f: (e: (typeof es)[number]) => unknown) => es.filter(f).length;
      return {
        total: es.length,
        workflowTasks: count(
          (e) =>
            e.workflowTaskScheduledEventAttributes ||
            e.workflowTaskStartedEventAttributes ||
            e.workflowTaskCompletedEventAttributes,
        ),
        activities: count(
          (e) =>
            e.activityTaskScheduledEventAttributes ||
            e.activityTaskStartedEventAttributes ||
            e.activityTaskCompletedEventAttributes,
        ),
        upserts: count((e) => e.upsertWorkflowSearchAttributesEventAttributes),
        timers: count(
          (e) => e.timerStartedEventAttributes || e.timerCanceledEventAttributes || e.timerFiredEventAttributes,
        ),
        markers: count((e) => e.markerRecordedEventAttributes),
      };
    };
    console.log(
      `[history] one update: short job ${JSON.stringify(parts(shortEvents))}, long job ${JSON.stringify(parts(longEvents))}`,
    );
    expect(shortEvents.length).toBeLessThanOrEqual(40);
    expect(longEvents.length).toBe(shortEvents.length);
    // Polled past the window by retries, which the history does not record one by one: its one wait has attempt > 1.
    const waitId = longEvents.find(
      (e) => e.activityTaskScheduledEventAttributes?.activityType?.name === 'waitForTrainingJob',
    )?.eventId;
    const waitStarted = longEvents.find(
      (e) => String(e.activityTaskStartedEventAttributes?.scheduledEventId) === String(waitId),
    );
    expect(waitStarted?.activityTaskStartedEventAttributes?.attempt).toBeGreaterThan(1);
  });

  test('when more runs train at once than the worker has activity slots, then their jobs run side by side: a running job gives its slot back', async () => {
    const queue = uniqueId('slots');
    const SLOTS = 5;
    await stack.startWorker({ configDir, taskQueue: queue, maxConcurrentActivities: SLOTS });
    emu.setJobFaults({ slowNext: { count: 2 * SLOTS, extraMs: 6000 } });
    const trainingOnly = () => input({ updates: [], options: { pollIntervalSeconds: 1 } });
    const first = await Promise.all(Array.from({ length: SLOTS }, () => run(trainingOnly(), queue)));
    // The world: the first wave's jobs run, and their waits have had time to take the worker's slots.
    await waitUntil('the first wave of jobs running', async () =>
      emu.inspect().jobs.filter((j) => j.status === 'Running').length >= SLOTS ? true : undefined,
    );
    await new Promise((r) => setTimeout(r, 1500));
    const second = await Promise.all(Array.from({ length: SLOTS }, () => run(trainingOnly(), queue)));
    const results = (await Promise.all([...first, ...second].map((h) => h.result()))) as RetrainAndUpdateResult[];
    const jobs = results.map((r) => emu.inspect().jobs.find((j) => j.jobId === r.jobId));
    for (const j of jobs) expect(j).toMatchObject({ status: 'Finished', started: 1 });
    // How many jobs ran at the same moment, from the emulator's own start and end times. Had each wait held its
    // slot, the second wave could not even submit before a first-wave job ended: never more than SLOTS at once.
    const edges = jobs
      .flatMap((j) => [
        [Date.parse(j?.startedAt ?? ''), 1],
        [Date.parse(j?.endedAt ?? ''), -1],
      ])
      .sort((a, b) => a[0] - b[0] || a[1] - b[1]);
    let running = 0;
    let most = 0;
    for (const [, d] of edges) {
      running += d;
      most = Math.max(most, running);
    }
    expect(most).toBeGreaterThan(SLOTS);
  });

  test('when the worker crashes between submitting the job and recording it, then only one job is ever started', async () => {
    const queue = uniqueId('crash');
    crashAfter = (req) => req.method === 'POST' && /\/jobs\?/.test(req.url);
    await startWorker(configDir, queue);
    const jobsBefore = new Set(emu.inspect().jobs.map((j) => j.jobId));
    const h = await run(input(), queue);
    const result = (await h.result()) as RetrainAndUpdateResult;
    const newJobs = emu.inspect().jobs.filter((j) => !jobsBefore.has(j.jobId));
    // Other tests may not run concurrently here, so every new job belongs to this run.
    expect(newJobs.filter((j) => j.started > 0).map((j) => j.jobId)).toEqual([result.jobId]);
    expect(newJobs.every((j) => j.jobId === result.jobId || (j.status === 'NotStarted' && j.started === 0))).toBe(true);
  });

  test('when a run is cancelled while training, then the BES job is deleted and nothing is updated', async () => {
    emu.setJobFaults({ slowNext: { count: 1, extraMs: 60_000 } });
    const before = emu.inspect().updates.length;
    const h = await run(input());
    for (let i = 0; i < 100; i++) {
      const s = await h.query(statusQuery).catch(() => undefined);
      if (s?.besStatus === 'Running') break;
      await new Promise((r) => setTimeout(r, 100));
    }
    await h.cancel();
    await h.result().catch(() => undefined);
    const jobId = (await h.query(statusQuery)).jobId!;
    const job = emu.inspect().jobs.find((j) => j.jobId === jobId)!;
    expect(job.status).toBe('Cancelled');
    expect(job.cancelled).toBeGreaterThanOrEqual(1);
    expect((await h.describe()).status.name).toBe('CANCELLED');
    await new Promise((r) => setTimeout(r, 500));
    expect(emu.inspect().updates.length).toBe(before);
  });

  const writePipeline = (name: string, i: RetrainAndUpdateInput) =>
    writeAdfPipeline(configDir, name, pipelineOf(name, i));

  /** The `retrain` CLI as a user runs it, its output as a terminal shows it. */
  const cliAll = async (args: string[]) => {
    const r = await cli(args);
    return { code: r.code, out: r.all };
  };

  test('when `retrain run` runs a pipeline that succeeds, then it prints progress and the result and exits 0', async () => {
    await writePipeline('CliOk', input());
    // Long enough for the CLI's once-a-second progress poll to see the job running.
    emu.setJobFaults({ slowNext: { count: 1, extraMs: 2500 } });
    const r = await cliAll([
      'run',
      '--config',
      configDir,
      '--pipeline',
      'CliOk',
      '--task-queue',
      mainQueue,
      '--poll-seconds',
      '0.1',
    ]);
    expect(r.out).toMatch(/started retrain-CliOk-\d{8}T\d{6}Z/);
    expect(r.out).toMatch(/\] Training · BES job [0-9a-f]{32}/);
    expect(r.out).toMatch(/updated: +amlUpdateClassic → classicScoringEndpoint \(classic\)/);
    expect(r.out).toContain('run succeeded');
    expect(r.code).toBe(0);
  });

  test('when `retrain run` runs a pipeline whose job fails, then it prints the failure type and BES Details and exits 1', async () => {
    await writePipeline('CliFail', input());
    emu.setJobFaults({ failNext: { count: 1, details: 'Error 0001: Column names not found' } });
    const r = await cliAll([
      'run',
      '--config',
      configDir,
      '--pipeline',
      'CliFail',
      '--task-queue',
      mainQueue,
      '--poll-seconds',
      '0.1',
    ]);
    expect(r.out).toContain('run failed: BesJobFailed:');
    expect(r.out).toContain('Error 0001: Column names not found');
    expect(r.code).toBe(1);
  });

  test('when `retrain run` names a pipeline that does not exist, then it says so in one line and exits 1', async () => {
    const r = await cliAll(['run', '--config', configDir, '--pipeline', 'NoSuchPipeline']);
    expect(r.out.trim()).toMatch(/^error: pipeline 'NoSuchPipeline' not found in .*pipeline$/);
    expect(r.code).toBe(1);
  });

  test('when the histories of every run above are fetched, then no secret appears in them', async () => {
    const secrets: string[] = [];
    const collect = (v: unknown): void => {
      if (typeof v === 'string') secrets.push(v);
      else if (v && typeof v === 'object') Object.values(v).forEach(collect);
    };
    for (const f of await readdir(join(configDir, 'linkedService'))) {
      const tp = JSON.parse(await readFile(join(configDir, 'linkedService', f), 'utf8')).properties.typeProperties;
      for (const k of ['apiKey', 'servicePrincipalKey', 'connectionString']) collect(tp[k]);
    }
    const accountKey = /AccountKey=([^;]+)/.exec(emu.storage.connectionString)![1];
    const needles = [...secrets.filter((s) => s.length > 12 && s !== 'SecureString'), accountKey];
    expect(needles.length).toBeGreaterThanOrEqual(4);
    expect(handles.length).toBeGreaterThanOrEqual(8);
    for (const h of handles) {
      const raw = JSON.stringify(await h.fetchHistory());
      // Payload data are base64 of UTF-8 JSON: decode them so the search sees what was stored.
      const decoded = raw.replace(/"data":"([A-Za-z0-9+/=]*)"/g, (_m, b64: string) =>
        JSON.stringify(Buffer.from(b64, 'base64').toString('utf8')),
      );
      expect(decoded.includes('trainingEndpoint')).toBe(true);
      const leaked = needles.filter((n) => decoded.includes(n) || raw.includes(n)).map((n) => `${n.slice(0, 4)}…`);
      expect({ workflowId: h.workflowId, leaked }).toEqual({ workflowId: h.workflowId, leaked: [] });
      expect(/[?&]sig=/.test(decoded)).toBe(false);
    }
  });
});
