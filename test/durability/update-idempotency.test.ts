/**
 * Update idempotency, judged by the world: the emulator handles the PATCH (the scoring service now points at the new
 * model) and then drops the connection, so the activity cannot know it worked and Temporal retries it. The retry must
 * find the change applied: the request log shows one PATCH, the update log one effective change, and the new model
 * is live (the emulator's live model and a scoring call). And a path is not a model: two runs that write the same
 * `trainedModelFilePath` both deploy, the second one's model last.
 */
import type { EmulatorRoute, FaultRule } from '../../emulator';
import type { RetrainAndUpdateInput } from '../../common/types';
import type { TemporalTestContext } from '../helpers/temporal';
import { updateLog } from '../helpers/world';
import type { DurabilityEnv, Lane, RunRecord } from './harness';
import { effectiveUpdates, judgeRuns, observeServing, settle, startRun } from './harness';
import type { DurabilitySuite } from './suite';
import { finishSuite, startSuite } from './suite';

describe('update idempotency', () => {
  let suite: DurabilitySuite | undefined;
  let t: TemporalTestContext;
  let env: DurabilityEnv;
  let taskQueue: string;
  let runs: RunRecord[];
  const cases: Record<string, unknown> = {};

  beforeAll(async () => {
    suite = await startSuite({
      name: 'update-idempotency',
      queue: 'idem',
      lanes: 4,
      emulator: { seed: 6008 },
    });
    ({ t, env, taskQueue, runs } = suite);
  });

  afterAll(() =>
    finishSuite(suite, { name: 'update-idempotency', label: 'idempotency worker output', extra: () => ({ cases }) }),
  );

  /** One run in a lane under `faults`, observed right after it ends: its own requests, updates and served model. */
  async function runWith(name: string, lane: Lane, faults: FaultRule[], input?: (i: RetrainAndUpdateInput) => void) {
    const from = env.emu.inspect().requests.length;
    const logFrom = { arm: updateLog(env.emu, lane.arm).length, classic: updateLog(env.emu, lane.classic).length };
    env.emu.setFaults(faults);
    const run = await startRun(t.client, env, lane, taskQueue, `${taskQueue}-${name}`, { input });
    runs.push(run);
    try {
      await settle(run);
    } finally {
      env.emu.setFaults([]);
    }
    run.served = await observeServing(env, lane);
    const ins = env.emu.inspect();
    const requests = ins.requests.slice(from);
    const jobId = run.result?.jobId;
    const { effective, repeated } = effectiveUpdates(ins.updates);
    const count = (route: EmulatorRoute, path: string) =>
      requests.filter((r) => r.route === route && r.path.split('?')[0] === path.split('?')[0]);
    const summary = {
      outcome: run.outcome,
      jobId,
      classicPatches: count('classic.patch', lane.classic.path).map((r) => r.fault ?? String(r.status)),
      armPatches: count('arm.patch', lane.arm.path).map((r) => r.fault ?? String(r.status)),
      effectiveClassic: effective.get(`${lane.classic.target}|${jobId}`) ?? 0,
      effectiveArm: effective.get(`${lane.arm.target}|${jobId}`) ?? 0,
      repeated:
        (repeated.get(`${lane.classic.target}|${jobId}`) ?? 0) + (repeated.get(`${lane.arm.target}|${jobId}`) ?? 0),
      // The models each service loaded during the run, in order (the emulator's update log).
      armLog: updateLog(env.emu, lane.arm).slice(logFrom.arm),
      classicLog: updateLog(env.emu, lane.classic).slice(logFrom.classic),
      reported: Object.fromEntries((run.result?.updates ?? []).map((u) => [u.kind, u.outcome])),
      served: run.served,
    };
    cases[name] = summary;
    return { run, summary };
  }

  /** The world's verdict on the lane's runs so far: jobs, effective updates, update order, the model served. */
  const problems = (laneRuns: RunRecord[]) => judgeRuns(env.emu.inspect(), laneRuns, env.container).problems;

  /** Both services serve `job`: the emulator's live model and a scoring call agree on it. */
  const servesBoth = (job: string | undefined) => ({
    arm: { live: job, scored: job },
    classic: { live: job, scored: job },
  });

  test('when a classic PATCH is applied but its response is lost, then the retry sends no second PATCH and the new model is live', async () => {
    const { run, summary } = await runWith('classic-reset-after', env.lanes[0], [
      { routes: ['classic.patch'], count: 1, kind: { type: 'reset', phase: 'after' } },
    ]);
    expect(run.outcome).toBe('completed');
    expect(problems([run])).toEqual([]);
    // One PATCH, whose response was dropped; the retry read the endpoint, found the model and sent nothing.
    expect(summary.classicPatches).toEqual(['reset-after']);
    expect(summary.effectiveClassic).toBe(1);
    expect(summary.repeated).toBe(0);
    expect(summary.classicLog).toEqual([summary.jobId]);
    expect(run.served).toEqual(servesBoth(summary.jobId));
    // A first deployment to the service, whatever the retry found: Deployed, not AlreadyLive.
    expect(summary.reported).toEqual({ classic: 'Deployed', arm: 'Deployed' });
  });

  test('when an ARM PATCH is applied but its response is lost, then the change is made once and the service serves the model', async () => {
    const { run, summary } = await runWith('arm-reset-after', env.lanes[1], [
      { routes: ['arm.patch'], count: 1, kind: { type: 'reset', phase: 'after' } },
    ]);
    expect(run.outcome).toBe('completed');
    expect(problems([run])).toEqual([]);
    // Temporal's retry comes 2 s later, after the 300 ms provisioning: the retry sees the change applied.
    expect(summary.armPatches).toEqual(['reset-after']);
    expect(summary.effectiveArm).toBe(1);
    expect(summary.repeated).toBe(0);
    expect(summary.armLog).toEqual([summary.jobId]);
    expect(run.served).toEqual(servesBoth(summary.jobId));
    expect(summary.reported).toEqual({ classic: 'Deployed', arm: 'Deployed' });
  });

  test('when a PATCH is dropped before it is handled, then the retry sends it again and it is applied once', async () => {
    const { run, summary } = await runWith('reset-before', env.lanes[2], [
      { routes: ['classic.patch', 'arm.patch'], count: 2, kind: { type: 'reset' } },
    ]);
    expect(run.outcome).toBe('completed');
    expect(problems([run])).toEqual([]);
    expect(summary.classicPatches).toEqual(['reset', '200']);
    expect(summary.armPatches).toEqual(['reset', '200']);
    expect(summary.effectiveClassic).toBe(1);
    expect(summary.effectiveArm).toBe(1);
    expect({ arm: summary.armLog, classic: summary.classicLog }).toEqual({
      arm: [summary.jobId],
      classic: [summary.jobId],
    });
    expect(run.served).toEqual(servesBoth(summary.jobId));
  });

  test('when two runs in a row write the same trainedModelFilePath, then both deploy and the second model is live; a lost response in the second changes nothing of that', async () => {
    const lane = env.lanes[3];
    const fixed = `${env.container}/fixed/model.ilearner`;
    // The seed's shape: training writes one fixed path; the ARM service reads it from storage, the classic
    // endpoint from the BES output, which is the same blob.
    const samePath = (i: RetrainAndUpdateInput) => {
      i.training.webServiceOutputs!.output1.filePath = fixed;
      i.updates[0].trainedModelFilePath = fixed;
    };
    const first = await runWith('same-path-1', lane, [], samePath);
    const second = await runWith(
      'same-path-2',
      lane,
      [{ routes: ['classic.patch', 'arm.patch'], count: 2, kind: { type: 'reset', phase: 'after' } }],
      samePath,
    );
    expect([first.run.outcome, second.run.outcome]).toEqual(['completed', 'completed']);
    const [job1, job2] = [first.summary.jobId!, second.summary.jobId!];
    expect(job1).not.toBe(job2);
    // Each run's model went out once, in order, and nothing after: jobs, effective updates, update order.
    expect(problems([first.run, second.run])).toEqual([]);
    expect([...first.summary.armLog, ...second.summary.armLog]).toEqual([job1, job2]);
    expect([...first.summary.classicLog, ...second.summary.classicLog]).toEqual([job1, job2]);
    expect(second.summary.classicPatches).toEqual(['reset-after']);
    expect(second.summary.armPatches).toEqual(['reset-after']);
    expect(first.run.served).toEqual(servesBoth(job1));
    expect(second.run.served).toEqual(servesBoth(job2));
    expect(second.summary.reported).toEqual({ classic: 'Deployed', arm: 'Deployed' });
    expect(await observeServing(env, lane)).toEqual(servesBoth(job2));
  });
});
