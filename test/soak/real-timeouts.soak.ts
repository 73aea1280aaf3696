/**
 * Soak: worker crashes with the product's own activity timeouts (no capping): how long a run really waits after a
 * kill -9 at each kind of point, and that it then completes exactly once with its model live (the emulator's live
 * model and a scoring call). Expected, from workflows/engine/ and workflows/scoring-service.ts: a lost short call
 * (submit) is retried after its 2 min start-to-close, a lost poll after its 10 s heartbeat timeout, a lost update
 * (applied by the scoring service's workflow) after its 1 min heartbeat timeout. The submit killed in flight leaves
 * one job never started.
 */
import { join } from 'node:path';
import type { TemporalTestContext } from '../helpers/temporal';
import { connectTemporal } from '../helpers/temporal';
import { setTimeout as sleep } from 'node:timers/promises';
import type { RunStatus } from '../../common/types';
import { statusQuery } from '../../workflows/queries';
import { RequestWatch, workerEnv } from '../durability/campaigns';
import type { DurabilityEnv } from '../durability/harness';
import {
  OUTPUT_DIR,
  judgeRuns,
  observeServing,
  productBundle,
  scanForSecrets,
  settle,
  startDurabilityEnv,
  startRun,
  writeSummary,
} from '../durability/harness';
import { WorkerProcess } from '../helpers/processes';

describe('soak: worker crash with the product timeouts', () => {
  let t: TemporalTestContext;
  let env: DurabilityEnv;

  beforeAll(async () => {
    t = await connectTemporal();
    env = await startDurabilityEnv({ lanes: 1, emulator: { seed: 7005 } });
  });

  afterAll(async () => {
    await env?.close();
    await t?.close();
  });

  test(
    'when the worker is killed during a submit, a poll and a classic update, then the run resumes within the activity timeouts, completes once and its model is live',
    async () => {
      const taskQueue = `real-timeouts-${Date.now().toString(36)}`;
      const worker = new WorkerProcess({
        configDir: env.configDir,
        taskQueue,
        env: workerEnv(env),
        bundlePath: await productBundle(),
        logFile: join(OUTPUT_DIR, 'durability', 'logs', 'soak-real-timeouts-worker.log'),
      });
      await worker.start();
      const watch = new RequestWatch(env);
      // Each kill lands while the activity surely runs: its request is held by a latency fault (or the job is long).
      env.emu.setJobFaults({ slowNext: { count: 1, extraMs: 20_000 } });
      env.emu.setFaults([
        { routes: ['bes.submit'], count: 1, kind: { type: 'latency', ms: 3000 } },
        { routes: ['classic.get'], count: 1, kind: { type: 'latency', ms: 3000 } },
      ]);
      const run = await startRun(t.client, env, env.lanes[0], taskQueue, `${taskQueue}-run`, {
        defaultTaskTimeout: true,
      });
      const settling = settle(run);
      const recoveries: Record<string, number> = {};
      const never = () => false;
      const phase = async (ok: (s: RunStatus) => boolean) => {
        for (let i = 0; i < 1200; i++) {
          const st = await run.handle!.query(statusQuery).catch(() => undefined);
          if (st && ok(st)) return;
          await sleep(50);
        }
        throw new Error('the run never got there');
      };
      /** Kill while the activity runs, restart at once, and time until the retried activity's first request. */
      const crash = async (name: string, resumed: (route: string | null) => boolean) => {
        await sleep(1000);
        await worker.kill9();
        const killedAt = Date.now();
        await worker.start();
        const next = await watch.next((r) => r.atMs > killedAt && resumed(r.route), never, 300_000);
        if (!next) throw new Error(`no progress after the kill ${name}`);
        recoveries[name] = next.atMs - killedAt;
      };
      try {
        await phase((st) => st.phase === 'Submitting');
        await crash('mid-submit', (r) => r === 'bes.submit');
        await phase((st) => st.besStatus === 'Running');
        await crash('mid-poll', (r) => r === 'bes.status');
        await phase((st) => st.phase === 'Updating');
        await crash('mid-classic-update', (r) => r === 'classic.get');
        await settling;
        // Which model the lane serves now (the emulator's live model and a scoring call): judged by judgeRuns.
        run.served = await observeServing(env, env.lanes[0]);
      } finally {
        await worker.stop();
        env.emu.setJobFaults({});
        env.emu.setFaults([]);
      }
      const verdict = judgeRuns(env.emu.inspect(), [run], env.container);
      const secrets = await scanForSecrets(env.secrets, [run.handle!], [{ name: 'worker', text: worker.output }]);
      writeSummary('soak-real-timeouts', {
        runs: 1,
        kills: worker.kills,
        restarts: worker.starts - 1,
        recoveryMsByKillPoint: recoveries,
        outcome: run.outcome,
        runMs: run.durationMs,
        orphanNotStartedJobs: verdict.orphanJobs,
        updatesFoundAlreadyLive: verdict.alreadyApplied,
        secretsScan: { histories: secrets.historiesScanned, leaks: secrets.leaks.length },
        problems: verdict.problems.length,
      });
      expect(verdict.problems).toEqual([]);
      expect(secrets.leaks).toEqual([]);
      expect(run.outcome).toBe('completed');
      // Resumed by the timeouts, not by luck: each wait is about the timeout that governs it (plus a task or two).
      expect(recoveries['mid-submit']).toBeGreaterThan(100_000);
      expect(recoveries['mid-submit']).toBeLessThan(150_000);
      expect(recoveries['mid-poll']).toBeLessThan(30_000);
      expect(recoveries['mid-classic-update']).toBeGreaterThan(45_000);
      expect(recoveries['mid-classic-update']).toBeLessThan(90_000);
    },
    10 * 60_000,
  );
});
