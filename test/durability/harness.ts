/**
 * Shared pieces of the durability tests (test/durability, test/soak): the emulator with independent "lanes" of
 * scoring services, workflow bundles, run inputs, and the accounting that turns the world into verdicts (one started
 * job per run, one effective update per scoring service, the run's model live after it by the emulator and by a
 * scoring call, no older model applied after a newer one) and numbers for the summary.
 */
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { mkdtemp, readFile, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Client, WorkflowHandle } from '@temporalio/client';
import type { Duration } from '@temporalio/common';
import { WorkflowIdConflictPolicy } from '@temporalio/common';
import { WorkflowFailedError } from '@temporalio/client';
import { bundleWorkflowCode } from '@temporalio/worker';
import { BlobServiceClient } from '@azure/storage-blob';
import { ClientSecretCredential } from '@azure/identity';
import { startEmulator } from '../../emulator';
import type { AdfLinkedServiceJson, EmulatorHandle, EmulatorInspection, EmulatorOptions } from '../../emulator';
import { Prng } from '../../emulator/random';
import type { RetrainAndUpdateInput, RetrainAndUpdateResult } from '../../common/types';
import type { ServiceRef } from '../helpers/world';
import { liveJob, scoredBy } from '../helpers/world';
import { retrainInput } from '../helpers/inputs';
import { ROOT } from '../helpers/processes';

export { Prng };

export const OUTPUT_DIR = process.env.ML_TEST_OUTPUT_DIR ?? join(ROOT, 'test-output');

const quietLogger = {
  trace: () => undefined,
  debug: () => undefined,
  info: () => undefined,
  warn: () => undefined,
  error: (m: string) => console.error(m),
  log: () => undefined,
};

/** Build a workflow bundle from source once per `npm test` run (next to the runner's bundle) or per process. */
async function cachedBundle(name: string, interceptors: string[]): Promise<string> {
  const base = process.env.ML_TEST_WORKFLOW_BUNDLE;
  if (base && interceptors.length === 0 && existsSync(base)) return base;
  const file = base ? `${base}.${name}.js` : join(tmpdir(), `ml-retrain-${name}-${process.pid}.js`);
  if (existsSync(file)) return file;
  const { code } = await bundleWorkflowCode({
    workflowsPath: join(ROOT, 'workflows', 'index.ts'),
    workflowInterceptorModules: interceptors,
    logger: quietLogger,
  });
  const tmp = `${file}.${process.pid}`;
  writeFileSync(tmp, code);
  renameSync(tmp, file);
  return file;
}

/** The product's workflows, bundled from source. */
export const productBundle = (): Promise<string> => cachedBundle('product', []);
/** The product's workflows with activity timeouts capped (./fast-timeouts.ts): for tests that kill processes. */
export const cappedBundle = (): Promise<string> => cachedBundle('capped', [join(__dirname, 'fast-timeouts.ts')]);
/** The product's workflows with only the pause between retries capped (./fast-retries.ts): the fast fault test. */
export const fastRetryBundle = (): Promise<string> =>
  cachedBundle('fast-retries', [join(__dirname, 'fast-retries.ts')]);

// ---------------------------------------------------------------------------------------------------------------
// Emulator with lanes
// ---------------------------------------------------------------------------------------------------------------

/**
 * One scoring service of a lane, as test/lifecycle/world.ts knows a service (its target in the emulator's inspection,
 * its RRS execute URL and key for a user's scoring call), plus `path`, the URL path of its update requests.
 */
export interface LaneService extends ServiceRef {
  path: string;
}

/** A pair of scoring services (a classic endpoint and an ARM web service) that only one run at a time updates. */
export interface Lane {
  index: number;
  /** The lane's own training linked service: the shared training service, with a lane marker in the URL query. */
  training: string;
  classic: LaneService;
  arm: LaneService;
}

/**
 * Marks the tests' own scoring calls (the verdicts') in the request log: the runtime ignores unknown query
 * parameters, and the request checks (Retry-After, fault counts) are about the product's requests only.
 */
export const VERDICT_MARKER = 'verdict=1';

export interface DurabilityEnv {
  emu: EmulatorHandle;
  options: EmulatorOptions;
  configDir: string;
  container: string;
  lanes: Lane[];
  /** Every secret the worker holds (keys, client secret, account key): none may leak. Never log. */
  secrets: string[];
  /** Stop the emulator (its state stays in the state dir). */
  stopEmulator(): Promise<void>;
  /** Start it again with the same options: same state dir, same port, so the linked services stay valid. */
  startEmulatorAgain(): Promise<void>;
  /** Inspections of earlier emulator incarnations, oldest first (a restart starts a new request log). */
  earlier: EmulatorInspection[];
  close(): Promise<void>;
}

async function armCall(
  emu: EmulatorHandle,
  method: string,
  url: string,
  body?: unknown,
): Promise<{ json: { location?: string; properties?: unknown; status?: string }; headers: Headers }> {
  const cred = new ClientSecretCredential(emu.ids.tenantId, emu.identity.clientId, emu.keys.clientSecret, {
    authorityHost: emu.urls.authorityHost,
    disableInstanceDiscovery: true,
  });
  const token = await cred.getToken('https://management.azure.com/.default');
  const res = await fetch(url, {
    method,
    headers: { Authorization: `Bearer ${token.token}`, 'Content-Type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.text();
  if (res.status >= 300) throw new Error(`${method} ${url.split('?')[0]}: ${res.status} ${text.slice(0, 300)}`);
  return { json: text ? JSON.parse(text) : undefined, headers: res.headers };
}

/**
 * A lane: a new classic endpoint (management PUT) and a new ARM web service (ARM PUT of the seeded definition),
 * with their own linked services. Runs in different lanes never touch the same scoring service, so their updates
 * can be counted without ambiguity while they run concurrently.
 */
async function createLane(emu: EmulatorHandle, index: number): Promise<{ lane: Lane; files: AdfLinkedServiceJson[] }> {
  const endpoint = `lane-${index}`;
  const mgmt = emu.urls.classicUpdateResource.replace(/\/[^/]+$/, `/${endpoint}`);
  const put = await fetch(mgmt, {
    method: 'PUT',
    headers: { Authorization: `Bearer ${emu.keys.workspaceToken}`, 'Content-Type': 'application/json' },
    body: JSON.stringify({ Description: `durability lane ${index}` }),
  });
  if (put.status !== 200) throw new Error(`classic PUT ${endpoint}: ${put.status} ${await put.text()}`);
  const ep = (await put.json()) as { PrimaryKey: string; ApiLocation: string };
  const classicLs = structuredClone(emu.linkedServices.classicScoringEndpoint);
  classicLs.name = `classicLane${index}`;
  Object.assign(classicLs.properties.typeProperties, {
    mlEndpoint: `${ep.ApiLocation}/jobs?api-version=2.0`,
    apiKey: { type: 'SecureString', value: ep.PrimaryKey },
    updateResourceEndpoint: mgmt,
  });

  const name = `laneService${index}`;
  const armUrl = emu.urls.armUpdateResource.replace(/\/webServices\/[^?]+/, `/webServices/${name}`);
  const def = (await armCall(emu, 'GET', emu.urls.armUpdateResource)).json;
  const created = await armCall(emu, 'PUT', armUrl, { location: def.location, properties: def.properties });
  const op = created.headers.get('azure-asyncoperation');
  for (let i = 0; op && i < 100; i++) {
    const s = (await armCall(emu, 'GET', op)).json;
    if (s.status !== 'InProgress' && s.status !== 'Provisioning') break;
    await sleep(100);
  }
  // The lane's own runtime (RRS, which verification calls) and key: the service's swagger location names its
  // runtime, and listKeys gives the key, as a user setting up the linked service would find them.
  const swagger = (await armCall(emu, 'GET', armUrl)).json.properties as { swaggerLocation: string };
  const runtime = swagger.swaggerLocation.replace(/\/swagger\.json$/, '');
  const keysUrl = armUrl.replace(/\?/, '/listKeys?');
  const armKeys = (await armCall(emu, 'GET', keysUrl)).json as unknown as { primary: string };
  const armLs = structuredClone(emu.linkedServices.updatableScoringEndpoint2);
  armLs.name = `armLane${index}`;
  Object.assign(armLs.properties.typeProperties, {
    mlEndpoint: `${runtime}/jobs?api-version=2.0`,
    apiKey: { type: 'SecureString', value: armKeys.primary },
    updateResourceEndpoint: armUrl,
  });
  // Entra accepts the tenant's domain or GUID: alternating them gives lanes 0 and 1 distinct token request paths.
  armLs.properties.typeProperties.tenant = index % 2 === 0 ? emu.identity.tenant : emu.ids.tenantId;

  // The BES runtime ignores unknown query parameters: the marker makes the lane's submit path its own, so the
  // request log tells which lane a submit came from.
  const trainingLs = structuredClone(emu.linkedServices.trainingEndpoint);
  trainingLs.name = `trainingLane${index}`;
  trainingLs.properties.typeProperties.mlEndpoint = `${emu.urls.trainingBes}/jobs?api-version=2.0&lane=${index}`;

  return {
    lane: {
      index,
      training: trainingLs.name,
      classic: {
        linkedService: classicLs.name,
        target: `${emu.ids.workspaceId}/${emu.ids.classicWebServiceId}/${endpoint}`,
        path: new URL(mgmt).pathname,
        scoreUrl: `${ep.ApiLocation}/execute?api-version=2.0&details=true&${VERDICT_MARKER}`,
        apiKey: ep.PrimaryKey,
      },
      arm: {
        linkedService: armLs.name,
        target: new URL(armUrl).pathname,
        path: new URL(armUrl).pathname,
        scoreUrl: `${runtime}/execute?api-version=2.0&details=true&${VERDICT_MARKER}`,
        apiKey: armKeys.primary,
      },
    },
    files: [classicLs, armLs, trainingLs],
  };
}

export async function startDurabilityEnv(o: { lanes: number; emulator?: EmulatorOptions }): Promise<DurabilityEnv> {
  const shared = process.env.ML_TEST_AZURITE_CONNECTION_STRING;
  const options: EmulatorOptions = {
    azurite: shared ? { connectionString: shared } : undefined,
    maxLoggedRequests: 500_000,
    ...o.emulator,
    jobs: { runningMs: 600, ...o.emulator?.jobs },
    arm: { provisioningMs: 300, ...o.emulator?.arm },
  };
  let emu = await startEmulator(options);
  if (options.stateDir && options.port === undefined) options.port = Number(new URL(emu.url).port);
  const configDir = await mkdtemp(join(tmpdir(), 'durability-adf-'));
  await emu.writeConfig(configDir);
  const lanes: Lane[] = [];
  const secrets = new Set<string>();
  for (let i = 0; i < o.lanes; i++) {
    const { lane, files } = await createLane(emu, i);
    lanes.push(lane);
    for (const f of files) {
      writeFileSync(join(configDir, 'linkedService', `${f.name}.json`), JSON.stringify(f, null, 2), { mode: 0o600 });
    }
  }
  for (const f of await readdir(join(configDir, 'linkedService'))) {
    const tp = JSON.parse(await readFile(join(configDir, 'linkedService', f), 'utf8')).properties.typeProperties;
    for (const k of ['apiKey', 'servicePrincipalKey', 'connectionString']) {
      const v = tp[k]?.value ?? tp[k];
      if (typeof v === 'string') secrets.add(v);
    }
  }
  for (const v of Object.values(emu.keys)) {
    if (typeof v === 'string') secrets.add(v);
    else for (const k of Object.values(v)) secrets.add(k);
  }
  secrets.add(/AccountKey=([^;]+)/.exec(emu.storage.connectionString)![1]);

  const container = `durability${Date.now().toString(36)}${Math.floor(Math.random() * 1e6).toString(36)}`;
  const blobs = BlobServiceClient.fromConnectionString(emu.storage.connectionString);
  await blobs.createContainer(container);
  await blobs.getContainerClient(container).getBlockBlobClient('input/train.csv').upload('a,b\n1,2\n', 8);

  const earlier: EmulatorInspection[] = [];
  return {
    get emu() {
      return emu;
    },
    options,
    configDir,
    container,
    lanes,
    secrets: [...secrets].filter((s) => s.length >= 12),
    earlier,
    async stopEmulator() {
      earlier.push(emu.inspect());
      await emu.close();
    },
    async startEmulatorAgain() {
      emu = await startEmulator(options);
    },
    async close() {
      await emu.close();
      await rm(configDir, { recursive: true, force: true });
    },
  };
}

// ---------------------------------------------------------------------------------------------------------------
// Runs
// ---------------------------------------------------------------------------------------------------------------

export interface RunRecord {
  workflowId: string;
  lane: Lane;
  /** `runs/<id>/model.ilearner` in the env's container: identifies the run's BES jobs in the inspection. */
  modelBlob: string;
  handle?: WorkflowHandle;
  outcome?: 'completed' | 'failed' | 'cancelled' | 'timedOut' | 'terminated' | 'error';
  result?: RetrainAndUpdateResult;
  error?: string;
  durationMs?: number;
  /** What the lane's services served right after the run ended (observeServing), before any later run started. */
  served?: LaneServing;
}

/** What a scoring service serves, by the world: the emulator's live model and the model a scoring call named. */
export interface Served {
  live: string | null;
  /** The `Model` column of a user's scoring call; null when no call succeeded (then `error` says why). */
  scored: string | null;
  error?: string;
}

export type LaneServing = Record<'arm' | 'classic', Served>;

/**
 * A run in a lane. The ARM service reads the model from storage; the classic endpoint from the BES output: both
 * sources.
 */
export function runInput(env: DurabilityEnv, lane: Lane, runId: string, pollSeconds = 0.2): RetrainAndUpdateInput {
  return retrainInput({
    pipeline: 'durability',
    container: env.container,
    trainedModelName: env.emu.ids.trainedModelName,
    model: `${env.container}/runs/${runId}/model.ilearner`,
    evaluation: `${env.container}/runs/${runId}/eval.csv`,
    training: lane.training,
    arm: { activityName: 'amlUpdateArm', linkedService: lane.arm.linkedService },
    classic: { activityName: 'amlUpdateClassic', linkedService: lane.classic.linkedService },
    pollSeconds,
  });
}

export async function startRun(
  client: Client,
  env: DurabilityEnv,
  lane: Lane,
  taskQueue: string,
  id: string,
  extra: {
    input?: (i: RetrainAndUpdateInput) => void;
    workflowExecutionTimeout?: Duration;
    /** Keep the server's default workflow task timeout (10 s) instead of the tests' 2 s. */
    defaultTaskTimeout?: boolean;
  } = {},
): Promise<RunRecord> {
  const input = runInput(env, lane, id);
  extra.input?.(input);
  const start = () =>
    client.workflow.start('retrainAndUpdate', {
      taskQueue,
      workflowId: id,
      args: [input],
      // A short task timeout: a workflow task lost with a killed worker is retried after 2 s instead of 10 s.
      workflowTaskTimeout: extra.defaultTaskTimeout ? undefined : '2s',
      workflowExecutionTimeout: extra.workflowExecutionTimeout,
      // A start retried through a server outage attaches to the run if the first attempt created it.
      workflowIdConflictPolicy: WorkflowIdConflictPolicy.USE_EXISTING,
    });
  let handle: WorkflowHandle | undefined;
  for (let attempt = 1; !handle; attempt++) {
    try {
      handle = await start();
    } catch (err) {
      if (attempt >= 120) throw err;
      await sleep(500);
    }
  }
  return { workflowId: id, lane, modelBlob: `runs/${id}/model.ilearner`, handle };
}

/**
 * Wait for the run's end and record how it ended. Rides through a Temporal server outage (the client's calls fail
 * while it is down): only a run that really ended, or the deadline, stops the wait.
 */
export async function settle(run: RunRecord, started = Date.now(), deadlineMs = 10 * 60_000): Promise<RunRecord> {
  for (;;) {
    try {
      run.result = (await run.handle!.result()) as RetrainAndUpdateResult;
      run.outcome = 'completed';
      break;
    } catch (err) {
      if (err instanceof WorkflowFailedError) {
        run.outcome = await closedAs(run.handle!);
        run.error = rootMessage(err);
        break;
      }
      if (Date.now() - started > deadlineMs) {
        run.outcome = 'error';
        run.error = rootMessage(err);
        break;
      }
      await sleep(500);
    }
  }
  run.durationMs = Date.now() - started;
  return run;
}

async function closedAs(h: WorkflowHandle): Promise<NonNullable<RunRecord['outcome']>> {
  for (let i = 0; i < 60; i++) {
    const name = (await h.describe().catch(() => undefined))?.status.name;
    if (name === 'CANCELLED') return 'cancelled';
    if (name === 'TIMED_OUT') return 'timedOut';
    if (name === 'TERMINATED') return 'terminated';
    if (name === 'FAILED') return 'failed';
    await sleep(500);
  }
  return 'error';
}

export function rootMessage(err: unknown): string {
  let e = err as { message?: string; cause?: unknown; type?: string } | undefined;
  const parts: string[] = [];
  while (e) {
    parts.push(`${e.type ? `${e.type}: ` : ''}${e.message ?? JSON.stringify(e)}`);
    e = e.cause as typeof e;
  }
  return parts.join(' <- ');
}

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

// ---------------------------------------------------------------------------------------------------------------
// Summary: test-output/durability/<section>.json, merged into test-output/durability-summary.json
// ---------------------------------------------------------------------------------------------------------------

export function writeSummary(section: string, data: Record<string, unknown>): void {
  const dir = join(OUTPUT_DIR, 'durability');
  mkdirSync(dir, { recursive: true });
  const entry = { ...data, finishedAt: new Date().toISOString() };
  writeFileSync(join(dir, `${section}.json`), `${JSON.stringify(entry, null, 2)}\n`);
  const merged: Record<string, unknown> = {};
  for (const f of readdirSync(dir)
    .filter((n) => n.endsWith('.json'))
    .sort()) {
    try {
      merged[f.replace(/\.json$/, '')] = JSON.parse(readFileSync(join(dir, f), 'utf8'));
    } catch {
      // A section being written by another test file right now: it merges itself when done.
    }
  }
  const tmp = join(OUTPUT_DIR, `durability-summary.json.${process.pid}`);
  writeFileSync(tmp, `${JSON.stringify(merged, null, 2)}\n`);
  renameSync(tmp, join(OUTPUT_DIR, 'durability-summary.json'));
  const flat = Object.entries(data)
    .filter(([, v]) => v !== undefined && (typeof v !== 'object' || v === null || Object.keys(v).length <= 12))
    .map(([k, v]) => `${k}=${JSON.stringify(v)}`)
    .join(' ');
  console.log(`[durability] ${section}: ${flat}`);
}

// ---------------------------------------------------------------------------------------------------------------
// Secrets
// ---------------------------------------------------------------------------------------------------------------

const SAS_SIGNATURE = /[?&]sig=(?!\*)[A-Za-z0-9%+/=]{8,}/;

export interface SecretScan {
  historiesScanned: number;
  eventsScanned: number;
  textsScanned: number;
  bytesScanned: number;
  /** `where: what` for every finding; never the secret itself. */
  leaks: string[];
}

/** Payload data are base64 of UTF-8 JSON: decode them so the search sees what was stored. */
export function decodeHistory(history: unknown): string {
  const raw = JSON.stringify(history);
  const decoded = raw.replace(/"data":"([A-Za-z0-9+/=]*)"/g, (_m, b64: string) =>
    JSON.stringify(Buffer.from(b64, 'base64').toString('utf8')),
  );
  return `${raw}\n${decoded}`;
}

/** Search histories and process output for the secrets themselves and for SAS signatures. */
export async function scanForSecrets(
  secrets: string[],
  handles: WorkflowHandle[],
  texts: { name: string; text: string }[],
): Promise<SecretScan> {
  const scan: SecretScan = { historiesScanned: 0, eventsScanned: 0, textsScanned: 0, bytesScanned: 0, leaks: [] };
  if (secrets.length < 4) scan.leaks.push(`only ${secrets.length} secrets known: the scan would prove little`);
  const check = (where: string, text: string) => {
    scan.bytesScanned += text.length;
    for (const s of secrets) if (text.includes(s)) scan.leaks.push(`${where}: a secret (${s.slice(0, 3)}…)`);
    if (SAS_SIGNATURE.test(text)) scan.leaks.push(`${where}: a SAS signature`);
    if (/AccountKey=(?!\*)[A-Za-z0-9+/]{8,}/.test(text)) scan.leaks.push(`${where}: an AccountKey`);
  };
  for (const h of handles) {
    const history = await h.fetchHistory();
    scan.historiesScanned++;
    scan.eventsScanned += history.events?.length ?? 0;
    check(`history of ${h.workflowId}`, decodeHistory(history));
  }
  for (const t of texts) {
    scan.textsScanned++;
    check(t.name, t.text);
  }
  return scan;
}
