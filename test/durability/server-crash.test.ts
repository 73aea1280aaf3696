/**
 * Temporal server crash: a second dev server, persisted in a SQLite file, is killed -9 mid-run (while jobs train,
 * mid ARM operation, right after a submit...) and restarted on the same port and file. The worker process must ride
 * through on its own; every run completes with one started job and one effective update per service, and its model
 * is live after it (the emulator's live model and a scoring call).
 */
import { Client, Connection } from '@temporalio/client';
import { runOutageCampaign } from './campaigns';
import type { DurabilityEnv } from './harness';
import { startDurabilityEnv } from './harness';
import { CrashableTemporal } from './outages';

const SEED = Number(process.env.ML_DURABILITY_SEED ?? 6002);

describe('Temporal server crash', () => {
  let server: CrashableTemporal;
  let connection: Connection;
  let env: DurabilityEnv;

  beforeAll(async () => {
    server = await new CrashableTemporal().start();
    connection = await Connection.connect({ address: server.address });
    // Jobs run 2.5 s, so the runs are still going when the second outage comes.
    env = await startDurabilityEnv({ lanes: 3, emulator: { seed: SEED, jobs: { runningMs: 2500 } } });
  });

  afterAll(async () => {
    await env?.close();
    await connection?.close();
    await server?.stop();
  });

  test('when the dev server is killed -9 and restarted on its database file mid-run, then every run completes exactly once and its model is live after it', async () => {
    const client = new Client({ connection });
    const r = await runOutageCampaign(
      client,
      env,
      {
        section: 'server-crash',
        lanes: 3,
        runsPerLane: 3,
        seed: SEED,
        outages: 2,
        downMs: [500, 2000],
        runTimeoutMs: 150_000,
        temporalAddress: server.address,
        capped: true,
      },
      server,
    );
    expect(r.problems).toEqual([]);
    expect(r.secrets.leaks).toEqual([]);
    expect(r.runs.map((run) => run.outcome)).toEqual(Array(9).fill('completed'));
    expect(server.kills).toBe(2);
    expect(server.restarts).toBe(2);
  }, 240_000);
});
