/**
 * Shared pieces of the durability tests (test/durability, test/soak): the emulator with independent "lanes" of
 * scoring services, workflow bundles, run inputs, and the accounting that turns the world into verdicts (one started
 * job per run, one effective update per scoring service, the run's model live after it by the emulator and by a
 * scoring call, no older model applied after a newer one) and numbers for the summary.
 */
import { existsSync, renameSync, writeFileSync } from 'node:fs';
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
import { retrainInput } from '../helpers/inputs';
import { ROOT } from '../helpers/processes';

export { Prng };

import { OUTPUT_DIR } from './report';

export { OUTPUT_DIR };

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

export * from './verdicts';
export * from './report';
