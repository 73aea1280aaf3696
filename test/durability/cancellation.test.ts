/**
 * Cancellation in each phase, and the workflow execution timeout. The run is held in the phase by a latency fault
 * on the request that phase is waiting for (or a slow job), then cancelled. Verdicts from the emulator: the BES job
 * is DELETEd whenever it exists and has not ended, no update reaches a scoring service after the run has ended, and
 * the run ends Cancelled (TimedOut for the timeout).
 */
import { setTimeout as sleep } from 'node:timers/promises';
import type { WorkflowHandle } from '@temporalio/client';
import type { FaultRule } from '../../emulator';
import type { RetrainAndUpdateInput, RunStatus } from '../../common/types';
import { statusQuery } from '../../workflows/queries';
import type { TemporalTestContext } from '../helpers/temporal';
import type { DurabilityEnv, Lane, RunRecord } from './harness';
import { settle, startRun } from './harness';
import type { DurabilitySuite } from './suite';
import { finishSuite, startSuite } from './suite';

const PHASES = ['Submitting', 'Starting', 'Training', 'LocatingModel', 'Updating'] as const;
type Phase = (typeof PHASES)[number];

describe('cancellation and timeout', () => {
  let suite: DurabilitySuite | undefined;
  let t: TemporalTestContext;
  let env: DurabilityEnv;
  let taskQueue: string;
  let runs: RunRecord[];
  const outcomes: Record<string, unknown> = {};

  beforeAll(async () => {
    suite = await startSuite({
      name: 'cancellation',
      queue: 'cancel',
      lanes: PHASES.length + 1,
      emulator: { seed: 6005 },
    });
    ({ t, env, taskQueue, runs } = suite);
  });

  afterAll(() =>
    finishSuite(suite, { name: 'cancellation', label: 'cancellation worker output', extra: () => ({ outcomes }) }),
  );

  async function statusOf(h: WorkflowHandle): Promise<RunStatus | undefined> {
    return h.query(statusQuery).catch(() => undefined);
  }

  async function waitUntil(h: WorkflowHandle, what: string, ok: (s: RunStatus) => boolean, timeoutMs = 30_000) {
    const end = Date.now() + timeoutMs;
    for (;;) {
      const s = await statusOf(h);
      if (s && ok(s)) return s;
      if (Date.now() > end) throw new Error(`run never reached ${what}; last status ${JSON.stringify(s)}`);
      await sleep(50);
    }
  }

  /** Jobs the run submitted (identified by its output blob), whatever the workflow knows about them. */
  const jobsOf = (run: RunRecord) =>
    env.emu
      .inspect()
      .jobs.filter((j) =>
        Object.values(j.outputs).some((o) => o.container === env.container && o.blobName === run.modelBlob),
      );

  /** Updates of the lane's services since the run started, and those (and update requests) after it closed. */
  async function effectsAfterClose(run: RunRecord, lane: Lane) {
    const d = await run.handle!.describe();
    const started = d.startTime.getTime();
    const closed = d.closeTime!.getTime();
    // Long enough for a PATCH held by a 2.5 s latency fault and an ARM operation to land, had they been sent.
    await sleep(3000);
    const ins = env.emu.inspect();
    const targets = [lane.arm.target, lane.classic.target];
    return {
      closed,
      updatesAfter: ins.updates.filter((u) => targets.includes(u.target) && Date.parse(u.at) > closed),
      patchesAfter: ins.requests.filter(
        (r) => (r.route === 'classic.patch' || r.route === 'arm.patch') && r.atMs > closed,
      ),
      updates: ins.updates.filter((u) => targets.includes(u.target) && Date.parse(u.at) >= started),
    };
  }

  interface Scenario {
    faults?: FaultRule[];
    slowJob?: boolean;
    input?: (i: RetrainAndUpdateInput) => void;
    /** When the run is surely in the phase (and the request the phase waits for is in flight). */
    ready: (s: RunStatus) => boolean;
    /** Runs while waiting for `ready`, e.g. to set a fault once the job has finished. */
    arm?: (run: RunRecord) => Promise<void>;
  }

  const scenarios: Record<Phase, Scenario> = {
    // The submit request is held 2.5 s in the emulator: the job comes into existence after the cancellation.
    Submitting: {
      faults: [{ routes: ['bes.submit'], count: 1, kind: { type: 'latency', ms: 2500 } }],
      ready: (s) => s.phase === 'Submitting',
    },
    Starting: {
      faults: [{ routes: ['bes.start'], count: 1, kind: { type: 'latency', ms: 2500 } }],
      ready: (s) => s.phase === 'Starting',
    },
    Training: { slowJob: true, ready: (s) => s.besStatus === 'Running' },
    // Both updates read the model from the BES output, and that read is held once the job has finished.
    LocatingModel: {
      input: (i) => {
        i.updates = i.updates.map((u) => ({
          ...u,
          trainedModelFilePath: undefined,
          trainedModelLinkedServiceName: undefined,
        }));
        i.options = { ...i.options, pollIntervalSeconds: 1 };
      },
      arm: async (run) => {
        for (let i = 0; i < 400 && !jobsOf(run).some((j) => j.status === 'Finished'); i++) await sleep(15);
        env.emu.setFaults([{ routes: ['bes.status'], kind: { type: 'latency', ms: 2500 } }]);
      },
      ready: (s) => s.phase === 'LocatingModel',
    },
    // The reads before each PATCH are held: the PATCHes would follow after the cancellation.
    Updating: {
      faults: [{ routes: ['classic.get', 'arm.get'], kind: { type: 'latency', ms: 2500 } }],
      ready: (s) => s.phase === 'Updating',
    },
  };

  test.each(PHASES)(
    'when a run is cancelled while %s, then its BES job is deleted if it exists, nothing is updated after the run ends, and it ends Cancelled',
    async (phase) => {
      const sc = scenarios[phase];
      const lane = env.lanes[PHASES.indexOf(phase)];
      if (sc.slowJob) env.emu.setJobFaults({ slowNext: { count: 1, extraMs: 60_000 } });
      env.emu.setFaults(sc.faults ?? []);
      const run = await startRun(t.client, env, lane, taskQueue, `${taskQueue}-${phase}`, { input: sc.input });
      runs.push(run);
      try {
        const arming = sc.arm?.(run);
        await waitUntil(run.handle!, phase, sc.ready);
        // Into the held request, so the cancellation meets work in flight.
        await sleep(400);
        await run.handle!.cancel();
        await settle(run);
        await arming;
      } finally {
        env.emu.setFaults([]);
        env.emu.setJobFaults({});
      }
      const after = await effectsAfterClose(run, lane);
      const jobs = jobsOf(run);
      const status = await statusOf(run.handle!);
      outcomes[phase] = {
        outcome: run.outcome,
        jobs: jobs.map((j) => ({ status: j.status, started: j.started, deletes: j.cancelled })),
        updatesBeforeClose: after.updates.length - after.updatesAfter.length,
        updatesAfterClose: after.updatesAfter.length,
      };

      expect(run.outcome).toBe('cancelled');
      expect(status?.phase).toBe('Cancelled');
      expect(after.patchesAfter).toEqual([]);
      expect(after.updatesAfter).toEqual([]);
      // No job is left running or waiting to be started: each one ended, or was deleted.
      expect(jobs.filter((j) => j.status === 'Running' || j.status === 'NotStarted')).toEqual([]);
      if (phase === 'Submitting' || phase === 'Starting' || phase === 'Training') {
        expect(jobs.length).toBeGreaterThanOrEqual(1);
        for (const j of jobs)
          expect({ status: j.status, deleted: j.cancelled >= 1 }).toEqual({ status: 'Cancelled', deleted: true });
        expect(after.updates).toEqual([]);
      } else {
        // The job had finished: nothing to stop. Before the updates began, nothing may be updated at all.
        expect(jobs.map((j) => j.status)).toEqual(['Finished']);
        if (phase === 'LocatingModel') expect(after.updates).toEqual([]);
      }
    },
    60_000,
  );

  test('when a run exceeds its workflow execution timeout, then its BES job is deleted before the run ends TimedOut', async () => {
    const lane = env.lanes[PHASES.length];
    env.emu.setJobFaults({ slowNext: { count: 1, extraMs: 120_000 } });
    const run = await startRun(t.client, env, lane, taskQueue, `${taskQueue}-timeout`, {
      workflowExecutionTimeout: '12s',
    });
    runs.push(run);
    try {
      await waitUntil(run.handle!, 'Training', (s) => s.besStatus === 'Running');
      await settle(run);
    } finally {
      env.emu.setJobFaults({});
    }
    const jobs = jobsOf(run);
    const after = await effectsAfterClose(run, lane);
    outcomes.executionTimeout = {
      outcome: run.outcome,
      jobs: jobs.map((j) => ({ status: j.status, started: j.started, deletes: j.cancelled })),
      updates: after.updates.length,
    };
    expect(run.outcome).toBe('timedOut');
    expect(jobs.map((j) => ({ status: j.status, deleted: j.cancelled >= 1 }))).toEqual([
      { status: 'Cancelled', deleted: true },
    ]);
    // Deleted before the end, by the run itself: the server runs no code once the timeout fires.
    const deleteAt = env.emu
      .inspect()
      .requests.filter((r) => r.route === 'bes.cancel' && r.path.includes(`/jobs/${jobs[0].jobId}`))
      .map((r) => r.atMs);
    expect(deleteAt.length).toBeGreaterThanOrEqual(1);
    expect(Math.min(...deleteAt)).toBeLessThan(after.closed);
    expect(after.updates).toEqual([]);
  }, 60_000);
});
