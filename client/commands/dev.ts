import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import readline from 'node:readline';
import type { Command } from 'commander';
import { InvalidArgumentError } from 'commander';
import type { RunPipelineInput } from '../../common/pipeline-definition';
import type { CliIO } from './common';
import { addExamples, taskQueueDefault } from './common';

/**
 * `retrain dev`: everything local work needs, in one terminal: a Temporal dev server (with the Web UI and the
 * search attributes), the ML Studio (classic) emulator over Azurite with an ADF folder written for it (linked
 * services, a sample pipeline, its training data), and a worker process. Ctrl-C stops all of it.
 *
 * The worker is a child process, as in production: it needs the emulator's CA in NODE_EXTRA_CA_CERTS, which Node
 * reads only at start-up.
 */

export const DEV_PIPELINE = 'RetrainAndUpdate';
const TRAINED_MODEL = 'azuremltesting/output/model.ilearner';

/** How `npm run demo` varies the sample: the seed's own name, model path, description and dependsOn spelling. */
export interface SamplePipelineOptions {
  name?: string;
  trainedModel?: string;
  description?: string;
  /** How the updates spell the training activity in dependsOn (the seed writes 'amlbeGetilearner'). */
  dependsOn?: string;
}

/** BES training, then two updates (the ARM web service and the classic endpoint) of the emulator's services. */
export function samplePipeline(trainedModelName: string, o: SamplePipelineOptions = {}): unknown {
  const trainedModel = o.trainedModel ?? TRAINED_MODEL;
  const storage = { referenceName: 'StorageLinkedService', type: 'LinkedServiceReference' };
  const update = (name: string, linkedService: string) => ({
    name,
    type: 'AzureMLUpdateResource',
    linkedServiceName: { referenceName: linkedService, type: 'LinkedServiceReference' },
    typeProperties: {
      trainedModelName,
      trainedModelLinkedServiceName: storage,
      trainedModelFilePath: trainedModel,
    },
    dependsOn: [{ activity: o.dependsOn ?? 'amlBEGetilearner', dependencyConditions: ['Succeeded'] }],
  });
  return {
    name: o.name ?? DEV_PIPELINE,
    properties: {
      activities: [
        {
          name: 'amlBEGetilearner',
          ...(o.description && { description: o.description }),
          type: 'AzureMLBatchExecution',
          linkedServiceName: { referenceName: 'trainingEndpoint', type: 'LinkedServiceReference' },
          typeProperties: {
            webServiceInputs: {
              input1: { LinkedServiceName: storage, FilePath: 'azuremltesting/input/train.csv' },
              input2: { LinkedServiceName: storage, FilePath: 'azuremltesting/input/train.csv' },
            },
            webServiceOutputs: {
              output1: { LinkedServiceName: storage, FilePath: trainedModel },
              output2: { LinkedServiceName: storage, FilePath: 'azuremltesting/output/evaluation.csv' },
            },
          },
        },
        update('amlUpdateResource', 'updatableScoringEndpoint2'),
        update('amlUpdateClassicEndpoint', 'classicScoringEndpoint'),
      ],
    },
  };
}

const TRAINING_CSV = [
  'age,income,churned',
  ...Array.from({ length: 20 }, (_, i) => `${20 + i},${30_000 + i * 750},${i % 2}`),
].join('\n');

interface DevOpts {
  dir: string;
  port?: number;
  emulatorPort?: number;
  dbFilename?: string;
  taskQueue: string;
  jobSeconds: number;
  worker: boolean;
  azuriteFile?: string;
}

/** Pause before restarting a worker that died: doubling from 1 s, at most 30 s, so a crash loop does not spin. */
export function restartDelayMs(restartsInLastMinute: number): number {
  return Math.min(30_000, 1000 * 2 ** Math.max(0, restartsInLastMinute - 1));
}

function port(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 0 || n > 65535) throw new InvalidArgumentError('expected a port number (0 = any)');
  return n;
}

function positive(value: string): number {
  const n = Number(value);
  if (!Number.isFinite(n) || n <= 0) throw new InvalidArgumentError('expected a positive number');
  return n;
}

function startWorkerProcess(configDir: string, taskQueue: string, env: NodeJS.ProcessEnv, io: CliIO) {
  const main = join(__dirname, '..', '..', 'worker', 'main.js');
  const child = spawn(process.execPath, [main, '--config', configDir, '--task-queue', taskQueue], {
    env,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const ready = new Promise<void>((resolveReady, reject) => {
    const onLine = (line: string) => {
      io.err(`[worker] ${line}`);
      if (line.includes('worker ready')) resolveReady();
    };
    readline.createInterface({ input: child.stdout }).on('line', onLine);
    readline.createInterface({ input: child.stderr }).on('line', onLine);
    child.once('exit', (code, signal) =>
      reject(new Error(`the worker exited (${signal ?? code}) before it was ready`)),
    );
  });
  return { child, ready };
}

async function stopChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((r) => child.once('exit', r));
  child.kill('SIGTERM');
  await exited;
}

async function runDev(opts: DevOpts, io: CliIO): Promise<number> {
  const { startTemporalServer } = await import('../../infra/temporal');
  const { startEmulator } = await import('../../emulator');
  // Loaded here, not at the top: every other `retrain` command would pay for the Azure SDK at start-up.
  const { BlobServiceClient } = await import('@azure/storage-blob');
  const log = (line: string) => io.err(`[dev] ${line}`);
  const stops: (() => Promise<void>)[] = [];
  let worker: ChildProcess | undefined;
  try {
    // Port 0: any free port (the UI then lands on that port + 1000).
    const temporal = await startTemporalServer({ port: opts.port || undefined, dbFilename: opts.dbFilename, log });
    stops.push(() => temporal.stop());

    // An Azurite to attach to comes from a file or the environment, never argv (ps would show its key).
    const { AZURITE_ENV } = await import('../../emulator/cli');
    const azurite = opts.azuriteFile
      ? (await readFile(opts.azuriteFile, 'utf8')).trim()
      : process.env[AZURITE_ENV] || undefined;
    const emu = await startEmulator({
      port: opts.emulatorPort,
      jobs: { runningMs: Math.round(opts.jobSeconds * 1000) },
      azurite: azurite ? { connectionString: azurite } : undefined,
    });
    stops.push(() => emu.close());
    const dir = resolve(opts.dir);
    const configDir = join(dir, 'adf');
    await emu.writeConfig(configDir);
    await mkdir(join(configDir, 'pipeline'), { recursive: true });
    await writeFile(
      join(configDir, 'pipeline', `${DEV_PIPELINE}.json`),
      `${JSON.stringify(samplePipeline(emu.ids.trainedModelName), null, 2)}\n`,
    );
    const container = BlobServiceClient.fromConnectionString(emu.storage.connectionString).getContainerClient(
      'azuremltesting',
    );
    await container.createIfNotExists();
    await container.getBlockBlobClient('input/train.csv').upload(TRAINING_CSV, Buffer.byteLength(TRAINING_CSV));
    // The same run as plain JSON, for `temporal workflow start --type runPipeline --input-file`: it names the
    // pipeline only, so the worker loads it from its folder.
    const input: RunPipelineInput = { pipeline: DEV_PIPELINE, options: { pollIntervalSeconds: 1 } };
    await writeFile(join(dir, 'run.json'), `${JSON.stringify(input, null, 2)}\n`);

    const workerEnv = {
      ...process.env,
      ...emu.env,
      TEMPORAL_ADDRESS: temporal.address,
      TEMPORAL_NAMESPACE: temporal.namespace,
      TEMPORAL_TASK_QUEUE: opts.taskQueue,
      // The emulator provisions in about a second; the production default (5 s) would only make runs wait.
      ML_ARM_POLL_INTERVAL_MS: process.env.ML_ARM_POLL_INTERVAL_MS ?? '500',
    };
    if (opts.worker) {
      const started = startWorkerProcess(configDir, opts.taskQueue, workerEnv, io);
      worker = started.child;
      await started.ready;
    }

    const env = `TEMPORAL_ADDRESS=${temporal.address}`;
    // A server given by TEMPORAL_ADDRESS was not started here: its UI is whatever TEMPORAL_UI_URL says.
    const uiUrl = temporal.uiUrl ?? (temporal.external ? process.env.TEMPORAL_UI_URL : undefined);
    const lines = [
      '',
      'retrain dev is ready:',
      `  Temporal       ${temporal.address} (namespace ${temporal.namespace})`,
      `  Web UI         ${uiUrl ?? '(none)'}`,
      `  emulator       ${emu.url}`,
      `  ADF folder     ${configDir}`,
      `  worker         ${worker ? `task queue ${opts.taskQueue} (pid ${worker.pid})` : 'not started (--no-worker)'}`,
      '',
      ...(opts.worker
        ? []
        : [
            'Start your own worker with the emulator environment (its CA and Entra host):',
            `  set -a; . ${join(configDir, 'emulator.env')}; set +a`,
            `  ${env} npx retrain worker --config ${configDir} --task-queue ${opts.taskQueue}`,
            '',
          ]),
      'In another terminal:',
      `  export ${env} TEMPORAL_TASK_QUEUE=${opts.taskQueue}${uiUrl ? ` TEMPORAL_UI_URL=${uiUrl}` : ''}`,
      `  npx retrain run --config ${configDir} --pipeline ${DEV_PIPELINE} --poll-seconds 1`,
      `  temporal workflow start --type runPipeline --task-queue ${opts.taskQueue} --input-file ${join(dir, 'run.json')}`,
      '  npx retrain list',
      '',
      'Press Ctrl-C to stop everything.',
    ];
    return await new Promise<number>((done) => {
      let signalled = false;
      const stop = (signal: NodeJS.Signals) => {
        signalled = true;
        log(`${signal}: stopping the worker, the emulator and the Temporal server…`);
        done(0);
      };
      process.once('SIGINT', stop);
      process.once('SIGTERM', stop);
      // Printed once Ctrl-C is handled: a SIGINT before a listener exists would kill the process, stopping nothing.
      for (const l of lines) io.out(l);
      // A worker that dies is restarted, and said so: runs wait on the task queue meanwhile and lose nothing.
      const restarts: number[] = [];
      const supervise = (child: ChildProcess) =>
        child.once('exit', (code, signal) => {
          // Ctrl-C in a terminal signals the worker too (same process group); that exit is part of stopping.
          setTimeout(() => {
            if (signalled) return;
            const now = Date.now();
            restarts.push(now);
            while (restarts[0] < now - 60_000) restarts.shift();
            const delay = restartDelayMs(restarts.length);
            log(`the worker exited (${signal ?? `code ${code}`}); restarting it in ${delay / 1000} s`);
            setTimeout(() => {
              if (signalled) return;
              const again = startWorkerProcess(configDir, opts.taskQueue, workerEnv, io);
              worker = again.child;
              supervise(again.child);
              again.ready.then(
                () => log(`worker restarted (pid ${again.child.pid})`),
                (e: unknown) =>
                  log(`the restarted worker did not start: ${e instanceof Error ? e.message : String(e)}`),
              );
            }, delay);
          }, 200);
        });
      if (worker) supervise(worker);
    });
  } finally {
    if (worker) await stopChild(worker);
    for (const stop of stops.reverse()) await stop().catch((e: unknown) => log(`stopping: ${String(e)}`));
    log('stopped');
  }
}

export function registerDevCommand(program: Command, io: CliIO): void {
  addExamples(
    program
      .command('dev')
      .description(
        'local development: Temporal dev server + Web UI, the emulator with an ADF folder for it, and a worker, ' +
          'until Ctrl-C (TEMPORAL_ADDRESS set: use that server instead of starting one)',
      )
      .option('-d, --dir <dir>', 'where the ADF folder (adf/) and run.json are written', './.dev')
      .option('--port <n>', 'Temporal gRPC port (0 = any free one); the Web UI is on port+1000', port, 7233)
      .option('--emulator-port <n>', 'emulator HTTPS port (default: any free port)', port)
      .option('--db-filename <file>', "keep Temporal's state in this SQLite file across restarts")
      .option('-q, --task-queue <name>', 'task queue of the worker', taskQueueDefault())
      .option('--job-seconds <n>', 'how long an emulated training job runs', positive, 5)
      .option(
        '--azurite-file <file>',
        'attach to this Azurite (a file holding its connection string; or set ML_EMULATOR_AZURITE_CONNECTION_STRING)',
      )
      .option('--no-worker', 'start no worker (run your own, e.g. under a debugger)'),
    [
      'retrain dev',
      'retrain dev --port 7244 --db-filename .dev/temporal.sqlite --job-seconds 30',
      'retrain dev --no-worker   # then: retrain worker --config .dev/adf (with the printed environment)',
    ],
  ).action(async (opts: DevOpts) => {
    process.exitCode = await runDev(opts, io);
  });
}
