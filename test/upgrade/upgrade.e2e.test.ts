/**
 * An upgrade under a running retrain, the way docs/upgrading.md tells an operator to do it: a run starts on build A
 * and waits on a long BES job; build B (changed workflow code) is started, made current with the temporal CLI, and
 * A is stopped; the job finishes and B completes the run. Verdicts come from the world (the emulator's live model,
 * a scoring call, the jobs it ran) and from the run's history (which build completed each workflow task).
 */
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import type { temporal } from '@temporalio/proto';
import type { WorkflowHandle } from '@temporalio/client';
import { bundleWorkflowCode, Worker } from '@temporalio/worker';
import type { WorkerDeploymentVersion } from '@temporalio/common';
import { startRetrain } from '../../client/run';
import { loadAdfConfig } from '../../config/linked-services';
import { loadWorkerSettings } from '../../config/env';
import type { RetrainAndUpdateResult } from '../../common/types';
import { cacheDir } from '../../infra/temporal';
import { buildActivityDeps } from '../../worker/deps';
import { deploymentVersion } from '../../worker/versioning';
import { createWorker } from '../../worker/worker';
import { temporalAddress, uniqueId, workflowBundle } from '../helpers/temporal';
import { waitUntil } from '../helpers/processes';
import type { Stack } from '../helpers/stack';
import { startStack } from '../helpers/stack';
import { liveJob, scoredBy, seededServices, startedJobs } from '../helpers/world';
import { BUILD_B, FINISH_PATCH, START_PATCH } from './build-b/change';

jest.setTimeout(300_000);

type HistoryEvent = temporal.api.history.v1.IHistoryEvent;

/** Long enough for B to start, be made current and A to stop while the job still runs, on a busy machine too. */
const SLOW_JOB_MS = 40_000;

const quiet = { trace: () => undefined, debug: () => undefined, info: () => undefined, log: () => undefined };
const bundleOf = (dir: string) =>
  bundleWorkflowCode({
    workflowsPath: require.resolve(join(__dirname, dir, 'workflows')),
    logger: { ...quiet, warn: console.warn, error: console.error },
  });

/** The build id of every completed workflow task, in order. */
function completedBy(events: HistoryEvent[]): string[] {
  return events
    .filter((e) => e.workflowTaskCompletedEventAttributes)
    .map((e) => e.workflowTaskCompletedEventAttributes?.deploymentVersion?.buildId ?? '(unversioned)');
}

/** The patch ids the history recorded (core_patch markers). */
function patchesIn(events: HistoryEvent[]): string[] {
  return events
    .filter((e) => e.markerRecordedEventAttributes?.markerName === 'core_patch')
    .flatMap((e) => Object.values(e.markerRecordedEventAttributes?.details ?? {}))
    .flatMap((p) => p.payloads ?? [])
    .map((p) => (JSON.parse(Buffer.from(p.data ?? []).toString('utf8')) as { id?: string }).id ?? '');
}

describe('upgrading the worker under a running retrain', () => {
  let env: Stack;
  let bundleA: { code: string };
  let bundleB: { code: string };
  let unguardedB: { code: string };
  let versionA: WorkerDeploymentVersion;
  let versionB: WorkerDeploymentVersion;
  const stops: (() => Promise<void>)[] = [];

  beforeAll(async () => {
    env = await startStack({ worker: false, jobMs: 300 });
    [bundleA, bundleB, unguardedB] = await Promise.all([
      workflowBundle(),
      bundleOf('build-b'),
      bundleOf('build-b-unguarded'),
    ]);
    versionA = deploymentVersion({}, env.taskQueue, bundleA.code);
    versionB = deploymentVersion({}, env.taskQueue, bundleB.code);
  });
  afterAll(async () => {
    for (const stop of stops) await stop();
    await env?.close();
  });

  async function deployment() {
    const { workerDeploymentInfo } = await env.t.client.workflowService.describeWorkerDeployment({
      namespace: env.t.client.options.namespace,
      deploymentName: versionA.deploymentName,
    });
    const current = workerDeploymentInfo?.routingConfig?.currentDeploymentVersion?.buildId;
    const builds = (workerDeploymentInfo?.versionSummaries ?? []).map((v) => v.deploymentVersion?.buildId);
    return { current, builds };
  }

  /** The task queues (name and type) a build has registered by polling them. */
  async function taskQueuesOf(v: WorkerDeploymentVersion): Promise<string[]> {
    const { workerDeploymentVersionInfo } = await env.t.client.workflowService.describeWorkerDeploymentVersion({
      namespace: env.t.client.options.namespace,
      deploymentVersion: { deploymentName: v.deploymentName, buildId: v.buildId },
    });
    return (workerDeploymentVersionInfo?.taskQueueInfos ?? []).map((q) => `${q.name}/${q.type}`).sort();
  }

  /** Build B as an operator starts it: another worker process's code, same task queue, its own build id. */
  async function startWorkerB(): Promise<() => Promise<void>> {
    const settings = loadWorkerSettings({
      ...process.env,
      AZURE_AUTHORITY_HOST: env.emu.urls.authorityHost,
      ML_ARM_POLL_INTERVAL_MS: '100',
    });
    const worker = await createWorker({
      connection: env.t.nativeConnection,
      taskQueue: env.taskQueue,
      deps: buildActivityDeps(await loadAdfConfig(env.configDir), settings),
      workflowBundle: bundleB,
    });
    const running = worker.run();
    return async () => {
      if (worker.getState() === 'RUNNING') worker.shutdown();
      await running;
    };
  }

  /** `temporal worker deployment set-current-version`, exactly as docs/upgrading.md gives it. */
  function setCurrentVersion(v: WorkerDeploymentVersion): Promise<string> {
    const bin = process.env.TEMPORAL_CLI_PATH ?? join(cacheDir(), 'bin', 'temporal');
    const args = ['worker', 'deployment', 'set-current-version', '--address', temporalAddress()];
    args.push('--namespace', env.t.client.options.namespace, '--deployment-name', v.deploymentName);
    args.push('--build-id', v.buildId, '--yes');
    return new Promise((resolve, reject) => {
      const child = spawn(bin, args, { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, NO_COLOR: '1' } });
      let out = '';
      child.stdout.on('data', (d: Buffer) => (out += d.toString()));
      child.stderr.on('data', (d: Buffer) => (out += d.toString()));
      child.on('error', reject);
      child.on('exit', (code) => (code === 0 ? resolve(out) : reject(new Error(`temporal exited ${code}: ${out}`))));
    });
  }

  test('when build B is made current while a run waits on BES, then B finishes the run and its model is live', async () => {
    expect(versionB.buildId).not.toBe(versionA.buildId);
    const { arm, classic } = seededServices(env.emu);

    // Build A: the released code. On an empty deployment it makes itself current (ML_WORKER_SET_CURRENT=if-none).
    const stopA = await env.startWorker({ taskQueue: env.taskQueue });
    stops.push(stopA);
    await waitUntil('build A current', async () => (await deployment()).current === versionA.buildId);

    env.emu.setJobFaults({ slowNext: { extraMs: SLOW_JOB_MS } });
    const started = Date.now();
    const h: WorkflowHandle = await startRetrain(env.t.client, env.input(), {
      taskQueue: env.taskQueue,
      workflowId: uniqueId('upgrade'),
    });
    const [jobId] = await waitUntil('the BES job running', async () => {
      const jobs = startedJobs(env.emu);
      return jobs.length === 1 && jobs;
    });

    // Build B comes up beside A and, A being current, gets no tasks: it never takes current by itself.
    const stopB = await startWorkerB();
    stops.push(stopB);
    await waitUntil('build B registered', async () => (await deployment()).builds.includes(versionB.buildId));
    // As docs/upgrading.md step 3: B must have polled every task queue A serves (workflow and activity) before it
    // can be made current; the server refuses a current version that would leave one of A's queues unversioned.
    const queuesOfA = await taskQueuesOf(versionA);
    await waitUntil('build B polling every task queue of A', async () => {
      const queuesOfB = await taskQueuesOf(versionB);
      return queuesOfA.every((q) => queuesOfB.includes(q));
    });
    expect((await deployment()).current).toBe(versionA.buildId);

    await setCurrentVersion(versionB);
    expect((await deployment()).current).toBe(versionB.buildId);
    // AUTO_UPGRADE: nothing stays pinned to A, so the operator stops it at once.
    await stopA();
    expect(env.emu.inspect().jobs.find((j) => j.jobId === jobId)?.status).toBe('Running');

    const result = (await h.result()) as RetrainAndUpdateResult;
    console.log(`upgrade test: run finished ${Math.round((Date.now() - started) / 1000)} s after it started`);

    // The world: one job ran, and its model is what both services serve and answer with.
    expect(startedJobs(env.emu)).toEqual([jobId]);
    expect(result.jobId).toBe(jobId);
    for (const service of [arm, classic]) {
      expect(liveJob(env.emu, service)).toBe(jobId);
      expect(await scoredBy(env.emu, service)).toBe(jobId);
    }

    // The history: A completed the first workflow tasks, B every one after the switch, and B's change ran only
    // where its guard allowed: the end of the run, not the start that A had already run.
    const events = (await h.fetchHistory()).events ?? [];
    const builds = completedBy(events);
    expect(builds[0]).toBe(versionA.buildId);
    expect(builds[builds.length - 1]).toBe(versionB.buildId);
    const firstB = builds.indexOf(versionB.buildId);
    expect(builds.slice(firstB).every((b) => b === versionB.buildId)).toBe(true);
    expect(builds.slice(0, firstB).every((b) => b === versionA.buildId)).toBe(true);
    expect(patchesIn(events)).toContain(FINISH_PATCH);
    expect(patchesIn(events)).not.toContain(START_PATCH);
    const { memo } = await h.describe();
    expect(memo?.finishedBy).toBe(BUILD_B);
    expect(memo?.startedBy).toBeUndefined();

    // The scoring-service workflows the run deployed through moved to B too (they never finish: pinned would
    // have kept them on A).
    for await (const w of env.t.client.workflow.list({
      query: `WorkflowType = 'scoringService' AND TaskQueue = '${env.taskQueue}'`,
    })) {
      const info = (await env.t.client.workflow.getHandle(w.workflowId).describe()).raw.workflowExecutionInfo;
      expect(info?.versioningInfo?.deploymentVersion?.buildId).toBe(versionB.buildId);
    }

    // The guard is what made this safe: B's code replays the run, the same change unguarded does not.
    await Worker.runReplayHistory({ workflowBundle: bundleB }, { events }, h.workflowId);
    await expect(
      Worker.runReplayHistory({ workflowBundle: unguardedB }, { events }, h.workflowId),
    ).rejects.toMatchObject({ name: 'DeterminismViolationError' });
  });

  test('when B is current and A is gone, then a new run runs on B from its first task', async () => {
    const h = await startRetrain(env.t.client, env.input(), { taskQueue: env.taskQueue, workflowId: uniqueId('on-b') });
    const result = (await h.result()) as RetrainAndUpdateResult;
    expect(liveJob(env.emu, seededServices(env.emu).arm)).toBe(result.jobId);
    const events = (await h.fetchHistory()).events ?? [];
    expect(new Set(completedBy(events))).toEqual(new Set([versionB.buildId]));
    expect(patchesIn(events)).toEqual(expect.arrayContaining([START_PATCH, FINISH_PATCH]));
    const { memo } = await h.describe();
    expect(memo).toMatchObject({ startedBy: BUILD_B, finishedBy: BUILD_B });
  });
});
