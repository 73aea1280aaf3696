/**
 * Worker crash (fast part): the worker is a real child process, killed with SIGKILL at points chosen by watching
 * the emulator (right after a submit, mid-poll, after locate, mid ARM operation, after a classic PATCH, mid
 * verification...) and restarted. Every verdict comes from the world: the emulator's inspection (jobs, update log,
 * live model) and scoring calls after every run. The soak runs the same campaign bigger. The lifecycle steps (gate,
 * approval, verification, rollback) each get an aimed kill in ./worker-crash-lifecycle.test.ts.
 */
import type { TemporalTestContext } from '../helpers/temporal';
import { connectTemporal } from '../helpers/temporal';
import { runCrashCampaign } from './campaigns';
import type { DurabilityEnv } from './harness';
import { startDurabilityEnv } from './harness';

const SEED = Number(process.env.ML_DURABILITY_SEED ?? 6001);

describe('worker crash', () => {
  let t: TemporalTestContext;
  let env: DurabilityEnv;

  beforeAll(async () => {
    t = await connectTemporal();
    env = await startDurabilityEnv({ lanes: 4, emulator: { seed: SEED } });
  });

  afterAll(async () => {
    await env?.close();
    await t?.close();
  });

  test('when the worker process is killed -9 at random points (verification included) and restarted, then 20 runs complete with one started job and one effective update per service each, and each run’s model is live after it', async () => {
    const r = await runCrashCampaign(t.client, env, {
      section: 'worker-crash',
      lanes: 4,
      runsPerLane: 5,
      seed: SEED,
      killWindowMs: 100_000,
      maxKills: 20,
      runTimeoutMs: 150_000,
    });
    expect(r.problems).toEqual([]);
    expect(r.secrets.leaks).toEqual([]);
    expect(r.runs).toHaveLength(20);
    expect(r.runs.every((run) => run.outcome === 'completed')).toBe(true);
    // Kills happened, at several kinds of points: a campaign that never killed would prove nothing.
    expect(r.summary.kills).toBeGreaterThanOrEqual(6);
    expect(Object.keys(r.summary.killsByPoint as object).length).toBeGreaterThanOrEqual(4);
  }, 240_000);
});
