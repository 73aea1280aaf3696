/**
 * Worker crash at each step of a model's way to the scoring services (issue 10): while the model is prepared for the
 * quality gate and right after the gate passed, while the run awaits approval (approved after the restart), while the
 * new model is verified by scoring, and while a model that failed verification is rolled back. The worker is a real
 * child process, killed -9 and restarted (./processes.ts), with activity timeouts capped as in the crash campaign.
 *
 * Every verdict comes from the world: which model each service serves (the emulator's live model and a user's
 * scoring call), and the emulator's update log (every model each service loaded, in order), so that no older model
 * is applied after a newer one. Each step has its own lane; they run one after another, so faults apply to one run.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { WorkflowFailedError } from '@temporalio/client';
import type { RetrainAndUpdateInput, RunStatus } from '../../common/types';
import { approveUpdate, statusQuery } from '../../workflows/queries';
import type { TemporalTestContext } from '../helpers/temporal';
import { updateLog } from '../helpers/world';
import { isProductScoring } from './campaigns';
import type { DurabilityEnv, Lane, LaneServing, RunRecord } from './harness';
import { cappedBundle, jobsOfRun, observeServing, settle, startRun } from './harness';
import type { WorkerProcess } from '../helpers/processes';
import type { DurabilitySuite } from './suite';
import { finishSuite, startSuite } from './suite';

jest.setTimeout(120_000);

/** Fast verification: the emulator switches models at once; a broken model fails within 3 s. */
const VERIFY = { timeoutSeconds: 30, intervalSeconds: 0.3 };

describe('worker crash at the lifecycle steps', () => {
  let suite: DurabilitySuite | undefined;
  let t: TemporalTestContext;
  let env: DurabilityEnv;
  let worker: WorkerProcess;
  let taskQueue: string;
  let runs: RunRecord[];
  const steps: Record<string, unknown> = {};

  beforeAll(async () => {
    suite = await startSuite({
      name: 'worker-crash-lifecycle',
      queue: 'lifecycle-crash',
      lanes: 4,
      emulator: { seed: 6011 },
      bundle: cappedBundle,
    });
    ({ t, env, worker, taskQueue, runs } = suite);
  });

  afterAll(() =>
    finishSuite(suite, {
      name: 'worker-crash-lifecycle',
      label: 'lifecycle crash worker output',
      extra: () => ({ kills: worker.kills, steps }),
    }),
  );

  afterEach(() => {
    env.emu.setFaults([]);
    env.emu.setJobFaults({});
  });

  /**
   * Both updates read the model from the BES output: one source, so the model is prepared once, and its preparation
   * reads the job (and can be held). The campaigns run the two-source input.
   */
  async function start(lane: Lane, name: string, input?: (i: RetrainAndUpdateInput) => void): Promise<RunRecord> {
    const run = await startRun(t.client, env, lane, taskQueue, `${taskQueue}-${name}`, {
      input: (i) => {
        i.updates = i.updates.map((u) => ({
          ...u,
          trainedModelFilePath: undefined,
          trainedModelLinkedServiceName: undefined,
        }));
        i.deployment = { verification: VERIFY, ...i.deployment };
        input?.(i);
      },
    });
    runs.push(run);
    return run;
  }

  /** Settle the run and ask the world what its lane serves now. */
  async function finish(run: RunRecord): Promise<RunRecord> {
    await settle(run, Date.now(), 120_000);
    run.served = await observeServing(env, run.lane);
    return run;
  }

  /** kill -9 and start again: the work in flight is lost until the (capped) activity timeouts. */
  async function crash(): Promise<void> {
    await worker.kill9();
    await worker.start();
  }

  async function statusOf(run: RunRecord): Promise<RunStatus | undefined> {
    return run.handle!.query(statusQuery).catch(() => undefined);
  }

  async function until<T>(what: string, probe: () => Promise<T | undefined> | T | undefined, timeoutMs = 60_000) {
    const end = Date.now() + timeoutMs;
    for (;;) {
      const v = await probe();
      if (v !== undefined && v !== false) return v;
      if (Date.now() > end) throw new Error(`never happened: ${what}`);
      await sleep(10);
    }
  }

  /** The run's failure type (it must fail). */
  async function failureType(run: RunRecord): Promise<string | undefined> {
    const err = await run.handle!.result().then(
      () => null,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(WorkflowFailedError);
    return ((err as WorkflowFailedError).cause as { type?: string } | undefined)?.type;
  }

  /** Models each lane service loaded since `from` (update log lengths taken before the run), in order. */
  function logsSince(lane: Lane, from: { arm: number; classic: number }) {
    return {
      arm: updateLog(env.emu, lane.arm).slice(from.arm),
      classic: updateLog(env.emu, lane.classic).slice(from.classic),
    };
  }
  const logMark = (lane: Lane) => ({
    arm: updateLog(env.emu, lane.arm).length,
    classic: updateLog(env.emu, lane.classic).length,
  });

  const serving = (job: string | null | undefined): LaneServing => ({
    arm: { live: job ?? null, scored: job ?? null },
    classic: { live: job ?? null, scored: job ?? null },
  });

  /**
   * Hold every job status read for 2.5 s from the moment the emulator's job has finished: the run's last poll, then
   * the model's preparation (which reads the job's outputs, then the evaluation output) are held.
   */
  async function holdPreparation(run: RunRecord): Promise<void> {
    await until(
      'the job finished',
      () => jobsOfRun(env.emu.inspect(), run, env.container).some((j) => j.status === 'Finished') || undefined,
    );
    env.emu.setFaults([{ routes: ['bes.status'], kind: { type: 'latency', ms: 2500 } }]);
    await until('preparing the model', () => statusOf(run).then((s) => s?.phase === 'LocatingModel' || undefined));
    // Into the held read.
    await sleep(500);
  }

  const GATE = { rules: ['AUC >= 0.80', 'AUC >= live - 0.02'] };

  test('when the worker dies while a model is prepared for the quality gate and again right after it passed, then the model is live; a model that fails the gate after a crash deploys nothing', async () => {
    const lane = env.lanes[0];
    // Passes: AUC 0.9, no live model to compare with yet.
    env.emu.setJobFaults({ metricsNext: { metrics: { AUC: 0.9, Accuracy: 0.86 } } });
    let mark = logMark(lane);
    const pass = await start(lane, 'gate-pass', (i) => (i.deployment = { ...i.deployment, gate: GATE }));
    await holdPreparation(pass);
    await crash();
    env.emu.setFaults([]);
    // Right after the gate: the deployment is scheduled, the gate's verdict only in the history.
    await until('deployment scheduled after the gate', async () => {
      const h = await pass.handle!.fetchHistory();
      return (
        h.events?.some((e) => e.activityTaskScheduledEventAttributes?.activityType?.name === 'deployModel') || undefined
      );
    });
    await crash();
    await finish(pass);
    expect(pass.outcome).toBe('completed');
    const passed = pass.result!.jobId;
    expect(pass.served).toEqual(serving(passed));
    expect(logsSince(lane, mark)).toEqual({ arm: [passed], classic: [passed] });
    const passStatus = await statusOf(pass);
    expect(passStatus?.gate).toMatchObject({ passed: true });
    expect(pass.result!.updates.map((u) => u.outcome)).toEqual(['Deployed', 'Deployed']);

    // Fails: AUC 0.85 is above 0.80 but more than 0.02 below the live model's recorded 0.9.
    env.emu.setJobFaults({ metricsNext: { metrics: { AUC: 0.85, Accuracy: 0.8 } } });
    mark = logMark(lane);
    const fail = await start(lane, 'gate-fail', (i) => (i.deployment = { ...i.deployment, gate: GATE }));
    await holdPreparation(fail);
    await crash();
    env.emu.setFaults([]);
    await finish(fail);
    expect(fail.outcome).toBe('failed');
    expect(await failureType(fail)).toBe('QualityGateFailed');
    expect((await statusOf(fail))?.phase).toBe('Rejected');
    // Nothing was sent; the model that passed still serves.
    expect(logsSince(lane, mark)).toEqual({ arm: [], classic: [] });
    expect(fail.served).toEqual(serving(passed));
    steps.gate = { kills: 3, passed, served: fail.served };
  });

  test('when the worker dies while the run awaits approval, then after the restart it still waits, and approved its model is live', async () => {
    const lane = env.lanes[1];
    const mark = logMark(lane);
    const run = await start(lane, 'approval', (i) => {
      i.deployment = { ...i.deployment, approval: { required: true, timeout: '00:10:00' } };
    });
    await until('awaiting approval', () => statusOf(run).then((s) => s?.phase === 'AwaitingApproval' || undefined));
    await crash();
    // The new worker rebuilt the wait from history: still waiting, nothing sent.
    const waiting = await statusOf(run);
    expect(waiting?.phase).toBe('AwaitingApproval');
    expect(waiting?.approval?.state).toBe('Waiting');
    expect(logsSince(lane, mark)).toEqual({ arm: [], classic: [] });
    await run.handle!.executeUpdate(approveUpdate, { args: [{ by: 'alice', reason: 'after the crash' }] });
    await finish(run);
    expect(run.outcome).toBe('completed');
    const job = run.result!.jobId;
    expect(run.served).toEqual(serving(job));
    expect(logsSince(lane, mark)).toEqual({ arm: [job], classic: [job] });
    expect((await statusOf(run))?.approval).toMatchObject({ state: 'Approved', by: 'alice' });
    steps.approval = { job, served: run.served };
  });

  test('when the worker dies while the new model is verified by scoring, then verification resumes and the model is live, applied once', async () => {
    const lane = env.lanes[2];
    const mark = logMark(lane);
    // Every scoring call is held 2 s: the verification that follows the classic PATCH is in its first call when the
    // worker dies.
    env.emu.setFaults([{ routes: ['rrs.execute'], kind: { type: 'latency', ms: 2000 } }]);
    const run = await start(lane, 'verify');
    await until('the classic endpoint updated', () => logsSince(lane, mark).classic.length > 0 || undefined);
    await sleep(700);
    const killedAt = Date.now();
    await crash();
    env.emu.setFaults([]);
    await finish(run);
    // The kill did land in a verification: a scoring call of the endpoint by the product spans it.
    const scoringPath = new URL(lane.classic.scoreUrl).pathname;
    const spanning = env.emu
      .inspect()
      .requests.filter(
        (r) =>
          isProductScoring(r) &&
          r.path.split('?')[0] === scoringPath &&
          r.atMs < killedAt &&
          r.atMs + r.durationMs > killedAt,
      );
    expect(spanning).toHaveLength(1);
    expect(run.outcome).toBe('completed');
    const job = run.result!.jobId;
    expect(run.served).toEqual(serving(job));
    // One effective update per service, nothing before or after it.
    expect(logsSince(lane, mark)).toEqual({ arm: [job], classic: [job] });
    expect(run.result!.updates.map((u) => u.outcome)).toEqual(['Deployed', 'Deployed']);
    steps.verification = { job, served: run.served };
  });

  test('when the worker dies while a model that failed verification is rolled back, then the previous model is live again and the failed one never returns', async () => {
    const lane = env.lanes[3];
    const good = await finish(await start(lane, 'rollback-good'));
    expect(good.outcome).toBe('completed');
    const previous = good.result!.jobId;
    expect(good.served).toEqual(serving(previous));

    const mark = logMark(lane);
    env.emu.setJobFaults({ brokenNext: {} });
    const broken = await start(lane, 'rollback-broken', (i) => {
      i.deployment = { ...i.deployment, verification: { timeoutSeconds: 3, intervalSeconds: 0.2 } };
    });
    // The restore has reached a service (its update log shows the previous model after the broken one): kill while
    // the rollback is in flight (its update applied, its read-back and verification not yet recorded).
    const restoring = await until('a rollback update', () => {
      const logs = logsSince(lane, mark);
      return (['arm', 'classic'] as const).find((k) => logs[k].length >= 2 && logs[k].at(-1) === previous);
    });
    await crash();
    await finish(broken);
    expect(broken.outcome).toBe('failed');
    expect(await failureType(broken)).toBe('VerificationFailed');
    const logs = logsSince(lane, mark);
    const brokenJob = logs[restoring][0];
    expect(brokenJob).not.toBe(previous);
    // The broken model went out once, then the previous one came back, once, and nothing followed.
    expect(logs).toEqual({ arm: [brokenJob, previous], classic: [brokenJob, previous] });
    expect(broken.served).toEqual(serving(previous));
    const status = await statusOf(broken);
    expect(Object.values(status!.updates).map((u) => u.outcome)).toEqual(['RolledBack', 'RolledBack']);

    // A later run deploys its own model; the rolled-back one never comes back.
    const mark2 = logMark(lane);
    const next = await finish(await start(lane, 'rollback-next'));
    expect(next.outcome).toBe('completed');
    expect(next.served).toEqual(serving(next.result!.jobId));
    expect(logsSince(lane, mark2)).toEqual({ arm: [next.result!.jobId], classic: [next.result!.jobId] });
    steps.rollback = { previous, broken: brokenJob, killedDuring: `${restoring} restore`, served: broken.served };
  });
});
