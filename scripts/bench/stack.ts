import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { mkdtemp, writeFile } from 'node:fs/promises';
import { request } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import readline from 'node:readline';
import { BlobServiceClient } from '@azure/storage-blob';
import { Client, Connection } from '@temporalio/client';
import { startEmulator } from '../../emulator';
import type { EmulatorHandle } from '../../emulator';
import { startTemporalServer } from '../../infra/temporal';
import type { TemporalServerHandle } from '../../infra/temporal';
import type { RetrainAndUpdateInput, UpdateResourceStep } from '../../common/types';

/**
 * What every scenario runs on: a fresh dev server, the emulator (with Azurite) in this process, an ADF folder that
 * points at it, and worker processes (`node dist/worker/main.js`, the product as shipped) that run apart from the
 * emulator so their CPU and memory are their own.
 */

/** The ARM update polls its operation at this interval; the emulator provisions in ARM_PROVISIONING_MS. */
export const ARM_POLL_MS = 200;
const ARM_PROVISIONING_MS = 500;
export const CONTAINER = 'bench';
const OWN_ENDPOINT = 'bench-history';
export type UpdateName = 'arm' | 'classic' | 'own';

export interface ChildHandle {
  child: ChildProcess;
  pid: number | undefined;
  /** The last lines the process printed, for an error message. */
  tail(): string;
  stop(): Promise<void>;
}

export interface BenchStack {
  temporal: TemporalServerHandle;
  emu: EmulatorHandle;
  configDir: string;
  client: Client;
  /** Environment for a child that talks to the dev server and the emulator (CA, authority host). */
  childEnv: NodeJS.ProcessEnv;
  /** Make every following training job run `ms` (the emulator's jobs run 0 ms otherwise). */
  setJobMs(ms: number): void;
  /**
   * A run's input: one BES training, then the named updates: `arm` and `classic` are the seeded services; `own` is a
   * classic endpoint of its own, so the history runs, which end while other scenarios update the seeded services,
   * never race them for one service.
   */
  input(id: string, updates: UpdateName[], pollSeconds: number): RetrainAndUpdateInput;
  close(): Promise<void>;
}

/** Spawn a Node script and resolve once it prints `ready` (a line containing it). */
export function spawnNode(
  script: string,
  args: string[],
  env: NodeJS.ProcessEnv,
  ready: string,
  onLine?: (line: string) => void,
  nodeArgs: string[] = [],
): Promise<ChildHandle> {
  const child = spawn(process.execPath, [...nodeArgs, script, ...args], { env, stdio: ['pipe', 'pipe', 'pipe'] });
  const lines: string[] = [];
  const keep = (line: string) => {
    lines.push(line);
    if (lines.length > 40) lines.shift();
  };
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const handle: ChildHandle = {
    child,
    pid: child.pid,
    tail: () => lines.join('\n'),
    async stop() {
      if (child.exitCode !== null || child.signalCode !== null) return;
      child.kill('SIGTERM');
      await exited;
    },
  };
  readline.createInterface({ input: child.stderr }).on('line', keep);
  return new Promise((resolve, reject) => {
    readline.createInterface({ input: child.stdout }).on('line', (line) => {
      keep(line);
      onLine?.(line);
      if (line.includes(ready)) resolve(handle);
    });
    child.once('exit', (code) => reject(new Error(`${script} exited with ${code}:\n${handle.tail()}`)));
  });
}

export async function startStack(log: (line: string) => void): Promise<BenchStack> {
  const temporal = await startTemporalServer({ headless: true, log: (l) => log(`  ${l}`) });
  // Jobs run 0 ms unless a scenario asks for more (setJobMs): one emulator serves every job length.
  const emu = await startEmulator({
    jobs: { runningMs: 0 },
    arm: { provisioningMs: ARM_PROVISIONING_MS },
    maxLoggedRequests: 200_000,
  });
  const configDir = await mkdtemp(join(tmpdir(), 'bench-adf-'));
  await emu.writeConfig(configDir);
  const container = BlobServiceClient.fromConnectionString(emu.storage.connectionString).getContainerClient(CONTAINER);
  await container.createIfNotExists();
  await container.getBlockBlobClient('input/train.csv').upload('a,b\n1,2\n', 8);
  const connection = await Connection.connect({ address: temporal.address });
  const client = new Client({ connection, namespace: temporal.namespace });
  const childEnv: NodeJS.ProcessEnv = {
    ...process.env,
    ...emu.env,
    TEMPORAL_ADDRESS: temporal.address,
    TEMPORAL_NAMESPACE: temporal.namespace,
    ML_ARM_POLL_INTERVAL_MS: String(ARM_POLL_MS),
  };
  const file = (filePath: string) => ({ linkedServiceName: 'StorageLinkedService', filePath });
  await addClassicEndpoint(emu, configDir, OWN_ENDPOINT, 'ownClassicEndpoint');
  const updates: Record<UpdateName, UpdateResourceStep> = {
    arm: {
      activityName: 'updateArm',
      linkedServiceName: 'updatableScoringEndpoint2',
      trainedModelName: emu.ids.trainedModelName,
    },
    classic: {
      activityName: 'updateClassic',
      linkedServiceName: 'classicScoringEndpoint',
      trainedModelName: emu.ids.trainedModelName,
    },
    own: {
      activityName: 'updateOwn',
      linkedServiceName: 'ownClassicEndpoint',
      trainedModelName: emu.ids.trainedModelName,
    },
  };
  return {
    temporal,
    emu,
    configDir,
    client,
    childEnv,
    setJobMs(ms) {
      emu.setJobFaults({
        slowNext: { count: Number.MAX_SAFE_INTEGER, extraMs: ms, serviceId: emu.ids.trainingServiceId },
      });
    },
    input: (id, which, pollSeconds) => ({
      pipeline: 'bench',
      training: {
        activityName: 'train',
        linkedServiceName: 'trainingEndpoint',
        webServiceInputs: {
          input1: file(`${CONTAINER}/input/train.csv`),
          input2: file(`${CONTAINER}/input/train.csv`),
        },
        webServiceOutputs: {
          output1: file(`${CONTAINER}/models/${id}.ilearner`),
          output2: file(`${CONTAINER}/eval/${id}.csv`),
        },
      },
      updates: which.map((w) => updates[w]),
      options: { pollIntervalSeconds: pollSeconds },
    }),
    async close() {
      await connection.close();
      await emu.close();
      await temporal.stop();
    },
  };
}

/** The product's worker as shipped (`node dist/worker/main.js`) on its own task queue, started in its own process. */
export function startWorkerProcess(
  stack: BenchStack,
  taskQueue: string,
  env: NodeJS.ProcessEnv = {},
): Promise<ChildHandle> {
  const main = join(__dirname, '..', '..', 'worker', 'main.js');
  // BENCH_WORKER_NODE_ARGS: Node flags for the product's worker alone, e.g. `--cpu-prof --cpu-prof-dir=/tmp/prof`
  // (a V8 CPU profile written when it stops; NODE_OPTIONS refuses --cpu-prof) or `--max-old-space-size=256`.
  const nodeArgs = (process.env.BENCH_WORKER_NODE_ARGS ?? '').split(/\s+/).filter(Boolean);
  return spawnNode(
    main,
    ['--config', stack.configDir, '--task-queue', taskQueue],
    { ...stack.childEnv, ...env },
    'worker ready',
    undefined,
    nodeArgs,
  );
}

/**
 * A new endpoint of the seeded classic web service (management PUT, as a user adds one), with its own linked service
 * written into the ADF folder before any worker reads it.
 */
async function addClassicEndpoint(
  emu: EmulatorHandle,
  configDir: string,
  endpoint: string,
  name: string,
): Promise<void> {
  const url = emu.urls.classicUpdateResource.replace(/\/[^/]+$/, `/${endpoint}`);
  const body = JSON.stringify({ Description: 'the benchmark history runs' });
  const answer = await new Promise<string>((resolve, reject) => {
    const req = request(
      url,
      {
        method: 'PUT',
        ca: readFileSync(emu.caFile),
        headers: { Authorization: `Bearer ${emu.keys.workspaceToken}`, 'Content-Type': 'application/json' },
      },
      (res) => {
        let text = '';
        res.on('data', (d: Buffer) => (text += d.toString()));
        res.on('end', () =>
          res.statusCode === 200 ? resolve(text) : reject(new Error(`PUT ${endpoint}: ${res.statusCode} ${text}`)),
        );
      },
    );
    req.on('error', reject);
    req.end(body);
  });
  const ep = JSON.parse(answer) as { PrimaryKey: string; ApiLocation: string };
  const ls = structuredClone(emu.linkedServices.classicScoringEndpoint);
  ls.name = name;
  Object.assign(ls.properties.typeProperties, {
    mlEndpoint: `${ep.ApiLocation}/jobs?api-version=2.0`,
    apiKey: { type: 'SecureString', value: ep.PrimaryKey },
    updateResourceEndpoint: url,
  });
  // Linked services carry keys: readable by the owner only, as the emulator writes its own.
  await writeFile(join(configDir, 'linkedService', `${name}.json`), `${JSON.stringify(ls, null, 2)}\n`, {
    mode: 0o600,
  });
}
