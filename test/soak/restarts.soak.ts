/**
 * Soak: Temporal server crashes (kill -9, restart on the same SQLite file and port) and emulator restarts (same
 * state dir and port), more of each than the fast tests.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Client, Connection } from '@temporalio/client';
import type { TemporalTestContext } from '../helpers/temporal';
import { connectTemporal } from '../helpers/temporal';
import { runOutageCampaign } from '../durability/campaigns';
import { startDurabilityEnv } from '../durability/harness';
import { CrashableTemporal, emulatorOutages } from '../durability/outages';

describe('soak: restarts', () => {
  test(
    'when the Temporal dev server is killed -9 and restarted five times, then every run completes exactly once, its model live after it',
    async () => {
      const server = await new CrashableTemporal().start();
      const connection = await Connection.connect({ address: server.address });
      const env = await startDurabilityEnv({ lanes: 3, emulator: { seed: 7002, jobs: { runningMs: 2500 } } });
      try {
        const r = await runOutageCampaign(
          new Client({ connection }),
          env,
          {
            section: 'soak-server-crash',
            lanes: 3,
            runsPerLane: 5,
            seed: 7002,
            outages: 5,
            downMs: [500, 4000],
            runTimeoutMs: 300_000,
            temporalAddress: server.address,
            capped: true,
          },
          server,
        );
        expect(r.problems).toEqual([]);
        expect(r.secrets.leaks).toEqual([]);
        expect(r.runs.map((run) => run.outcome)).toEqual(Array(15).fill('completed'));
        expect(server.restarts).toBe(5);
      } finally {
        await env.close();
        await connection.close();
        await server.stop();
      }
    },
    10 * 60_000,
  );

  test(
    'when the emulator restarts with its state five times, then every run completes exactly once, its model live after it',
    async () => {
      const t: TemporalTestContext = await connectTemporal();
      const stateDir = await mkdtemp(join(tmpdir(), 'soak-emu-state-'));
      const env = await startDurabilityEnv({ lanes: 3, emulator: { seed: 7003, stateDir, jobs: { runningMs: 3000 } } });
      try {
        const r = await runOutageCampaign(
          t.client,
          env,
          {
            section: 'soak-emulator-restart',
            lanes: 3,
            runsPerLane: 5,
            seed: 7003,
            outages: 5,
            downMs: [500, 4000],
            runTimeoutMs: 300_000,
            capped: false,
          },
          emulatorOutages(env),
        );
        expect(r.problems).toEqual([]);
        expect(r.secrets.leaks).toEqual([]);
        expect(r.runs.map((run) => run.outcome)).toEqual(Array(15).fill('completed'));
        expect(r.summary.outages).toBe(5);
      } finally {
        await env.close();
        await t.close();
        await rm(stateDir, { recursive: true, force: true });
      }
    },
    10 * 60_000,
  );
});
