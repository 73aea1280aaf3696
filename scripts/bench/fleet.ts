import { startRetrain } from '../../client/run';
import { TRAINING_HEARTBEAT_WINDOW_MS } from '../../activities/deps';
import { loadWorkerSettings } from '../../config/env';
import type { RunPhases } from './history';
import { runPhases } from './history';
import { ProcWindow } from './proc-stats';
import type { Row } from './report';
import type { BenchStack } from './stack';
import { startWorkerProcess } from './stack';
import { mib, percentile, pooled, seconds, sleep } from './stats';

export interface FleetOptions {
  runs: number;
  jobMs: number;
  pollSeconds: number;
  /** Stop waiting after this long; runs still open are reported, then terminated. */
  timeoutMs: number;
  tag: string;
}

/**
 * N runs at once on ONE fresh worker process (`node dist/worker/main.js`, its own task queue), training only: each
 * run its own BES job and model. Latency is the server's start-to-close time of each run (visibility), so the bench
 * process holds no long poll per run. The worker's CPU and peak RSS come from /proc; so does the dev server's CPU.
 */
export async function fleetScenario(stack: BenchStack, o: FleetOptions, log: (line: string) => void): Promise<Row[]> {
  const taskQueue = `${o.tag}-fleet`;
  const worker = await startWorkerProcess(stack, taskQueue);
  try {
    stack.setJobMs(o.jobMs);
    const workerCpu = new ProcWindow(worker.pid);
    const serverCpu = new ProcWindow(stack.temporal.pid);
    // The bench process itself: the emulator and Azurite answering every run's requests, and the start calls.
    const benchCpu = new ProcWindow(process.pid);
    const t0 = Date.now();
    // Starts go out 50 at a time: as a scheduler would fire them, without a thousand RPCs in one burst.
    await pooled(o.runs, 50, (i) =>
      startRetrain(stack.client, stack.input(`${taskQueue}-${i}`, [], o.pollSeconds), {
        taskQueue,
        workflowId: `${taskQueue}-${i}`,
      }),
    );
    log(`fleet: ${o.runs} runs started in ${seconds(Date.now() - t0, 1)}`);
    const query = `TaskQueue = '${taskQueue}' AND ExecutionStatus = 'Running'`;
    let open = o.runs;
    let lastLog = Date.now();
    while (open > 0 && Date.now() - t0 < o.timeoutMs) {
      await sleep(2000);
      open = (await stack.client.workflow.count(query)).count;
      if (Date.now() - lastLog > 60_000) {
        log(`fleet: ${open} of ${o.runs} still running after ${seconds(Date.now() - t0, 0)}`);
        lastLog = Date.now();
      }
    }
    const wallMs = Date.now() - t0;
    const cpu = workerCpu.end();
    const server = serverCpu.end();
    const bench = benchCpu.end();
    const latencies: number[] = [];
    let failed = 0;
    for await (const w of stack.client.workflow.list({ query: `TaskQueue = '${taskQueue}'` })) {
      if (w.status.name === 'COMPLETED' && w.closeTime) latencies.push(w.closeTime.getTime() - w.startTime.getTime());
      else if (w.status.name === 'RUNNING')
        await stack.client.workflow.getHandle(w.workflowId).terminate('bench timeout');
      else failed += 1;
    }
    log(`fleet: ${o.runs - open} of ${o.runs} closed after ${seconds(wallMs, 0)}; reading their histories`);
    // Where the time went, from the histories of every tenth run (fetched after the clock stopped).
    const phases: RunPhases[] = [];
    for (let i = 0; i < o.runs; i += 10) {
      const p = await runPhases(stack.client.workflow.getHandle(`${taskQueue}-${i}`)).catch(() => undefined);
      if (p) phases.push(p);
    }
    const phase = (k: keyof RunPhases) =>
      `${seconds(
        percentile(
          phases.map((p) => p[k]),
          50,
        ),
        1,
      )} / ${seconds(
        percentile(
          phases.map((p) => p[k]),
          95,
        ),
        1,
      )}`;
    const done = latencies.length;
    const p50 = percentile(latencies, 50);
    const limit = o.jobMs + o.pollSeconds * 1000 + 2000;
    const settings = loadWorkerSettings({ ...process.env, ...stack.childEnv });
    const scenario = '4 fleet';
    const what = `${o.runs} runs, ${seconds(o.jobMs, 0)} jobs, poll ${o.pollSeconds} s`;
    return [
      {
        scenario,
        figure: `${what}: completed`,
        value: `${done} of ${o.runs} in ${seconds(wallMs, 0)}${failed ? `, ${failed} failed` : ''}${open > 0 ? `, ${open} still running at the ${seconds(o.timeoutMs, 0)} limit (terminated)` : ''}`,
        target: 'all',
        met: done === o.runs,
      },
      {
        scenario,
        figure: `${what}: latency p50 / p95`,
        value: `${seconds(p50, 1)} / ${seconds(percentile(latencies, 95), 1)}`,
        target: `p50 <= ${seconds(limit, 0)} (job + poll + 2 s)`,
        met: done === o.runs && p50 <= limit,
      },
      {
        scenario,
        figure: `where the time went, p50 / p95 of ${phases.length} runs`,
        value:
          `start to job started ${phase('toJobStart')}; job started to its end seen ${phase('job')}; ` +
          `end seen to run closed ${phase('afterJob')}`,
      },
      {
        scenario,
        figure: 'worker peak RSS',
        value: mib(cpu.peakRssBytes),
        target: '<= 300 MiB',
        met: cpu.peakRssBytes <= 300 * 2 ** 20,
      },
      {
        scenario,
        figure: 'CPU: worker / dev server / bench process (emulator, Azurite)',
        value:
          [cpu, server, bench].map((c) => `${seconds(c.cpuMs, 0)} (${(c.coreShare * 100).toFixed(0)} %)`).join(' / ') +
          " of one core, over the fleet's wall time",
      },
      {
        scenario,
        figure: 'worker options',
        value:
          `activity slots ${settings.maxConcurrentActivities} (ML_MAX_CONCURRENT_ACTIVITIES; a BES wait gives its slot ` +
          `back once 80 % are taken), BES heartbeat window ` +
          `${seconds(settings.activity.trainingHeartbeatWindowMs ?? TRAINING_HEARTBEAT_WINDOW_MS, 0)}, ` +
          `sticky cache ${settings.maxCachedWorkflows ?? 'SDK default (heap-based)'}; SDK defaults: workflow task ` +
          'slots 40, pollers 10 workflow + 10 activity (simple-maximum), fixed-size slot suppliers (no tuner)',
      },
    ];
  } finally {
    const stopping = Date.now();
    await worker.stop();
    log(`fleet: worker stopped in ${seconds(Date.now() - stopping, 1)}`);
  }
}
