/**
 * Update idempotency: the emulator handles the PATCH (the scoring service now points at the new model) and then
 * drops the connection, so the activity cannot know it worked and Temporal retries it. The retry must find the change
 * applied and leave exactly one effective change; the request log shows what was sent.
 */
import { join } from 'node:path';
import type { EmulatorRoute, FaultRule } from '../../emulator';
import type { TemporalTestContext } from '../helpers/temporal';
import { connectTemporal } from '../helpers/temporal';
import { workerEnv } from './campaigns';
import type { DurabilityEnv, RunRecord } from './harness';
import {
  OUTPUT_DIR,
  effectiveUpdates,
  judgeRuns,
  productBundle,
  scanForSecrets,
  settle,
  startDurabilityEnv,
  startRun,
  writeSummary,
} from './harness';
import { WorkerProcess } from './processes';

describe('update idempotency', () => {
  let t: TemporalTestContext;
  let env: DurabilityEnv;
  let worker: WorkerProcess;
  let taskQueue: string;
  const runs: RunRecord[] = [];
  const cases: Record<string, unknown> = {};

  beforeAll(async () => {
    t = await connectTemporal();
    env = await startDurabilityEnv({ lanes: 3, emulator: { seed: 6008 } });
    taskQueue = `idem-${Date.now().toString(36)}`;
    worker = new WorkerProcess({
      configDir: env.configDir,
      taskQueue,
      env: workerEnv(env),
      bundlePath: await productBundle(),
      logFile: join(OUTPUT_DIR, 'durability', 'logs', 'update-idempotency-worker.log'),
    });
    await worker.start();
  });

  afterAll(async () => {
    await worker?.stop();
    if (runs.length) {
      const secrets = await scanForSecrets(
        env.secrets,
        runs.map((r) => r.handle!),
        [{ name: 'idempotency worker output', text: worker.output }],
      );
      writeSummary('update-idempotency', {
        runs: runs.length,
        cases,
        secretsScan: { histories: secrets.historiesScanned, bytes: secrets.bytesScanned, leaks: secrets.leaks.length },
      });
      expect(secrets.leaks).toEqual([]);
    }
    await env?.close();
    await t?.close();
  });

  async function runWith(name: string, laneIndex: number, faults: FaultRule[]) {
    const lane = env.lanes[laneIndex];
    const from = env.emu.inspect().requests.length;
    env.emu.setFaults(faults);
    const run = await startRun(t.client, env, lane, taskQueue, `${taskQueue}-${name}`);
    runs.push(run);
    try {
      await settle(run);
    } finally {
      env.emu.setFaults([]);
    }
    const ins = env.emu.inspect();
    const requests = ins.requests.slice(from);
    const verdict = judgeRuns(ins, [run], env.container);
    const jobId = run.result?.jobId;
    const { effective, repeated } = effectiveUpdates(ins.updates);
    const count = (route: EmulatorRoute, path: string) =>
      requests.filter((r) => r.route === route && r.path.split('?')[0] === path.split('?')[0]);
    const summary = {
      outcome: run.outcome,
      classicPatches: count('classic.patch', lane.classic.path).map((r) => r.fault ?? String(r.status)),
      armPatches: count('arm.patch', lane.arm.path).map((r) => r.fault ?? String(r.status)),
      effectiveClassic: effective.get(`${lane.classic.target}|${jobId}`) ?? 0,
      effectiveArm: effective.get(`${lane.arm.target}|${jobId}`) ?? 0,
      repeated:
        (repeated.get(`${lane.classic.target}|${jobId}`) ?? 0) + (repeated.get(`${lane.arm.target}|${jobId}`) ?? 0),
      alreadyApplied: Object.fromEntries((run.result?.updates ?? []).map((u) => [u.kind, u.alreadyApplied])),
    };
    cases[name] = summary;
    return { run, verdict, summary };
  }

  test('when a classic PATCH is applied but its response is lost, then the retry finds it applied and sends no second PATCH', async () => {
    const { run, verdict, summary } = await runWith('classic-reset-after', 0, [
      { routes: ['classic.patch'], count: 1, kind: { type: 'reset', phase: 'after' } },
    ]);
    expect(run.outcome).toBe('completed');
    expect(verdict.problems).toEqual([]);
    // One PATCH, whose response was dropped; the retry only read.
    expect(summary.classicPatches).toEqual(['reset-after']);
    expect(summary.effectiveClassic).toBe(1);
    expect(summary.alreadyApplied).toMatchObject({ classic: true, arm: false });
  });

  test('when an ARM PATCH is applied but its response is lost, then the change is made once and the service serves the model', async () => {
    const { run, verdict, summary } = await runWith('arm-reset-after', 1, [
      { routes: ['arm.patch'], count: 1, kind: { type: 'reset', phase: 'after' } },
    ]);
    expect(run.outcome).toBe('completed');
    expect(verdict.problems).toEqual([]);
    expect(summary.armPatches[0]).toBe('reset-after');
    expect(summary.effectiveArm).toBe(1);
    // Temporal's retry comes 2 s later, after the 300 ms provisioning: the retry sees the change applied.
    expect(summary.armPatches).toEqual(['reset-after']);
    expect(summary.alreadyApplied).toMatchObject({ arm: true });
  });

  test('when a PATCH is dropped before it is handled, then the retry sends it again and it is applied once', async () => {
    const { run, verdict, summary } = await runWith('reset-before', 2, [
      { routes: ['classic.patch', 'arm.patch'], count: 2, kind: { type: 'reset' } },
    ]);
    expect(run.outcome).toBe('completed');
    expect(verdict.problems).toEqual([]);
    expect(summary.classicPatches).toEqual(['reset', '200']);
    expect(summary.armPatches[0]).toBe('reset');
    expect(summary.effectiveClassic).toBe(1);
    expect(summary.effectiveArm).toBe(1);
    expect(summary.alreadyApplied).toMatchObject({ classic: false, arm: false });
  });
});
