/**
 * The set-up the single-worker durability files share: a Temporal connection, a durability env with lanes, one
 * worker process on its own task queue (its log under test-output), and at the end a secrets scan of every run's
 * history and the worker's output plus a summary section. The tests differ in what they do to the world, not here.
 */
import { join } from 'node:path';
import type { EmulatorOptions } from '../../emulator';
import { WorkerProcess } from '../helpers/processes';
import type { TemporalTestContext } from '../helpers/temporal';
import { connectTemporal } from '../helpers/temporal';
import { workerEnv } from './campaigns';
import type { DurabilityEnv, RunRecord } from './harness';
import { OUTPUT_DIR, productBundle, scanForSecrets, startDurabilityEnv, writeSummary } from './harness';

export interface DurabilitySuite {
  t: TemporalTestContext;
  env: DurabilityEnv;
  worker: WorkerProcess;
  taskQueue: string;
  /** Every run the file started: their histories are scanned for secrets at the end. */
  runs: RunRecord[];
}

export interface SuiteOptions {
  /** The summary section and the worker log's name (`<name>-worker.log`). */
  name: string;
  /** Task queue prefix; a base-36 timestamp is appended so reruns never share a queue. */
  queue: string;
  lanes: number;
  emulator: EmulatorOptions;
  /** The workflow bundle the worker runs (default: the product's). */
  bundle?: () => Promise<string>;
}

export async function startSuite(o: SuiteOptions): Promise<DurabilitySuite> {
  const t = await connectTemporal();
  const env = await startDurabilityEnv({ lanes: o.lanes, emulator: o.emulator });
  const taskQueue = `${o.queue}-${Date.now().toString(36)}`;
  const worker = new WorkerProcess({
    configDir: env.configDir,
    taskQueue,
    env: workerEnv(env),
    bundlePath: await (o.bundle ?? productBundle)(),
    logFile: join(OUTPUT_DIR, 'durability', 'logs', `${o.name}-worker.log`),
  });
  await worker.start();
  return { t, env, worker, taskQueue, runs: [] };
}

/**
 * Stop the worker, scan every run's history and the worker's output for secrets (a leak fails the file), write the
 * summary (the run count, `extra`, the scan), then clear the faults and close the env and the connection.
 */
export async function finishSuite(
  s: DurabilitySuite | undefined,
  o: { name: string; label: string; extra: () => Record<string, unknown> },
): Promise<void> {
  if (!s) return;
  try {
    await s.worker.stop();
    if (!s.runs.length) return;
    const secrets = await scanForSecrets(
      s.env.secrets,
      s.runs.map((r) => r.handle!),
      [{ name: o.label, text: s.worker.output }],
    );
    writeSummary(o.name, {
      runs: s.runs.length,
      ...o.extra(),
      secretsScan: { histories: secrets.historiesScanned, bytes: secrets.bytesScanned, leaks: secrets.leaks.length },
    });
    expect(secrets.leaks).toEqual([]);
  } finally {
    s.env.emu.setFaults([]);
    s.env.emu.setJobFaults({});
    await s.env.close();
    await s.t.close();
  }
}
