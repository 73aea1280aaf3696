import { join } from 'node:path';
import { Command } from 'commander';
import { fleetScenario } from './bench/fleet';
import type { HistoryCount } from './bench/history';
import type { Row } from './bench/report';
import { renderTable, writeBenchmarksMd } from './bench/report';
import { explanation } from './bench/explain';
import { BaselineProcess, runProduct } from './bench/runs';
import { baselineScenario, ceilingScenario, historyRows, startHistoryRun } from './bench/scenarios';
import type { BenchStack, ChildHandle } from './bench/stack';
import { startStack, startWorkerProcess } from './bench/stack';
import { startupScenario } from './bench/startup';

/**
 * `npm run bench` (`-- --quick` for a small version of every scenario): a fresh dev server and emulator, the
 * product's worker in its own process, and the five scenarios of issue 13 side by side with what they are compared
 * with: a plain script making the same HTTP calls, the server's ceiling with empty activities, a fleet on one
 * worker, and the demo's start-up. Prints one table and writes it, with the machine, to BENCHMARKS.md.
 */

interface Plan {
  ratio: { jobMs: number; pollSeconds: number; pairs: number };
  overhead: { jobMs: number; pollSeconds: number; pairs: number };
  history: { shortMs: number; longMs: number; pollSeconds: number };
  ceilingRuns: number;
  fleet: { runs: number; jobMs: number; pollSeconds: number; timeoutMs: number };
  coldStart: boolean;
}

function plan(o: { quick?: boolean; fleetRuns?: string; fleetTimeoutMin?: string; longJobMin?: string }): Plan {
  const quick = !!o.quick;
  const p: Plan = quick
    ? {
        ratio: { jobMs: 5_000, pollSeconds: 0.5, pairs: 1 },
        overhead: { jobMs: 2_000, pollSeconds: 0.25, pairs: 3 },
        history: { shortMs: 5_000, longMs: 40_000, pollSeconds: 10 },
        ceilingRuns: 20,
        fleet: { runs: 40, jobMs: 10_000, pollSeconds: 2, timeoutMs: 3 * 60_000 },
        coldStart: false,
      }
    : {
        ratio: { jobMs: 20_000, pollSeconds: 0.5, pairs: 3 },
        overhead: { jobMs: 2_000, pollSeconds: 0.25, pairs: 20 },
        history: { shortMs: 5_000, longMs: 30 * 60_000, pollSeconds: 10 },
        ceilingRuns: 200,
        fleet: { runs: 1000, jobMs: 30_000, pollSeconds: 10, timeoutMs: 30 * 60_000 },
        coldStart: true,
      };
  if (o.fleetRuns) p.fleet.runs = Number(o.fleetRuns);
  if (o.fleetTimeoutMin) p.fleet.timeoutMs = Number(o.fleetTimeoutMin) * 60_000;
  if (o.longJobMin) p.history.longMs = Number(o.longJobMin) * 60_000;
  return p;
}

async function main(): Promise<void> {
  const opts = new Command('bench')
    .option('--quick', 'a small version of every scenario, in under 2 minutes (no cold start)')
    .option('--fleet-runs <n>', 'concurrent runs in the fleet scenario (default 1000; 40 with --quick)')
    .option('--fleet-timeout-min <n>', 'stop waiting for the fleet after this many minutes (default 30)')
    .option('--long-job-min <n>', 'the long job of the history scenario, in minutes (default 30)')
    .option('--skip-startup', 'leave out the start-up scenario (it runs `npm run demo`)')
    .option(
      '--only <scenarios>',
      'comma-separated subset to run while tuning: baseline, history, ceiling, fleet, startup (default all)',
    )
    .option('--out <file>', 'where to write the results', join(__dirname, '..', '..', 'BENCHMARKS.md'))
    .parse()
    .opts<{
      quick?: boolean;
      fleetRuns?: string;
      fleetTimeoutMin?: string;
      longJobMin?: string;
      skipStartup?: boolean;
      only?: string;
      out: string;
    }>();
  const p = plan(opts);
  const all = ['baseline', 'history', 'ceiling', 'fleet', 'startup'];
  const only = opts.only ? opts.only.split(',').map((s) => s.trim()) : all;
  const unknown = only.filter((s) => !all.includes(s));
  if (unknown.length) throw new Error(`--only: unknown scenario ${unknown.join(', ')}; known: ${all.join(', ')}`);
  const runs = (s: string) => only.includes(s) && (s !== 'startup' || !opts.skipStartup);
  const t0 = Date.now();
  const log = (line: string) => console.log(`[bench ${((Date.now() - t0) / 1000).toFixed(0).padStart(4)}s] ${line}`);
  const rows: Row[] = [];
  const notes: string[] = [];
  const tag = `b${t0.toString(36)}`;
  const taskQueue = `${tag}-main`;
  let stack: BenchStack | undefined;
  let worker: ChildHandle | undefined;
  let script: BaselineProcess | undefined;
  try {
    log('starting a dev server and the emulator');
    stack = await startStack(log);
    worker = await startWorkerProcess(stack, taskQueue);
    script = await BaselineProcess.start(stack);
    log('warming up: one product run and one script run');
    stack.setJobMs(0);
    await runProduct(stack, taskQueue, `${tag}-warm`, stack.input(`${tag}-warm`, ['arm', 'classic'], 0.25));
    await script.run(`${tag}-warm-s`, stack.input(`${tag}-warm-s`, ['arm', 'classic'], 0.25));

    let history: { long: Promise<HistoryCount>; short: HistoryCount } | undefined;
    if (runs('history')) {
      log(`history: a ${p.history.longMs / 1000} s job in the background, then a ${p.history.shortMs / 1000} s job`);
      const long = await startHistoryRun(stack, taskQueue, `${tag}-long`, p.history.longMs, p.history.pollSeconds);
      const short = await startHistoryRun(stack, taskQueue, `${tag}-short`, p.history.shortMs, p.history.pollSeconds);
      history = { long: long.done, short: await short.done };
    }

    let twoUpdateHistory: HistoryCount | undefined;
    if (runs('baseline')) {
      log('baseline: product and plain script, run for run');
      const baseline = await baselineScenario(stack, script, { taskQueue, ratio: p.ratio, overhead: p.overhead }, tag);
      rows.push(...baseline.rows);
      notes.push(...baseline.notes);
      twoUpdateHistory = baseline.twoUpdateHistory;
    }

    if (runs('ceiling')) {
      log(`ceiling: ${p.ceilingRuns} product runs, then as many empty-activity workflows`);
      const ceiling = await ceilingScenario(stack, { taskQueue, runs: p.ceilingRuns, tag, workerPid: worker.pid });
      notes.push(...ceiling.notes);
      rows.push(...ceiling.rows);
    }

    if (runs('fleet')) {
      log(`fleet: ${p.fleet.runs} runs of ${p.fleet.jobMs / 1000} s jobs on one fresh worker process`);
      rows.push(...(await fleetScenario(stack, { ...p.fleet, tag }, log)));
    }

    if (history) {
      log('history: waiting for the long job');
      const longCount: HistoryCount = await history.long;
      rows.push(
        ...historyRows(
          { jobMs: p.history.shortMs, count: history.short },
          { jobMs: p.history.longMs, count: longCount },
          twoUpdateHistory,
        ),
      );
    }
  } finally {
    await script?.stop();
    await worker?.stop();
    await stack?.close();
  }
  if (runs('startup')) rows.push(...(await startupScenario({ cold: p.coldStart }, log)));

  const order = (r: Row) => Number(r.scenario.split(' ')[0]);
  rows.sort((a, b) => order(a) - order(b));
  const command = `npm run bench${process.argv.length > 2 ? ` -- ${process.argv.slice(2).join(' ')}` : ''}`;
  console.log(`\n${renderTable(rows)}\n`);
  for (const n of notes) console.log(`note: ${n}`);
  await writeBenchmarksMd(opts.out, {
    rows,
    command,
    quick: !!opts.quick,
    wallSeconds: (Date.now() - t0) / 1000,
    notes,
    sections: explanation(p.history.longMs),
  });
  log(`wrote ${opts.out}`);
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
