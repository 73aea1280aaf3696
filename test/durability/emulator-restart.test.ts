/**
 * Emulator restart: the ML Studio emulator (BES, classic, ARM, Entra) is stopped mid-run and started again on the
 * same port with the same state dir, as `--state` does: jobs in flight keep their ids and keep running, and the
 * written linked services stay valid. Every run completes with its one job and one effective update per service, and
 * its model is live after it (the emulator's live model and a scoring call).
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TemporalTestContext } from '../helpers/temporal';
import { connectTemporal } from '../helpers/temporal';
import { runOutageCampaign } from './campaigns';
import type { DurabilityEnv } from './harness';
import { startDurabilityEnv } from './harness';
import { emulatorOutages } from './outages';

const SEED = Number(process.env.ML_DURABILITY_SEED ?? 6003);

describe('emulator restart', () => {
  let t: TemporalTestContext;
  let env: DurabilityEnv;
  let stateDir: string;

  beforeAll(async () => {
    t = await connectTemporal();
    stateDir = await mkdtemp(join(tmpdir(), 'durability-emu-state-'));
    // Jobs run 3 s, so outages land while they train.
    env = await startDurabilityEnv({ lanes: 3, emulator: { seed: SEED, stateDir, jobs: { runningMs: 3000 } } });
  });

  afterAll(async () => {
    await env?.close();
    await t?.close();
    await rm(stateDir, { recursive: true, force: true });
  });

  test('when the emulator restarts with its state mid-run, then jobs in flight survive and every run completes exactly once, its model live after it', async () => {
    const r = await runOutageCampaign(
      t.client,
      env,
      {
        section: 'emulator-restart',
        lanes: 3,
        runsPerLane: 3,
        seed: SEED,
        outages: 3,
        downMs: [500, 2500],
        runTimeoutMs: 150_000,
        capped: false,
      },
      emulatorOutages(env),
    );
    expect(r.problems).toEqual([]);
    expect(r.secrets.leaks).toEqual([]);
    expect(r.runs.map((run) => run.outcome)).toEqual(Array(9).fill('completed'));
    expect(r.summary.outages).toBe(3);
    // Jobs that were running when the emulator went away finished under the same id, started once.
    const restartedAt = env.earlier.map((i) => Math.max(...i.requests.map((q) => q.atMs)));
    const jobs = env.emu.inspect().jobs;
    const spanning = jobs.filter((j) =>
      restartedAt.some((at) => Date.parse(j.startedAt ?? '') < at && Date.parse(j.endedAt ?? '') > at),
    );
    expect(spanning.length).toBeGreaterThanOrEqual(1);
    for (const j of spanning)
      expect({ status: j.status, started: j.started }).toEqual({ status: 'Finished', started: 1 });
  }, 240_000);
});
