/**
 * The stack most end-to-end tests stand on: the suite's Temporal server, the emulator over the suite's Azurite, an
 * ADF folder written for it, training data in a container of the test file's own, and real workers with the real
 * activities, in this process.
 */
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { BlobServiceClient } from '@azure/storage-blob';
import { Worker } from '@temporalio/worker';
import { startEmulator } from '../../emulator';
import type { EmulatorHandle } from '../../emulator';
import { loadAdfConfig } from '../../config/linked-services';
import { loadWorkerSettings } from '../../config/env';
import { buildActivityDeps } from '../../worker/deps';
import { createWorker } from '../../worker/worker';
import type { RetrainAndUpdateInput } from '../../common/types';
import { retrainInput } from './inputs';
import type { TemporalTestContext } from './temporal';
import { connectTemporal, temporalAddress, uniqueId, workflowBundle } from './temporal';
import type { World } from './world';
import { worldOf } from './world';

type ActivityDeps = ReturnType<typeof buildActivityDeps>;

export interface StackWorkerOptions {
  taskQueue: string;
  namespace?: string;
  /** Another ADF folder, read now; the stack's own (read once at start) by default. */
  configDir?: string;
  /** Change the real activities' dependencies (e.g. an HTTP client that fails at a chosen moment). */
  wrapDeps?: (deps: ActivityDeps) => ActivityDeps;
  /** Other workflow code and no activities (e.g. a deliberately broken workflow of the product's type). */
  workflowsPath?: string;
  /** Activity slots (ML_MAX_CONCURRENT_ACTIVITIES); the product's default when absent. */
  maxConcurrentActivities?: number;
}

export interface Stack {
  t: TemporalTestContext;
  emu: EmulatorHandle;
  /** Where each part listens, for child processes and CLI calls. */
  addresses: { temporal: string; namespace: string; emulator: string; authorityHost: string };
  /** The emulator's view of what is live, updated and scored: what the tests judge by. */
  world: World;
  configDir: string;
  container: string;
  taskQueue: string;
  /** A retrainAndUpdate input for this stack; a fresh model path each call unless `model` is given. */
  input(over?: Partial<RetrainAndUpdateInput>, model?: string): RetrainAndUpdateInput;
  /** Start another in-process worker (e.g. in another namespace); resolves to a function that stops it. */
  startWorker(o: StackWorkerOptions): Promise<() => Promise<void>>;
  close(): Promise<void>;
}

export interface StackOptions {
  /** Names the container, task queue and ADF folder, so a leftover says which test file made it. */
  name?: string;
  /** The `pipeline` of the inputs `input()` builds. */
  pipeline?: string;
  jobMs?: number;
  armProvisioningMs?: number;
  /** Start a worker on `taskQueue` (default true). */
  worker?: boolean;
  /** Edit the ADF config folder before the worker reads it (extra linked services). */
  configure?: (configDir: string, emu: EmulatorHandle) => Promise<void>;
}

export async function startStack(o: StackOptions = {}): Promise<Stack> {
  const name = o.name ?? 'ops';
  const t = await connectTemporal();
  const shared = process.env.ML_TEST_AZURITE_CONNECTION_STRING;
  const emu = await startEmulator({
    azurite: shared ? { connectionString: shared } : undefined,
    jobs: { runningMs: o.jobMs ?? 300 },
    arm: { provisioningMs: o.armProvisioningMs ?? 200 },
  });
  const configDir = await mkdtemp(join(tmpdir(), `${name}-adf-`));
  await emu.writeConfig(configDir);
  if (o.configure) await o.configure(configDir, emu);
  const container = uniqueId(name).toLowerCase();
  const blobs = BlobServiceClient.fromConnectionString(emu.storage.connectionString);
  await blobs.createContainer(container);
  await blobs.getContainerClient(container).getBlockBlobClient('input/train.csv').upload('a,b\n1,2\n', 8);

  const workers: { worker: Worker; running: Promise<void> }[] = [];
  const adf = await loadAdfConfig(configDir);
  const settings = loadWorkerSettings({
    ...process.env,
    AZURE_AUTHORITY_HOST: emu.urls.authorityHost,
    ML_ARM_POLL_INTERVAL_MS: '100',
  });
  const startWorker = async (w: StackWorkerOptions) => {
    let worker: Worker;
    if (w.workflowsPath) {
      worker = await Worker.create({
        connection: t.nativeConnection,
        namespace: w.namespace,
        taskQueue: w.taskQueue,
        workflowsPath: w.workflowsPath,
      });
    } else {
      const deps = buildActivityDeps(w.configDir ? await loadAdfConfig(w.configDir) : adf, settings);
      worker = await createWorker({
        connection: t.nativeConnection,
        namespace: w.namespace,
        taskQueue: w.taskQueue,
        deps: w.wrapDeps ? w.wrapDeps(deps) : deps,
        workflowBundle: await workflowBundle(),
        maxConcurrentActivityTaskExecutions: w.maxConcurrentActivities ?? settings.maxConcurrentActivities,
      });
    }
    const entry = { worker, running: worker.run() };
    workers.push(entry);
    return async () => {
      if (worker.getState() === 'RUNNING') worker.shutdown();
      await entry.running;
    };
  };
  const taskQueue = uniqueId(name);
  if (o.worker !== false) await startWorker({ taskQueue });

  return {
    t,
    emu,
    addresses: {
      temporal: temporalAddress(),
      namespace: process.env.TEMPORAL_NAMESPACE ?? 'default',
      emulator: emu.url,
      authorityHost: emu.urls.authorityHost,
    },
    world: worldOf(emu),
    configDir,
    container,
    taskQueue,
    input: (over = {}, model) => ({
      ...retrainInput({
        pipeline: o.pipeline ?? 'OpsPipeline',
        container,
        trainedModelName: emu.ids.trainedModelName,
        model,
      }),
      ...over,
    }),
    startWorker,
    async close() {
      for (const w of workers) if (w.worker.getState() === 'RUNNING') w.worker.shutdown();
      await Promise.all(workers.map((w) => w.running));
      await emu.close();
      await t.close();
    },
  };
}
