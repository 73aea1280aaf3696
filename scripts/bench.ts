import { cpus, totalmem, tmpdir } from 'node:os';
import { mkdtemp } from 'node:fs/promises';
import { join } from 'node:path';
import { Client, Connection } from '@temporalio/client';
import { NativeConnection, Runtime, DefaultLogger } from '@temporalio/worker';
import { BlobServiceClient } from '@azure/storage-blob';
import { Command } from 'commander';
import { CA_DIR_ENV, startEmulator, writeCaDir } from '../emulator';
import { spawn } from 'node:child_process';
import { startTemporalServer } from '../infra/temporal';
import { loadAdfConfig } from '../config/linked-services';
import { loadWorkerSettings } from '../config/env';
import { buildActivityDeps } from '../worker/deps';
import { createWorker, prebuiltWorkflowBundle } from '../worker/worker';
import { startRetrain } from '../client/run';
import type { RetrainAndUpdateInput } from '../common/types';

/**
 * `npm run bench`: retrainAndUpdate on one worker against the emulator, on a real dev server. Two scenarios:
 * - the whole chain (train → locate → update the ARM service and the classic endpoint), one run at a time, because
 *   runs that update the same scoring service must not overlap (the last writer wins);
 * - training only (no updates), many runs in flight, for the orchestration's throughput.
 * Prints numbers; asserts nothing (that is what the tests do).
 */
function pct(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];
}

async function main(): Promise<void> {
  // The worker runs in this process and calls the emulator over HTTPS: Node reads NODE_EXTRA_CA_CERTS only at
  // start, so make the CA first and run the benchmark in a child that trusts it.
  if (!process.env[CA_DIR_ENV]) {
    const caDir = await mkdtemp(join(tmpdir(), 'bench-ca-'));
    await writeCaDir(caDir);
    const child = spawn(process.execPath, process.argv.slice(1), {
      stdio: 'inherit',
      env: { ...process.env, NODE_EXTRA_CA_CERTS: join(caDir, 'ca.pem'), [CA_DIR_ENV]: caDir },
    });
    process.exitCode = await new Promise<number>((resolve) => child.on('exit', (code) => resolve(code ?? 1)));
    return;
  }
  const o = new Command('bench')
    .option('--chain-runs <n>', 'whole-chain runs, one at a time', '5')
    .option('--runs <n>', 'training-only runs', '40')
    .option('--concurrency <n>', 'runs in flight at once', '10')
    .option('--job-ms <n>', 'emulated BES job duration', '2000')
    .option('--poll-seconds <n>', 'BES poll interval', '0.5')
    .parse()
    .opts<{ chainRuns: string; runs: string; concurrency: string; jobMs: string; pollSeconds: string }>();
  const runs = Number(o.runs);
  const concurrency = Number(o.concurrency);
  Runtime.install({ logger: new DefaultLogger('ERROR') });

  const temporal = await startTemporalServer({ headless: true });
  const emu = await startEmulator({ jobs: { runningMs: Number(o.jobMs) }, arm: { provisioningMs: 500 } });
  const dir = await mkdtemp(join(tmpdir(), 'bench-adf-'));
  await emu.writeConfig(dir);
  const container = BlobServiceClient.fromConnectionString(emu.storage.connectionString).getContainerClient('bench');
  await container.createIfNotExists();
  await container.getBlockBlobClient('input/train.csv').upload('a,b\n1,2\n', 8);

  const settings = loadWorkerSettings({
    ...process.env,
    AZURE_AUTHORITY_HOST: emu.urls.authorityHost,
    ML_ARM_POLL_INTERVAL_MS: '200',
  });
  const native = await NativeConnection.connect({ address: temporal.address });
  const worker = await createWorker({
    connection: native,
    taskQueue: 'bench',
    deps: buildActivityDeps(await loadAdfConfig(dir), settings),
    workflowBundle: prebuiltWorkflowBundle(),
  });
  const running = worker.run();
  const connection = await Connection.connect({ address: temporal.address });
  const client = new Client({ connection });

  const input = (i: string): RetrainAndUpdateInput => {
    const model = `bench/models/run-${i}.ilearner`;
    const file = (filePath: string) => ({ linkedServiceName: 'StorageLinkedService', filePath });
    return {
      pipeline: 'bench',
      training: {
        activityName: 'train',
        linkedServiceName: 'trainingEndpoint',
        webServiceInputs: { input1: file('bench/input/train.csv'), input2: file('bench/input/train.csv') },
        webServiceOutputs: { output1: file(model), output2: file(`bench/eval/run-${i}.csv`) },
      },
      updates: [
        {
          activityName: 'updateArm',
          linkedServiceName: 'updatableScoringEndpoint2',
          trainedModelName: emu.ids.trainedModelName,
        },
        {
          activityName: 'updateClassic',
          linkedServiceName: 'classicScoringEndpoint',
          trainedModelName: emu.ids.trainedModelName,
        },
      ],
      options: { pollIntervalSeconds: Number(o.pollSeconds) },
    };
  };

  async function scenario(name: string, count: number, inFlight: number, withUpdates: boolean) {
    const latencies: number[] = [];
    const events: number[] = [];
    let next = 0;
    let failed = 0;
    const requestsBefore = emu.inspect().requests.length;
    const t0 = Date.now();
    await Promise.all(
      Array.from({ length: inFlight }, async () => {
        while (next < count) {
          const i = next++;
          const start = Date.now();
          const run = input(`${name}-${i}`);
          if (!withUpdates) run.updates = [];
          const h = await startRetrain(client, run, { taskQueue: 'bench', workflowId: `bench-${name}-${t0}-${i}` });
          try {
            await h.result();
            latencies.push(Date.now() - start);
            events.push((await h.fetchHistory()).events?.length ?? 0);
          } catch (e) {
            failed++;
            console.error(`${name} run ${i} failed: ${String(e)}`);
          }
        }
      }),
    );
    const wall = (Date.now() - t0) / 1000;
    latencies.sort((a, b) => a - b);
    console.log(
      `\n${name}: ${count} runs (${failed} failed), ${inFlight} in flight, BES job ${o.jobMs} ms, poll ${o.pollSeconds} s`,
    );
    console.log(`  wall ${wall.toFixed(1)} s, throughput ${(((count - failed) / wall) * 60).toFixed(1)} runs/min`);
    console.log(
      `  run latency ms: p50 ${pct(latencies, 50)}, p95 ${pct(latencies, 95)}, max ${latencies[latencies.length - 1]}`,
    );
    console.log(`  history events per run: min ${Math.min(...events)}, max ${Math.max(...events)}`);
    console.log(
      `  emulator requests per run: ${((emu.inspect().requests.length - requestsBefore) / count).toFixed(1)}`,
    );
  }

  const cpu = cpus();
  console.log(
    `machine: ${cpu[0]?.model ?? 'unknown'} x${cpu.length}, ${Math.round(totalmem() / 2 ** 30)} GiB, node ${process.version}`,
  );
  await scenario('chain', Number(o.chainRuns), 1, true);
  await scenario('training-only', runs, concurrency, false);

  worker.shutdown();
  await running;
  await connection.close();
  await native.close();
  await emu.close();
  await temporal.stop();
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
