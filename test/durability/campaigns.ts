// Over 450 lines: each campaign is one function the fast tests and the soak share; splitting them would split that pairing.
/**
 * Campaigns shared by the fast tests (test/durability/*.test.ts) and the soak (test/soak/*.soak.ts): the same code
 * with different sizes.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Client } from '@temporalio/client';
import type { EmulatorInspection, FaultRule } from '../../emulator';
import { ALL_ROUTES } from '../../emulator/faults';
import type { DurabilityEnv, RunRecord, SecretScan, Verdict } from './harness';
import {
  OUTPUT_DIR,
  Prng,
  VERDICT_MARKER,
  cappedBundle,
  fastRetryBundle,
  faultCounts,
  judgeFinalServing,
  judgeRuns,
  observeServing,
  outcomes,
  productBundle,
  scanForSecrets,
  settle,
  startRun,
  writeSummary,
} from './harness';
import { WorkerProcess } from '../helpers/processes';

type Req = EmulatorInspection['requests'][number];

/** Polls the emulator's request log for requests that arrived since the last look. */
export class RequestWatch {
  private seen: number;
  private emu: DurabilityEnv['emu'];

  constructor(private readonly env: DurabilityEnv) {
    this.emu = env.emu;
    this.seen = env.emu.inspect().requests.length;
  }

  /** Resolves with the first new request matching `pred`, or null when `stop()` or the timeout comes first. */
  async next(
    pred: (r: Req, ins: EmulatorInspection) => boolean,
    stop: () => boolean,
    timeoutMs: number,
  ): Promise<Req | null> {
    const end = Date.now() + timeoutMs;
    while (!stop() && Date.now() < end) {
      if (this.env.emu !== this.emu) {
        // A restarted emulator starts a new request log.
        this.emu = this.env.emu;
        this.seen = 0;
      }
      const ins = this.env.emu.inspect();
      const fresh = ins.requests.slice(this.seen);
      this.seen = ins.requests.length;
      const hit = fresh.find((r) => pred(r, ins));
      if (hit) return hit;
      await sleep(15);
    }
    return null;
  }
}

const jobOf = (r: Req, ins: EmulatorInspection) => ins.jobs.find((j) => r.path.includes(`/jobs/${j.jobId}`));

/**
 * Where a worker gets killed, each recognised in the emulator's request log the moment the response went out: the
 * worker has the response but has not yet recorded the activity's result in Temporal.
 */
export const KILL_POINTS: Record<string, ((r: Req, ins: EmulatorInspection) => boolean) | 'time'> = {
  /** The job exists, its id only in the worker's memory (and its first heartbeat). */
  'after-submit': (r) => r.route === 'bes.submit' && r.status === 200,
  'after-start': (r) => r.route === 'bes.start' && r.status >= 200 && r.status < 300,
  'mid-poll': (r, ins) => r.route === 'bes.status' && jobOf(r, ins)?.status === 'Running',
  /** The last poll or the locate activity's read of a finished job. */
  'after-locate': (r, ins) => r.route === 'bes.status' && jobOf(r, ins)?.status === 'Finished',
  'after-token': (r) => r.route === 'token' && r.status === 200,
  'after-classic-get': (r) => r.route === 'classic.get' && r.status === 200,
  /** The classic endpoint points at the new model; the activity has not completed. */
  'after-classic-patch': (r) => r.route === 'classic.patch' && r.status >= 200 && r.status < 300,
  /** The ARM PATCH was accepted; its long-running operation is in progress. */
  'mid-arm-operation': (r) => r.route === 'arm.patch' && r.status >= 200 && r.status < 300,
  'arm-operation-poll': (r) => r.route === 'arm.operation' && r.status >= 200 && r.status < 300,
  /** A verification scoring call (the product's, not the verdicts') was answered: the model is being confirmed. */
  'mid-verify': (r) => isProductScoring(r) && r.status === 200,
  'random-time': 'time',
};

/** A scoring call the product made (verification), not one of the tests' own verdict calls. */
export function isProductScoring(r: Req): boolean {
  return r.route === 'rrs.execute' && !r.path.includes(VERDICT_MARKER);
}

export interface CrashCampaign {
  section: string;
  lanes: number;
  runsPerLane: number;
  seed: number;
  /** Stop killing after this long (runs then finish undisturbed). */
  killWindowMs: number;
  /** Stop killing after this many kills. */
  maxKills: number;
  /** A run that has not ended after this long counts as hung. */
  runTimeoutMs: number;
}

export interface CampaignResult {
  runs: RunRecord[];
  problems: string[];
  secrets: SecretScan;
  summary: Record<string, unknown>;
}

function shuffled<T>(items: T[], prng: Prng): T[] {
  const a = [...items];
  for (let i = a.length - 1; i > 0; i--) {
    const j = Math.floor(prng.next() * (i + 1));
    [a[i], a[j]] = [a[j], a[i]];
  }
  return a;
}

/** Start the lanes: each runs `runsPerLane` runs one after another. Resolves when all runs have ended. */
async function driveLanes(
  client: Client,
  env: DurabilityEnv,
  taskQueue: string,
  prefix: string,
  runsPerLane: number,
  runTimeoutMs: number,
  runs: RunRecord[],
): Promise<void> {
  await Promise.all(
    env.lanes.map(async (lane) => {
      for (let i = 0; i < runsPerLane; i++) {
        const started = Date.now();
        const run = await startRun(client, env, lane, taskQueue, `${prefix}-l${lane.index}-r${i}`);
        runs.push(run);
        const hung = sleep(runTimeoutMs, 'hung' as const, { ref: false });
        if ((await Promise.race([settle(run, started), hung])) === 'hung') {
          run.outcome = 'error';
          run.error = `did not end within ${runTimeoutMs} ms`;
          await run.handle!.terminate('durability test: hung').catch(() => undefined);
          return;
        }
        // Which model the lane's services serve now, before the lane's next run: judged by judgeRuns.
        run.served = await observeServing(env, lane);
      }
    }),
  );
}

/**
 * kill -9 the worker process at points chosen by watching the emulator (seeded, so a failure can be replayed),
 * restart it, and check every run from the emulator's side.
 */
export async function runCrashCampaign(client: Client, env: DurabilityEnv, c: CrashCampaign): Promise<CampaignResult> {
  const prng = new Prng(c.seed);
  const taskQueue = `${c.section}-${c.seed}-${Date.now().toString(36)}`;
  const worker = new WorkerProcess({
    configDir: env.configDir,
    taskQueue,
    env: workerEnv(env),
    bundlePath: await cappedBundle(),
    logFile: join(OUTPUT_DIR, 'durability', 'logs', `${c.section}-worker.log`),
  });
  const t0 = Date.now();
  await worker.start();
  const runs: RunRecord[] = [];
  let done = false;
  const driving = driveLanes(client, env, taskQueue, taskQueue, c.runsPerLane, c.runTimeoutMs, runs).finally(
    () => (done = true),
  );

  const kills: Record<string, number> = {};
  const notFired: Record<string, number> = {};
  const restartMs: number[] = [];
  const watch = new RequestWatch(env);
  const killing = () => done || Date.now() - t0 > c.killWindowMs || worker.kills >= c.maxKills;
  let order: string[] = [];
  while (!killing()) {
    if (order.length === 0) order = shuffled(Object.keys(KILL_POINTS), prng);
    const point = order.shift()!;
    const trigger = KILL_POINTS[point];
    if (trigger === 'time') {
      await sleep(200 + Math.floor(prng.next() * 2800));
    } else {
      const hit = await watch.next(trigger, killing, 15_000);
      if (!hit) {
        notFired[point] = (notFired[point] ?? 0) + 1;
        continue;
      }
      // A little jitter: sometimes before the worker saw the response, sometimes after it acted on it.
      await sleep(Math.floor(prng.next() * 40));
    }
    if (done) break;
    await worker.kill9();
    kills[point] = (kills[point] ?? 0) + 1;
    await sleep(Math.floor(prng.next() * 500));
    const restartAt = Date.now();
    await worker.start();
    restartMs.push(Date.now() - restartAt);
  }
  await driving;
  const elapsedMs = Date.now() - t0;
  await worker.stop();

  const inspection = env.emu.inspect();
  const verdict = judgeRuns(inspection, runs, env.container);
  verdict.problems.push(...(await judgeFinalServing(env, runs)));
  const secrets = await scanCampaign(env, runs, c.section, worker);
  const summary = {
    runs: runs.length,
    lanes: c.lanes,
    seed: c.seed,
    kills: worker.kills,
    restarts: worker.starts - 1,
    killsByPoint: kills,
    killPointsNotReached: notFired,
    outcomes: outcomes(runs),
    ...exactlyOnce(verdict),
    ...verdictCounts(verdict),
    faultsInjected: faultCounts(inspection.requests),
    meanRestartMs: restartMs.length ? Math.round(restartMs.reduce((a, b) => a + b, 0) / restartMs.length) : 0,
    slowestRunMs: Math.max(0, ...runs.map((r) => r.durationMs ?? 0)),
    elapsedMs,
    secretsScan: scanCounts(secrets),
    problems: verdict.problems.length,
  };
  writeSummary(c.section, summary);
  return { runs, problems: verdict.problems, secrets, summary };
}

// ---------------------------------------------------------------------------------------------------------------
// What every campaign reports
// ---------------------------------------------------------------------------------------------------------------

/** Every history of the campaign's runs and the worker's output, searched for every secret. */
function scanCampaign(
  env: DurabilityEnv,
  runs: RunRecord[],
  section: string,
  worker: WorkerProcess,
): Promise<SecretScan> {
  return scanForSecrets(
    env.secrets,
    runs.map((r) => r.handle!),
    [{ name: `${section} worker output`, text: worker.output }],
  );
}

function scanCounts(s: SecretScan): { histories: number; bytes: number; leaks: number } {
  return { histories: s.historiesScanned, bytes: s.bytesScanned, leaks: s.leaks.length };
}

/** The exactly-once and live-model verdicts, as figures for the summary line. */
function exactlyOnce(v: Verdict): {
  startedJobsPerRun: 1 | 'VIOLATED';
  effectiveUpdatesPerService: 1 | 'VIOLATED';
  newestModelLiveAfterEveryRun: 'yes' | 'VIOLATED';
} {
  const live = /right after the run|at the end|serves|after the newer model/;
  return {
    startedJobsPerRun: v.problems.some((p) => p.includes('started jobs')) ? 'VIOLATED' : 1,
    effectiveUpdatesPerService: v.problems.some((p) => p.includes('effective updates')) ? 'VIOLATED' : 1,
    newestModelLiveAfterEveryRun: v.problems.some((p) => live.test(p)) ? 'VIOLATED' : 'yes',
  };
}

function verdictCounts(v: Verdict) {
  return {
    orphanNotStartedJobs: v.orphanJobs,
    startsRetriedOnRunningJob: v.refusedStarts,
    repeatedUpdateRequests: v.repeatedUpdates,
    updatesFoundAlreadyLive: v.alreadyApplied,
  };
}

/** Environment of a worker child process: the emulator's (CA, authority host) and the Temporal server's. */
export function workerEnv(env: DurabilityEnv, temporalAddress = process.env.TEMPORAL_ADDRESS!): Record<string, string> {
  return {
    ...env.emu.env,
    TEMPORAL_ADDRESS: temporalAddress,
    TEMPORAL_NAMESPACE: process.env.TEMPORAL_NAMESPACE ?? 'default',
    // The emulator provisions ARM changes in 300 ms; the production poll (5 s) would only make tests wait.
    ML_ARM_POLL_INTERVAL_MS: '100',
  };
}

/**
 * One Retry-After for every 429, so the request log alone says how long each retry had to wait. Longer than the
 * product's first retry intervals (2 s, 4 s): a retry that ignored it would come too early and be caught.
 */
export const RETRY_AFTER_S = 5;

/**
 * About 20 % of the requests on every route get a fault, mixed over the kinds; the token endpoint's share is mostly
 * 429 (Entra's throttling). Seeded by the emulator, so a failure can be replayed.
 */
export function mixedFaults(): FaultRule[] {
  const api = ALL_ROUTES.filter((r) => r !== 'token');
  // Rules are tried in order and the first status/reset that hits wins, so the shares compound to about 20 %.
  return [
    { routes: api, probability: 0.05, kind: { type: 'status', status: 429, retryAfterSeconds: RETRY_AFTER_S } },
    { routes: api, probability: 0.05, kind: { type: 'status', status: 503 } },
    { routes: api, probability: 0.05, kind: { type: 'status', status: 500 } },
    { routes: api, probability: 0.03, kind: { type: 'reset' } },
    { routes: api, probability: 0.03, kind: { type: 'reset', phase: 'after' } },
    { routes: ['token'], probability: 0.12, kind: { type: 'status', status: 429, retryAfterSeconds: RETRY_AFTER_S } },
    { routes: ['token'], probability: 0.04, kind: { type: 'status', status: 503 } },
    { routes: ['token'], probability: 0.02, kind: { type: 'reset' } },
    { probability: 0.03, kind: { type: 'latency', ms: 300 } },
  ];
}

export interface RetryAfterCheck {
  /** 429 (and 503 with Retry-After) answers seen. */
  throttled: number;
  /** The retries that followed them (same method and resource). */
  retries: number;
  /** Retries that came earlier than Retry-After allowed. */
  early: string[];
  /** Shortest gap between a throttled answer and its retry, in ms, relative to Retry-After. */
  minMarginMs: number | null;
}

/**
 * From the request log: after every answer with Retry-After, the next request for the same method and path must
 * arrive no earlier than Retry-After after that answer went out (arrival + duration). Unambiguous because within a
 * lane runs go one at a time and lanes never share a path: job ids, endpoint and service names differ, the submit
 * URL carries a lane marker, and lanes 0 and 1 name their Entra tenant differently (domain, GUID) - hence at most
 * two lanes in a fault campaign.
 */
export function checkRetryAfter(requests: Req[], retryAfterByFault: Record<string, number>): RetryAfterCheck {
  const out: RetryAfterCheck = { throttled: 0, retries: 0, early: [], minMarginMs: null };
  requests.forEach((r, i) => {
    const ra = r.fault
      ? r.fault.split(',').map((f) => retryAfterByFault[`${r.route}|${f}`] ?? retryAfterByFault[f])
      : [];
    const seconds = ra.find((x) => x !== undefined);
    if (seconds === undefined) return;
    out.throttled++;
    const answeredAt = r.atMs + r.durationMs;
    const next = requests.slice(i + 1).find((n) => n.method === r.method && n.path === r.path && n.atMs >= r.atMs);
    if (!next) return;
    out.retries++;
    const margin = next.atMs - answeredAt - seconds * 1000;
    out.minMarginMs = out.minMarginMs === null ? margin : Math.min(out.minMarginMs, margin);
    if (margin < 0)
      out.early.push(`${r.method} ${r.route} retried ${next.atMs - answeredAt} ms after Retry-After: ${seconds}`);
  });
  return out;
}

export interface FaultCampaign {
  section: string;
  lanes: number;
  runsPerLane: number;
  seed: number;
  runTimeoutMs: number;
  /** Retry pauses capped at 5 s (./fast-retries.ts) instead of the product's up to 1 min, for the fast test. */
  fastRetries: boolean;
}

/** Runs under 20 % mixed faults on every route, with the product's own timeouts and retry policies. */
export async function runFaultCampaign(
  client: Client,
  env: DurabilityEnv,
  c: FaultCampaign,
): Promise<CampaignResult & { retryAfter: RetryAfterCheck }> {
  if (c.lanes > 2) throw new Error('a fault campaign runs at most 2 lanes (see checkRetryAfter)');
  const taskQueue = `${c.section}-${c.seed}-${Date.now().toString(36)}`;
  const worker = new WorkerProcess({
    configDir: env.configDir,
    taskQueue,
    env: workerEnv(env),
    bundlePath: c.fastRetries ? await fastRetryBundle() : await productBundle(),
    logFile: join(OUTPUT_DIR, 'durability', 'logs', `${c.section}-worker.log`),
  });
  const t0 = Date.now();
  await worker.start();
  const from = env.emu.inspect().requests.length;
  const rules = mixedFaults();
  env.emu.setFaults(rules);
  const runs: RunRecord[] = [];
  try {
    await driveLanes(client, env, taskQueue, taskQueue, c.runsPerLane, c.runTimeoutMs, runs);
  } finally {
    env.emu.setFaults([]);
    await worker.stop();
  }
  const elapsedMs = Date.now() - t0;
  const inspection = env.emu.inspect();
  // The product's requests: the verdicts' own scoring calls are the tests', not the product's retries.
  const requests = inspection.requests.slice(from).filter((r) => !r.path.includes(VERDICT_MARKER));
  const verdict = judgeRuns(inspection, runs, env.container);
  verdict.problems.push(...(await judgeFinalServing(env, runs)));
  const retryAfter = checkRetryAfter(requests, { '429': RETRY_AFTER_S });
  // The request log next to the worker's, to see what happened when a check fails.
  writeFileSync(
    join(OUTPUT_DIR, 'durability', 'logs', `${c.section}-requests.json`),
    JSON.stringify(requests.map((r) => ({ ...r, at: undefined }))),
  );
  const faults = faultCounts(requests);
  const secrets = await scanCampaign(env, runs, c.section, worker);
  const faulted = requests.filter((r) => r.fault).length;
  const summary = {
    runs: runs.length,
    lanes: c.lanes,
    seed: c.seed,
    requests: requests.length,
    faultedRequests: faulted,
    faultRate: Number((faulted / Math.max(1, requests.length)).toFixed(3)),
    faultsInjected: faults,
    tokenRequests: requests.filter((r) => r.route === 'token').length,
    tokenFaults: requests.filter((r) => r.route === 'token' && r.fault).length,
    throttledAnswers: retryAfter.throttled,
    retriesAfterThrottle: retryAfter.retries,
    retriesEarlierThanRetryAfter: retryAfter.early.length,
    minRetryAfterMarginMs: retryAfter.minMarginMs,
    outcomes: outcomes(runs),
    ...exactlyOnce(verdict),
    ...verdictCounts(verdict),
    elapsedMs,
    secretsScan: scanCounts(secrets),
    problems: verdict.problems.length,
  };
  writeSummary(c.section, summary);
  return { runs, problems: [...verdict.problems, ...retryAfter.early], secrets, summary, retryAfter };
}

// ---------------------------------------------------------------------------------------------------------------
// Outages: the Temporal server killed -9 and restarted on its SQLite file, or the emulator restarted on its state
// ---------------------------------------------------------------------------------------------------------------

/**
 * Where an outage starts: while a job trains, mid ARM operation, right after a submit or a classic PATCH, while a
 * new model is verified by scoring, or at a random time.
 */
const OUTAGE_POINTS = [
  'mid-poll',
  'mid-arm-operation',
  'after-submit',
  'after-classic-patch',
  'mid-verify',
  'random-time',
];

export interface Outages {
  /** Takes the service down (kill -9 / close). */
  down(): Promise<void>;
  /** Brings it back on the same address with the same state. */
  up(): Promise<void>;
}

export interface OutageCampaign {
  section: string;
  lanes: number;
  runsPerLane: number;
  seed: number;
  outages: number;
  /** Down time, ms: [min, max). */
  downMs: [number, number];
  runTimeoutMs: number;
  /** The worker's Temporal address (the crashing server's, for server outages). */
  temporalAddress?: string;
  /** Capped activity timeouts (./fast-timeouts.ts): completions lost with a dead server are retried sooner. */
  capped: boolean;
}

export async function runOutageCampaign(
  client: Client,
  env: DurabilityEnv,
  c: OutageCampaign,
  outages: Outages,
): Promise<CampaignResult> {
  const prng = new Prng(c.seed);
  const taskQueue = `${c.section}-${c.seed}-${Date.now().toString(36)}`;
  const worker = new WorkerProcess({
    configDir: env.configDir,
    taskQueue,
    env: workerEnv(env, c.temporalAddress),
    bundlePath: c.capped ? await cappedBundle() : await productBundle(),
    logFile: join(OUTPUT_DIR, 'durability', 'logs', `${c.section}-worker.log`),
  });
  const t0 = Date.now();
  await worker.start();
  const runs: RunRecord[] = [];
  let done = false;
  const driving = driveLanes(client, env, taskQueue, taskQueue, c.runsPerLane, c.runTimeoutMs, runs).finally(
    () => (done = true),
  );
  const watch = new RequestWatch(env);
  const byPoint: Record<string, number> = {};
  const downFor: number[] = [];
  let order: string[] = [];
  while (!done && downFor.length < c.outages) {
    if (order.length === 0) order = shuffled(OUTAGE_POINTS, prng);
    const point = order.shift()!;
    const trigger = KILL_POINTS[point];
    if (trigger === 'time') await sleep(500 + Math.floor(prng.next() * 3000));
    else if (!(await watch.next(trigger, () => done, 20_000))) continue;
    if (done) break;
    const ms = c.downMs[0] + Math.floor(prng.next() * (c.downMs[1] - c.downMs[0]));
    const wentDown = Date.now();
    await outages.down();
    await sleep(ms);
    await outages.up();
    downFor.push(Date.now() - wentDown);
    byPoint[point] = (byPoint[point] ?? 0) + 1;
    // Let the runs make progress before the next outage.
    await sleep(1000 + Math.floor(prng.next() * 2000));
  }
  await driving;
  const elapsedMs = Date.now() - t0;
  const workerSurvived = worker.running && worker.starts === 1;
  await worker.stop();

  const inspection = env.emu.inspect();
  const verdict = judgeRuns(inspection, runs, env.container);
  verdict.problems.push(...(await judgeFinalServing(env, runs)));
  if (!workerSurvived) verdict.problems.push('the worker process did not survive the outages on its own');
  const secrets = await scanCampaign(env, runs, c.section, worker);
  const summary = {
    runs: runs.length,
    lanes: c.lanes,
    seed: c.seed,
    outages: downFor.length,
    outagesByPoint: byPoint,
    downMs: downFor,
    workerRestarts: worker.starts - 1,
    outcomes: outcomes(runs),
    ...exactlyOnce(verdict),
    ...verdictCounts(verdict),
    slowestRunMs: Math.max(0, ...runs.map((r) => r.durationMs ?? 0)),
    elapsedMs,
    secretsScan: scanCounts(secrets),
    problems: verdict.problems.length,
  };
  writeSummary(c.section, summary);
  return { runs, problems: verdict.problems, secrets, summary };
}
