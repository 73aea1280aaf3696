/**
 * Soak: the worker-crash campaign of test/durability/worker-crash.test.ts, bigger: 50 runs in 5 lanes, the worker
 * killed -9 at points chosen from the emulator's request log until the runs are done.
 */
import type { TemporalTestContext } from '../helpers/temporal';
import { connectTemporal } from '../helpers/temporal';
import { runCrashCampaign } from '../durability/campaigns';
import type { DurabilityEnv } from '../durability/harness';
import { startDurabilityEnv } from '../durability/harness';

const SEED = Number(process.env.ML_DURABILITY_SEED ?? 7001);

describe('soak: worker crash', () => {
  let t: TemporalTestContext;
  let env: DurabilityEnv;

  beforeAll(async () => {
    t = await connectTemporal();
    env = await startDurabilityEnv({ lanes: 5, emulator: { seed: SEED } });
  });

  afterAll(async () => {
    await env?.close();
    await t?.close();
  });

  test(
    'when the worker is killed -9 at random points through 50 runs, then every run completes with one started job and one effective update per service, its model live after it',
    async () => {
      const r = await runCrashCampaign(t.client, env, {
        section: 'soak-worker-crash',
        lanes: 5,
        runsPerLane: 10,
        seed: SEED,
        killWindowMs: 6 * 60_000,
        maxKills: 60,
        runTimeoutMs: 300_000,
      });
      expect(r.problems).toEqual([]);
      expect(r.secrets.leaks).toEqual([]);
      expect(r.runs).toHaveLength(50);
      expect(r.runs.every((run) => run.outcome === 'completed')).toBe(true);
      expect(r.summary.kills).toBeGreaterThanOrEqual(25);
      expect(Object.keys(r.summary.killsByPoint as object).length).toBeGreaterThanOrEqual(8);
    },
    15 * 60_000,
  );
});
