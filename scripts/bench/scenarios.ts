import { ProcWindow } from './proc-stats';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { startRetrain } from '../../client/run';
import type { HistoryCount } from './history';
import { countHistory, describeParts } from './history';
import type { Row } from './report';
import type { BaselineProcess } from './runs';
import { compareRoutes, routesOf, runProduct } from './runs';
import type { BenchStack } from './stack';
import { spawnNode } from './stack';
import { median, percentile, seconds, sleep } from './stats';

/** Baseline, history and ceiling: the scenarios that run on the bench's main worker. */

export interface BaselineOptions {
  taskQueue: string;
  /** The wall-time ratio: pairs of runs on a long job. */
  ratio: { jobMs: number; pollSeconds: number; pairs: number };
  /** The overhead: pairs of runs on a short job with a short poll. */
  overhead: { jobMs: number; pollSeconds: number; pairs: number };
}

/**
 * Product and plain script, run for run on the same emulator, in alternating order (so a drift in load does not
 * favour one), each run training once and updating the ARM service and the classic endpoint.
 */
export async function baselineScenario(
  stack: BenchStack,
  script: BaselineProcess,
  o: BaselineOptions,
  tag: string,
): Promise<{ rows: Row[]; twoUpdateHistory?: HistoryCount; notes: string[] }> {
  const notes: string[] = [];
  let history: HistoryCount | undefined;
  const pairs = async (name: string, jobMs: number, pollSeconds: number, count: number) => {
    stack.setJobMs(jobMs);
    const product: number[] = [];
    const plain: number[] = [];
    for (let i = 0; i < count; i++) {
      const id = `${tag}-${name}-${i}`;
      const productRun = async () => {
        const r = await runProduct(stack, o.taskQueue, id, stack.input(id, ['arm', 'classic'], pollSeconds));
        product.push(r.ms);
        history ??= await countHistory(r.handle);
      };
      const scriptRun = async () =>
        plain.push(await script.run(`${id}-s`, stack.input(`${id}-s`, ['arm', 'classic'], pollSeconds)));
      if (i === 0) {
        // The first pair also checks that the script makes the calls the product makes (emulator request log).
        const p = await routesOf(stack, productRun);
        const s = await routesOf(stack, scriptRun);
        notes.push(`${name} job ${seconds(jobMs, 0)}: ${compareRoutes(p, s)}`);
      } else if (i % 2 === 0) {
        await productRun();
        await scriptRun();
      } else {
        await scriptRun();
        await productRun();
      }
    }
    return { product, plain };
  };

  const rows: Row[] = [];
  const r = await pairs('ratio', o.ratio.jobMs, o.ratio.pollSeconds, o.ratio.pairs);
  const ratio = median(r.product) / median(r.plain);
  rows.push({
    scenario: '1 baseline',
    figure: `wall time product/script, ${seconds(o.ratio.jobMs, 0)} job, poll ${o.ratio.pollSeconds} s (${o.ratio.pairs} pairs)`,
    value: `${ratio.toFixed(3)} (product ${seconds(median(r.product))}, script ${seconds(median(r.plain))})`,
    target: '<= 1.05',
    met: ratio <= 1.05,
  });
  const v = await pairs('overhead', o.overhead.jobMs, o.overhead.pollSeconds, o.overhead.pairs);
  // Paired: run i of the product against run i of the script, which ran right next to it.
  const overhead = v.product.map((p, i) => p - v.plain[i]);
  const limit = 300 + (o.overhead.pollSeconds * 1000) / 2;
  rows.push({
    scenario: '1 baseline',
    figure: `overhead product-script, ${seconds(o.overhead.jobMs, 0)} job, poll ${o.overhead.pollSeconds * 1000} ms (${o.overhead.pairs} pairs)`,
    value: `median ${seconds(median(overhead))}, p95 ${seconds(percentile(overhead, 95))} (product median ${seconds(median(v.product))}, script ${seconds(median(v.plain))})`,
    target: `median <= ${seconds(limit)} (0.3 s + poll/2)`,
    met: median(overhead) <= limit,
  });
  return { rows, twoUpdateHistory: history, notes };
}

/** A run with one update (a classic endpoint of its own) whose job runs `jobMs`; started now, counted when it ends. */
export async function startHistoryRun(
  stack: BenchStack,
  taskQueue: string,
  id: string,
  jobMs: number,
  pollSeconds: number,
): Promise<{ done: Promise<HistoryCount> }> {
  // Only this run's job gets the extra running time; the scenarios after it set their own.
  stack.emu.setJobFaults({ slowNext: { count: 1, extraMs: jobMs, serviceId: stack.emu.ids.trainingServiceId } });
  const input = stack.input(id, ['own'], pollSeconds);
  const handle = await startRetrain(stack.client, input, { taskQueue, workflowId: id });
  const model = `models/${id}.ilearner`;
  while (
    !stack.emu.inspect().jobs.some((j) => j.started > 0 && Object.values(j.outputs).some((x) => x.blobName === model))
  ) {
    await sleep(100);
  }
  const done = handle.result().then(() => countHistory(handle));
  // Awaited later; a failure meanwhile must not end the bench as an unhandled rejection before then.
  done.catch(() => undefined);
  return { done };
}

export function historyRows(
  short: { jobMs: number; count: HistoryCount },
  long: { jobMs: number; count: HistoryCount },
  two: HistoryCount | undefined,
): Row[] {
  const fmt = (c: HistoryCount) => `${c.events} events, ${c.bytes} bytes (${describeParts(c.parts)})`;
  const minutes = (ms: number) => (ms >= 60_000 ? `${(ms / 60_000).toFixed(0)} min` : seconds(ms, 0));
  const rows: Row[] = [
    {
      scenario: '2 history',
      figure: `one update, ${minutes(short.jobMs)} job`,
      value: fmt(short.count),
      target: '<= 40 events',
      met: short.count.events <= 40,
    },
    { scenario: '2 history', figure: `one update, ${minutes(long.jobMs)} job`, value: fmt(long.count) },
    {
      scenario: '2 history',
      figure: `equal counts, ${minutes(short.jobMs)} vs ${minutes(long.jobMs)} job`,
      value: `${short.count.events} vs ${long.count.events} events`,
      target: 'equal',
      met: short.count.events === long.count.events,
    },
  ];
  if (two) rows.push({ scenario: '2 history', figure: 'two updates (ARM + classic), baseline run', value: fmt(two) });
  return rows;
}

/**
 * The product's throughput (training-only runs, 0 ms jobs, all in flight at once) against the ceiling: as many
 * workflows, each running as many empty activities as a product run schedules, on a worker with the same options.
 */
export async function ceilingScenario(
  stack: BenchStack,
  o: { taskQueue: string; runs: number; tag: string; workerPid: number | undefined },
): Promise<{ rows: Row[]; notes: string[] }> {
  stack.setJobMs(0);
  const warm = await runProduct(stack, o.taskQueue, `${o.tag}-warm`, stack.input(`${o.tag}-warm`, [], 0.25));
  // CPU per run of each process, product and ceiling, to show where the product's extra cost is spent.
  const windows = (workerPid: number | undefined) =>
    [workerPid, stack.temporal.pid, process.pid].map((pid) => new ProcWindow(pid));
  const cpuPerRun = (w: ProcWindow[]) => w.map((x) => x.end().cpuMs / o.runs);
  const productCpu = windows(o.workerPid);
  const t0 = performance.now();
  const handles = await Promise.all(
    Array.from({ length: o.runs }, (_, i) =>
      runProduct(stack, o.taskQueue, `${o.tag}-${i}`, stack.input(`${o.tag}-${i}`, [], 0.25)),
    ),
  );
  const productSeconds = (performance.now() - t0) / 1000;
  const productMs = cpuPerRun(productCpu);
  const counts = await Promise.all([warm, ...handles.slice(0, 5)].map((h) => countHistory(h.handle)));
  const activities = median(counts.map((c) => c.activities));

  const queue = `${o.taskQueue}-ceiling`;
  const worker = await spawnNode(join(__dirname, 'ceiling-worker.js'), [queue], stack.childEnv, 'ceiling worker ready');
  try {
    const run = (id: string) =>
      stack.client.workflow.execute('emptyActivities', { taskQueue: queue, workflowId: id, args: [activities] });
    await run(`${o.tag}-ceiling-warm`);
    const ceilingCpu = windows(worker.pid);
    const c0 = performance.now();
    await Promise.all(Array.from({ length: o.runs }, (_, i) => run(`${o.tag}-ceiling-${i}`)));
    const ceilingSeconds = (performance.now() - c0) / 1000;
    const ceilingMs = cpuPerRun(ceilingCpu);
    const fmt = (ms: number[]) => ms.map((x) => `${x.toFixed(1)} ms`).join(' / ');
    const product = (o.runs / productSeconds) * 60;
    const ceiling = (o.runs / ceilingSeconds) * 60;
    const share = product / ceiling;
    return {
      rows: [
        {
          scenario: '3 ceiling',
          figure: `product throughput / ceiling, ${o.runs} runs in flight, ${activities} activities each`,
          value: `${share.toFixed(2)} (product ${product.toFixed(0)} runs/min, ceiling ${ceiling.toFixed(0)} workflows/min)`,
          target: '>= 0.8',
          met: share >= 0.8,
        },
        {
          scenario: '3 ceiling',
          figure: 'CPU per run: worker / dev server / bench process (emulator, Azurite, the bench)',
          value: `product ${fmt(productMs)}; ceiling ${fmt(ceilingMs)}`,
        },
      ],
      notes: [
        `ceiling: product runs are training-only with 0 ms BES jobs (a run's HTTP calls, the emulator and Azurite share the machine); the ceiling's workflows run ${activities} empty activities each, the median a product run scheduled`,
      ],
    };
  } finally {
    await worker.stop();
  }
}
