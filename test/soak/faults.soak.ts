/**
 * Soak: the fault campaign of test/durability/faults.test.ts with more runs.
 */
import type { TemporalTestContext } from '../helpers/temporal';
import { connectTemporal } from '../helpers/temporal';
import { runFaultCampaign } from '../durability/campaigns';
import type { DurabilityEnv } from '../durability/harness';
import { startDurabilityEnv } from '../durability/harness';

const SEED = Number(process.env.ML_DURABILITY_SEED ?? 7004);
const LANES = 2;
const RUNS_PER_LANE = 6;

describe('soak: faults', () => {
  let t: TemporalTestContext;
  let env: DurabilityEnv;

  beforeAll(async () => {
    t = await connectTemporal();
    env = await startDurabilityEnv({ lanes: LANES, emulator: { seed: SEED, token: { lifetimeSeconds: 20 } } });
  });

  afterAll(async () => {
    await env?.close();
    await t?.close();
  });

  test(
    'when 20 % of requests on every route fail in mixed ways through many runs, then all complete exactly once, each one’s model live after it, and Retry-After is honoured',
    async () => {
      const r = await runFaultCampaign(t.client, env, {
        section: 'soak-faults',
        lanes: LANES,
        runsPerLane: RUNS_PER_LANE,
        seed: SEED,
        runTimeoutMs: 400_000,
        fastRetries: false,
      });
      expect(r.problems).toEqual([]);
      expect(r.secrets.leaks).toEqual([]);
      expect(r.runs.map((run) => run.outcome)).toEqual(Array(LANES * RUNS_PER_LANE).fill('completed'));
      const s = r.summary as { faultRate: number; faultsInjected: Record<string, number>; tokenFaults: number };
      expect(s.faultRate).toBeGreaterThan(0.12);
      expect(Object.keys(s.faultsInjected)).toEqual(
        expect.arrayContaining(['429', '500', '503', 'reset', 'reset-after', 'latency']),
      );
      expect(s.tokenFaults).toBeGreaterThan(0);
      expect(r.retryAfter.early).toEqual([]);
    },
    15 * 60_000,
  );
});
