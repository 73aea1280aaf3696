/**
 * What the operations tests share: the emulator over the suite's Azurite, an ADF folder written for it, training
 * data in a container of their own, a real worker with the real activities, and the `retrain` CLI as a child
 * process (the way an operator runs it).
 */
import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import readline from 'node:readline';
import { BlobServiceClient } from '@azure/storage-blob';
import type { Worker } from '@temporalio/worker';
import { startEmulator } from '../../emulator';
import type { EmulatorHandle } from '../../emulator';
import { loadAdfConfig } from '../../config/linked-services';
import { loadWorkerSettings } from '../../config/env';
import { buildActivityDeps } from '../../worker/deps';
import { createWorker } from '../../worker/worker';
import type { RetrainAndUpdateInput } from '../../common/types';
import type { TemporalTestContext } from '../helpers/temporal';
import { connectTemporal, uniqueId, workflowBundle } from '../helpers/temporal';

export const ROOT = join(__dirname, '..', '..');
export const CLI = join(ROOT, 'dist', 'client', 'cli.js');

export interface OpsEnv {
  t: TemporalTestContext;
  emu: EmulatorHandle;
  configDir: string;
  container: string;
  taskQueue: string;
  /** A retrainAndUpdate input for this environment; a fresh model path each call. */
  input(over?: Partial<RetrainAndUpdateInput>): RetrainAndUpdateInput;
  /** Start another in-process worker (e.g. in another namespace); resolves to a function that stops it. */
  startWorker(o: { taskQueue: string; namespace?: string }): Promise<() => Promise<void>>;
  close(): Promise<void>;
}

export async function startOpsEnv(
  o: {
    jobMs?: number;
    worker?: boolean;
    /** Edit the ADF config folder before the worker reads it (extra linked services). */
    configure?: (configDir: string, emu: EmulatorHandle) => Promise<void>;
  } = {},
): Promise<OpsEnv> {
  const t = await connectTemporal();
  const shared = process.env.ML_TEST_AZURITE_CONNECTION_STRING;
  const emu = await startEmulator({
    azurite: shared ? { connectionString: shared } : undefined,
    jobs: { runningMs: o.jobMs ?? 300 },
    arm: { provisioningMs: 200 },
  });
  const configDir = await mkdtemp(join(tmpdir(), 'ops-adf-'));
  await emu.writeConfig(configDir);
  if (o.configure) await o.configure(configDir, emu);
  const container = uniqueId('ops').toLowerCase();
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
  const startWorker = async (w: { taskQueue: string; namespace?: string }) => {
    const worker = await createWorker({
      connection: t.nativeConnection,
      namespace: w.namespace,
      taskQueue: w.taskQueue,
      deps: buildActivityDeps(adf, settings),
      workflowBundle: await workflowBundle(),
    });
    const entry = { worker, running: worker.run() };
    workers.push(entry);
    return async () => {
      if (worker.getState() === 'RUNNING') worker.shutdown();
      await entry.running;
    };
  };
  const taskQueue = uniqueId('ops');
  if (o.worker !== false) await startWorker({ taskQueue });

  const input = (over: Partial<RetrainAndUpdateInput> = {}): RetrainAndUpdateInput => {
    const storage = 'StorageLinkedService';
    const model = `${container}/models/${uniqueId('m')}.ilearner`;
    return {
      pipeline: 'OpsPipeline',
      training: {
        activityName: 'amlBEGetilearner',
        linkedServiceName: 'trainingEndpoint',
        webServiceInputs: {
          input1: { linkedServiceName: storage, filePath: `${container}/input/train.csv` },
          input2: { linkedServiceName: storage, filePath: `${container}/input/train.csv` },
        },
        webServiceOutputs: {
          output1: { linkedServiceName: storage, filePath: model },
          output2: { linkedServiceName: storage, filePath: `${container}/eval/${uniqueId('e')}.csv` },
        },
      },
      updates: [
        {
          activityName: 'amlUpdateResource',
          linkedServiceName: 'updatableScoringEndpoint2',
          trainedModelName: emu.ids.trainedModelName,
          trainedModelLinkedServiceName: storage,
          trainedModelFilePath: model,
        },
        {
          activityName: 'amlUpdateClassic',
          linkedServiceName: 'classicScoringEndpoint',
          trainedModelName: emu.ids.trainedModelName,
        },
      ],
      options: { pollIntervalSeconds: 0.1 },
      ...over,
    };
  };

  return {
    t,
    emu,
    configDir,
    container,
    taskQueue,
    input,
    startWorker,
    async close() {
      for (const w of workers) if (w.worker.getState() === 'RUNNING') w.worker.shutdown();
      await Promise.all(workers.map((w) => w.running));
      await emu.close();
      await t.close();
    },
  };
}

export interface CliResult {
  code: number;
  out: string;
  err: string;
}

/** The `retrain` CLI in a child process: exit code, stdout and stderr, as an operator sees them. */
export function cli(
  args: string[],
  env: NodeJS.ProcessEnv = {},
  cwd = ROOT,
  baseEnv: NodeJS.ProcessEnv = process.env,
): Promise<CliResult> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [CLI, ...args], {
      cwd,
      env: { ...baseEnv, ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    let err = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (err += d.toString()));
    child.on('exit', (code) => resolve({ code: code ?? 1, out, err }));
  });
}

/** A long-running child (a worker, `retrain dev`) whose output is collected and awaited line by line. */
export interface Spawned {
  child: ChildProcess;
  output(): string;
  waitFor(pattern: RegExp, timeoutMs?: number): Promise<RegExpExecArray>;
  stop(signal?: NodeJS.Signals): Promise<number | null>;
}

export function spawnLogged(cmd: string, args: string[], env: NodeJS.ProcessEnv, cwd = ROOT): Spawned {
  const child = spawn(cmd, args, { cwd, env, stdio: ['ignore', 'pipe', 'pipe'] });
  let text = '';
  const waiters: { re: RegExp; resolve: (m: RegExpExecArray) => void }[] = [];
  const onLine = (line: string) => {
    text += `${line}\n`;
    for (const w of [...waiters]) {
      const m = w.re.exec(text);
      if (m) {
        waiters.splice(waiters.indexOf(w), 1);
        w.resolve(m);
      }
    }
  };
  readline.createInterface({ input: child.stdout }).on('line', onLine);
  readline.createInterface({ input: child.stderr }).on('line', onLine);
  const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
  return {
    child,
    output: () => text,
    waitFor(re, timeoutMs = 60_000) {
      const m = re.exec(text);
      if (m) return Promise.resolve(m);
      return new Promise((resolve, reject) => {
        const timer = setTimeout(
          () => reject(new Error(`timed out waiting for ${re} in:\n${text.slice(-3000)}`)),
          timeoutMs,
        );
        void exited.then((code) => {
          clearTimeout(timer);
          const again = re.exec(text);
          if (again) resolve(again);
          else reject(new Error(`process exited (${code}) before ${re}:\n${text.slice(-3000)}`));
        });
        waiters.push({
          re,
          resolve: (found) => {
            clearTimeout(timer);
            resolve(found);
          },
        });
      });
    },
    async stop(signal = 'SIGTERM') {
      if (child.exitCode === null && child.signalCode === null) child.kill(signal);
      return exited;
    },
  };
}

export async function waitUntil<T>(
  what: string,
  fn: () => Promise<T | undefined | false>,
  timeoutMs = 30_000,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const v = await fn();
      if (v) return v;
    } catch (e) {
      last = e;
    }
    if (Date.now() > deadline)
      throw new Error(
        `timed out waiting for ${what}${last ? `: ${last instanceof Error ? last.message : JSON.stringify(last)}` : ''}`,
      );
    await new Promise((r) => setTimeout(r, 200));
  }
}
