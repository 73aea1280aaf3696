/** Verdicts from the world for the durability tests: what the emulator saw and what the services serve. */
import { setTimeout as sleep } from 'node:timers/promises';
import type { EmulatorInspection } from '../../emulator';
import type { ServiceRef } from '../helpers/world';
import { liveJob, scoredBy } from '../helpers/world';
import type { DurabilityEnv, Lane, LaneServing, RunRecord, Served } from './harness';

// ---------------------------------------------------------------------------------------------------------------
// Verdicts from the emulator's inspection
// ---------------------------------------------------------------------------------------------------------------

/**
 * Effective updates per target: updates that changed which model the target points at. A repeated update with the
 * model already in place (a retried PATCH) is recorded by the emulator but changes nothing, so it does not count.
 */
export function effectiveUpdates(updates: EmulatorInspection['updates']): {
  effective: Map<string, number>;
  repeated: Map<string, number>;
} {
  const current = new Map<string, string | null>();
  const effective = new Map<string, number>();
  const repeated = new Map<string, number>();
  for (const u of updates) {
    const key = `${u.target}|${u.modelJobId}`;
    if (current.get(u.target) === u.modelJobId) repeated.set(key, (repeated.get(key) ?? 0) + 1);
    else effective.set(key, (effective.get(key) ?? 0) + 1);
    current.set(u.target, u.modelJobId);
  }
  return { effective, repeated };
}

export interface Verdict {
  problems: string[];
  /** Submitted jobs that were never started (a submit retried after its response was lost). */
  orphanJobs: number;
  /** Start requests refused because the job already ran (a start retried after its response was lost). */
  refusedStarts: number;
  /** Update requests that found their model already in place and changed nothing. */
  repeatedUpdates: number;
  /** Updates a run reported `AlreadyLive`: its scoring service's workflow found the model live already. */
  alreadyApplied: number;
}

/** A run's own BES jobs: every output of a run's job is under `runs/<workflow id>/` (the eval output at least). */
export function jobsOfRun(inspection: EmulatorInspection, run: RunRecord, container: string) {
  const dir = `runs/${run.workflowId}/`;
  return inspection.jobs.filter((j) =>
    Object.values(j.outputs).some(
      (o) => o.container === container && (o.blobName === run.modelBlob || o.blobName.startsWith(dir)),
    ),
  );
}

/**
 * Which model a service serves, asked of the world: a user's scoring call (RRS execute, marked as the tests' own),
 * then the emulator's live model. Calls are retried through injected faults and emulator restarts for up to
 * `timeoutMs`; after that the last error is the answer.
 */
export async function servedBy(env: DurabilityEnv, s: ServiceRef, timeoutMs = 60_000): Promise<Served> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    let error: string;
    try {
      const answer = scoredBy(env.emu, s);
      const late = sleep(15_000, 'no answer within 15 s', { ref: false });
      const scored = await Promise.race([answer, late.then((m) => Promise.reject(new Error(m)))]);
      return { live: liveJob(env.emu, s), scored };
    } catch (e) {
      error = (e as Error).message;
    }
    if (Date.now() > end) return { live: liveJob(env.emu, s), scored: null, error };
    await sleep(500);
  }
}

/** What both services of a lane serve now. */
export async function observeServing(env: DurabilityEnv, lane: Lane): Promise<LaneServing> {
  return { arm: await servedBy(env, lane.arm), classic: await servedBy(env, lane.classic) };
}

/** Outcomes a run that completed may report for an update: its model went live, or was found live (a retry). */
const LIVE_OUTCOMES: readonly (string | undefined)[] = ['Deployed', 'AlreadyLive'];

/**
 * For every run: it completed; exactly one of its BES jobs was started, exactly once, and it is the run's job; its
 * other jobs (orphans of a lost submit response) never started; each of its two scoring services changed to its
 * model exactly once; and right after it ended, both services served its model, by the emulator's live model and by
 * a scoring call (`run.served`). On every service no run's model was applied after a later run's (runs in a lane go
 * one after another, so a later run's model is the newer one), and at the end each lane's services serve its last
 * run's model.
 */
export function judgeRuns(inspection: EmulatorInspection, runs: RunRecord[], container: string): Verdict {
  const problems: string[] = [];
  const { effective, repeated } = effectiveUpdates(inspection.updates);
  let orphanJobs = 0;
  let refusedStarts = 0;
  let alreadyApplied = 0;
  const jobOf = new Map<RunRecord, string>();
  for (const run of runs) {
    const tag = `${run.workflowId} (lane ${run.lane.index})`;
    const jobs = jobsOfRun(inspection, run, container);
    // A job starts at most once (NotStarted → Running); the emulator's `started` counts start requests, refused
    // ones included (a start retried after its response was lost finds the job running).
    const started = jobs.filter((j) => j.startedAt !== null);
    if (started.length === 1) jobOf.set(run, started[0].jobId);
    if (run.outcome !== 'completed') {
      problems.push(`${tag}: ${run.outcome}: ${run.error}`);
      continue;
    }
    const jobId = run.result!.jobId;
    if (started.length !== 1 || started[0].jobId !== jobId) {
      problems.push(`${tag}: started jobs ${JSON.stringify(started.map((j) => j.jobId))}, result job ${jobId}`);
    }
    orphanJobs += jobs.length - started.length;
    refusedStarts += started.reduce((n, j) => n + j.started, 0) - started.length;
    for (const t of [run.lane.arm.target, run.lane.classic.target]) {
      const n = effective.get(`${t}|${jobId}`) ?? 0;
      if (n !== 1) problems.push(`${tag}: ${n} effective updates of ${t}`);
    }
    // The run's claim, checked against the world below.
    const claimed = run.result!.updates.map((u) => u.outcome);
    if (!claimed.every((o) => LIVE_OUTCOMES.includes(o))) {
      problems.push(`${tag}: reported update outcomes ${JSON.stringify(claimed)}`);
    }
    alreadyApplied += run.result!.updates.filter((u) => u.alreadyApplied).length;
    if (!run.served) {
      problems.push(`${tag}: what its services served after it ended was never observed`);
    } else {
      for (const kind of ['arm', 'classic'] as const) {
        const s = run.served[kind];
        if (s.live !== jobId || s.scored !== jobId) {
          problems.push(
            `${tag}: right after the run, ${run.lane[kind].target} had live model ${s.live} and a scoring call ` +
              `answered ${s.scored ?? `nothing (${s.error})`}, not ${jobId}`,
          );
        }
      }
    }
  }
  problems.push(...judgeUpdateOrder(inspection, runs, jobOf));
  const byLane = new Map<number, RunRecord>();
  for (const run of runs) byLane.set(run.lane.index, run);
  for (const [, run] of byLane) {
    if (run.outcome !== 'completed') continue;
    for (const t of [run.lane.arm.target, run.lane.classic.target]) {
      const live = inspection.liveModels[t];
      if (live !== run.result!.jobId)
        problems.push(`lane ${run.lane.index}: ${t} serves ${live}, not ${run.result!.jobId}`);
    }
  }
  let repeatedUpdates = 0;
  for (const n of repeated.values()) repeatedUpdates += n;
  return { problems, orphanJobs, refusedStarts, repeatedUpdates, alreadyApplied };
}

/**
 * No older model re-applied after a newer one: on each lane service, the update log (every update the emulator
 * received, in order) names the models of the lane's runs in the order the runs ran. `runs` is in start order, and
 * a lane's runs go one after another.
 */
function judgeUpdateOrder(inspection: EmulatorInspection, runs: RunRecord[], jobOf: Map<RunRecord, string>): string[] {
  const problems: string[] = [];
  const lanes = new Map<number, RunRecord[]>();
  for (const run of runs) lanes.set(run.lane.index, [...(lanes.get(run.lane.index) ?? []), run]);
  for (const laneRuns of lanes.values()) {
    const order = new Map<string, number>();
    laneRuns.forEach((r, i) => jobOf.has(r) && order.set(jobOf.get(r)!, i));
    const lane = laneRuns[0].lane;
    for (const t of [lane.arm.target, lane.classic.target]) {
      let newest: { i: number; job: string } | null = null;
      for (const u of inspection.updates.filter((x) => x.target === t)) {
        const i = u.modelJobId === null ? undefined : order.get(u.modelJobId);
        if (i === undefined) continue;
        if (newest && i < newest.i) {
          problems.push(
            `lane ${lane.index}: ${t} got the model of ${laneRuns[i].workflowId} (${u.modelJobId}) at ${u.at}, ` +
              `after the newer model of ${laneRuns[newest.i].workflowId} (${newest.job})`,
          );
        } else newest = { i, job: u.modelJobId! };
      }
    }
  }
  return problems;
}

/**
 * The world at the end of a campaign, by scoring calls: each lane's services answer with the last run's model (the
 * emulator's live model is judged by judgeRuns from the same inspection).
 */
export async function judgeFinalServing(env: DurabilityEnv, runs: RunRecord[]): Promise<string[]> {
  const last = new Map<number, RunRecord>();
  for (const run of runs) last.set(run.lane.index, run);
  const problems: string[] = [];
  for (const run of last.values()) {
    if (run.outcome !== 'completed') continue;
    const now = await observeServing(env, run.lane);
    for (const kind of ['arm', 'classic'] as const) {
      const s = now[kind];
      if (s.scored !== run.result!.jobId || s.live !== run.result!.jobId) {
        problems.push(
          `lane ${run.lane.index}: at the end ${run.lane[kind].target} has live model ${s.live} and a scoring call ` +
            `answered ${s.scored ?? `nothing (${s.error})`}, not the last run's ${run.result!.jobId}`,
        );
      }
    }
  }
  return problems;
}

export function outcomes(runs: RunRecord[]): Record<string, number> {
  const out: Record<string, number> = {};
  for (const r of runs) out[r.outcome ?? 'unfinished'] = (out[r.outcome ?? 'unfinished'] ?? 0) + 1;
  return out;
}

/** Faults the emulator applied, by label ('429', '503', 'reset', 'reset-after', 'latency:200', ...). */
export function faultCounts(requests: EmulatorInspection['requests']): Record<string, number> {
  const out: Record<string, number> = {};
  for (const r of requests) {
    if (!r.fault) continue;
    for (const f of r.fault.split(',')) {
      const kind = f.startsWith('latency') ? 'latency' : f;
      out[kind] = (out[kind] ?? 0) + 1;
    }
  }
  return out;
}
