/**
 * Faults (fast part): about 20 % of the requests on every route get a fault, mixed over 429 with Retry-After, 503,
 * 500, connection resets (before and after handling), latency, and 429 from the token endpoint. The product's
 * retry policies apply, with the pause between attempts capped at 5 s (./fast-retries.ts; the soak runs the
 * product's 1 min). Every run must complete with one started job and one effective update per
 * service, its model live after it (emulator and scoring call), and the request log must show no retry earlier than
 * Retry-After. The soak runs more of them.
 */
import type { TemporalTestContext } from '../helpers/temporal';
import { connectTemporal } from '../helpers/temporal';
import { runFaultCampaign } from './campaigns';
import type { DurabilityEnv } from './harness';
import { startDurabilityEnv } from './harness';

const SEED = Number(process.env.ML_DURABILITY_SEED ?? 6004);

describe('faults', () => {
  let t: TemporalTestContext;
  let env: DurabilityEnv;

  beforeAll(async () => {
    t = await connectTemporal();
    // Short-lived tokens (20 s, under the update's 30 s renewal margin): the worker asks Entra again for every
    // ARM call, so the token endpoint gets its share of 429s.
    env = await startDurabilityEnv({ lanes: 2, emulator: { seed: SEED, token: { lifetimeSeconds: 20 } } });
  });

  afterAll(async () => {
    await env?.close();
    await t?.close();
  });

  test('when 20 % of requests on every route fail in mixed ways, then every run completes, exactly once, its model live after it, and no retry comes before Retry-After', async () => {
    const r = await runFaultCampaign(t.client, env, {
      section: 'faults',
      lanes: 2,
      runsPerLane: 2,
      seed: SEED,
      runTimeoutMs: 150_000,
      fastRetries: true,
    });
    expect(r.problems).toEqual([]);
    expect(r.secrets.leaks).toEqual([]);
    expect(r.runs.map((run) => run.outcome)).toEqual(Array(4).fill('completed'));
    // The faults really happened, of every kind, at about the intended rate.
    const s = r.summary as {
      faultRate: number;
      faultsInjected: Record<string, number>;
      retriesAfterThrottle: number;
      tokenFaults: number;
    };
    expect(s.faultRate).toBeGreaterThan(0.1);
    expect(Object.keys(s.faultsInjected).sort()).toEqual(expect.arrayContaining(['429', '500', '503']));
    expect(s.retriesAfterThrottle).toBeGreaterThan(0);
    expect(s.tokenFaults).toBeGreaterThan(0);
    expect(r.retryAfter.early).toEqual([]);
  }, 200_000);
});
