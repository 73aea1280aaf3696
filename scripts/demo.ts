import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { mkdir, mkdtemp, writeFile } from 'node:fs/promises';
import { request } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Client, Connection } from '@temporalio/client';
import { BlobServiceClient } from '@azure/storage-blob';
import { Command } from 'commander';
import { startEmulator } from '../emulator';
import type { EmulatorHandle } from '../emulator';
import { startTemporalServer } from '../infra/temporal';
import type { TemporalServerHandle } from '../infra/temporal';
import type { RunPipelineResult } from '../common/pipeline-definition';
import type { ModelRef } from '../common/types';
import { checkPipeline, printPipelineResult, startPipeline } from '../client/pipeline-run';
import { samplePipeline } from '../client/commands/dev';
import { followRun, rootCause } from '../client/run';

/**
 * `npm run demo`: the seed scenario end to end on the embedded default. A real Temporal dev server, the emulator with
 * Azurite, a worker process; train → .ilearner → update an ARM web service and a classic endpoint; then score
 * against both the way a user would, to show the new model is live. `--keep` leaves everything up for the Web UI.
 */

/** The seed's pipeline, with output paths BES accepts and a second update for the classic endpoint. */
function demoPipeline(trainedModelName: string): unknown {
  return samplePipeline(trainedModelName, {
    name: 'RetrainAndUpdateDemo',
    trainedModel: 'azuremltesting/output/newModelForArm.ilearner',
    description: 'Use AML BES to get the ilearner file from training web service',
    dependsOn: 'amlbeGetilearner',
  });
}

const TRAINING_CSV = [
  'age,income,churned',
  ...Array.from({ length: 50 }, (_, i) => `${20 + i},${30_000 + i * 750},${i % 3 === 0 ? 1 : 0}`),
].join('\n');

function apiKeyOf(emu: EmulatorHandle, linkedService: string): string {
  const key = emu.linkedServices[linkedService]?.properties.typeProperties.apiKey as
    string | { value: string } | undefined;
  return typeof key === 'string' ? key : (key?.value ?? '');
}

/** An RRS scoring call, as a user's client would make it. Returns the model the service says it used. */
function score(url: string, apiKey: string, caFile: string): Promise<string> {
  const body = JSON.stringify({
    Inputs: { input1: { ColumnNames: ['age', 'income'], Values: [['42', '51000']] } },
    GlobalParameters: {},
  });
  return new Promise((resolve, reject) => {
    const req = request(
      url,
      {
        method: 'POST',
        ca: readFileSync(caFile),
        headers: { Authorization: `Bearer ${apiKey}`, 'Content-Type': 'application/json' },
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => {
          if (res.statusCode !== 200) return reject(new Error(`scoring call answered ${res.statusCode}`));
          const parsed = JSON.parse(Buffer.concat(chunks).toString('utf8')) as {
            Results: Record<string, { value: { ColumnNames: string[]; Values: string[][] } }>;
          };
          const table = Object.values(parsed.Results)[0].value;
          resolve(table.Values[0][table.ColumnNames.indexOf('Model')]);
        });
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}

/** The run's BES job and the model its updates deployed, from the activities' outputs. */
function trainedBy(result: RunPipelineResult): { jobId?: string; model?: ModelRef } {
  const outputs = result.activityRuns.map((r) => r.output as { jobId?: string; model?: ModelRef } | null);
  return { jobId: outputs.find((o) => o?.jobId)?.jobId, model: outputs.find((o) => o?.model)?.model };
}

function startWorker(configDir: string, env: NodeJS.ProcessEnv): Promise<ChildProcess> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [join(__dirname, '..', 'worker', 'main.js'), '--config', configDir], {
      env,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.stdout.on('data', (d: Buffer) => {
      if (d.toString().includes('worker ready')) resolve(child);
    });
    child.on('exit', (code) => reject(new Error(`worker exited with ${code}: ${stderr.slice(-2000)}`)));
  });
}

async function main(): Promise<void> {
  const opts = new Command('demo')
    .option('--keep', 'leave the dev server, emulator and worker running to explore in the Web UI')
    .option('--job-seconds <n>', 'how long the emulated training job runs', '5')
    .parse()
    .opts<{ keep?: boolean; jobSeconds: string }>();
  const t0 = Date.now();
  const say = (line: string) => console.log(`[demo ${((Date.now() - t0) / 1000).toFixed(1).padStart(5)}s] ${line}`);
  const stops: (() => Promise<void>)[] = [];
  let worker: ChildProcess | undefined;
  let ok = false;
  try {
    say('starting the Temporal dev server');
    const temporal: TemporalServerHandle = await startTemporalServer({ log: (l) => say(`  ${l}`) });
    stops.push(() => temporal.stop());
    say(`Temporal at ${temporal.address}${temporal.uiUrl ? `, Web UI ${temporal.uiUrl}` : ''}`);

    say('starting the ML Studio (classic) emulator and Azurite');
    const emu = await startEmulator({ jobs: { runningMs: Math.round(Number(opts.jobSeconds) * 1000) } });
    stops.push(() => emu.close());
    const work = await mkdtemp(join(tmpdir(), 'ml-retrain-demo-'));
    const configDir = join(work, 'adf');
    await emu.writeConfig(configDir);
    await mkdir(join(configDir, 'pipeline'), { recursive: true });
    await writeFile(
      join(configDir, 'pipeline', 'RetrainAndUpdateDemo.json'),
      JSON.stringify(demoPipeline(emu.ids.trainedModelName), null, 2),
    );
    say(`emulator at ${emu.url}; ADF folder written to ${configDir}`);

    const blob = BlobServiceClient.fromConnectionString(emu.storage.connectionString);
    const container = blob.getContainerClient('azuremltesting');
    await container.createIfNotExists();
    await container.getBlockBlobClient('input/train.csv').upload(TRAINING_CSV, Buffer.byteLength(TRAINING_CSV));
    say('uploaded training data to azuremltesting/input/train.csv');

    const before = emu.inspect().liveModels;
    say('starting a worker process');
    worker = await startWorker(configDir, {
      ...process.env,
      ...emu.env,
      TEMPORAL_ADDRESS: temporal.address,
      TEMPORAL_NAMESPACE: temporal.namespace,
      // The emulator provisions in ~1.5 s; the production default (5 s) would only make the demo wait.
      ML_ARM_POLL_INTERVAL_MS: '500',
    });

    const connection = await Connection.connect({ address: temporal.address });
    stops.push(() => connection.close());
    const client = new Client({ connection, namespace: temporal.namespace });
    // As `retrain run --pipeline` does: parsed and checked here once, and the run carries the definition.
    // The seed depends on 'amlbeGetilearner' for 'amlBEGetilearner': accepted as ADF does, with a note.
    const definition = await checkPipeline(configDir, 'RetrainAndUpdateDemo', (w) =>
      say(`note: ${w.replace(/^warning: /, '')}`),
    );
    const input = { pipeline: definition.name, options: { pollIntervalSeconds: 1 } };
    let link: string | undefined;
    // Twice, as a schedule would: the seed's pipeline writes its model to one fixed path, so the second run's model
    // lands where the first one's was, and must still replace it on both services.
    const RUNS = 2;
    const jobs: string[] = [];
    ok = true;
    for (let n = 1; n <= RUNS && ok; n++) {
      say(n === 1 ? `run ${n} of ${RUNS}` : `run ${n} of ${RUNS}: retrain again, to the same model path`);
      const handle = await startPipeline(client, input, { taskQueue: 'ml-retrain', definition }, say);
      link = temporal.uiUrl
        ? `${temporal.uiUrl}/namespaces/${temporal.namespace}/workflows/${encodeURIComponent(handle.workflowId)}`
        : undefined;
      say(`started workflow ${handle.workflowId}`);
      try {
        const result = (await followRun(handle, (l) => say(`  ${l}`))) as unknown as RunPipelineResult;
        printPipelineResult(result, (l) => say(l));
        const { jobId, model: trained } = trainedBy(result);
        if (trained) say(`model:    ${trained.url} (${trained.contentLength} bytes, etag ${trained.etag})`);
        const history = await handle.fetchHistory();
        say(`workflow history: ${history.events?.length ?? 0} events`);
        jobs.push(jobId ?? '');

        // The verdict comes from the services themselves, not from what the run reported.
        say('scoring against each service, as a user would:');
        const classic = await score(emu.urls.classicScore, apiKeyOf(emu, 'classicScoringEndpoint'), emu.caFile);
        const arm = await score(emu.urls.armScore, apiKeyOf(emu, 'updatableScoringEndpoint2'), emu.caFile);
        for (const [name, model] of [
          ['classic endpoint (classicScoringEndpoint)', classic],
          ['ARM web service (updatableScoringEndpoint2)', arm],
        ]) {
          const earlier = jobs.indexOf(model ?? '') >= 0 && model !== jobId;
          say(
            `  ${name}: scored with model from job ${model}` +
              (model === jobId
                ? ` = run ${n}'s new model`
                : earlier
                  ? ` (NOT the new model: an earlier run's)`
                  : ' (NOT the new model)'),
          );
        }
        if (n === 1) say(`  models before the first run: ${JSON.stringify(Object.values(before))}`);
        ok = jobId !== undefined && classic === jobId && arm === jobId;
      } catch (e) {
        const cause = rootCause(e);
        say(`run failed: ${cause.type ? `${cause.type}: ` : ''}${cause.message}`);
        ok = false;
      }
    }
    if (ok) say(`each run's model went live on both services: jobs ${jobs.join(' then ')}`);
    if (link) say(`Web UI: ${link}`);
    say(ok ? 'demo succeeded' : 'demo FAILED');
    if (opts.keep) {
      say('--keep: everything stays up; press Ctrl-C to stop');
      say(
        `  TEMPORAL_ADDRESS=${temporal.address} npx retrain run --config ${configDir} --pipeline RetrainAndUpdateDemo`,
      );
      await new Promise<void>((resolve) => {
        process.once('SIGINT', resolve);
        process.once('SIGTERM', resolve);
      });
    }
  } finally {
    if (worker && worker.exitCode === null) {
      const exited = new Promise((r) => worker!.once('exit', r));
      worker.kill('SIGTERM');
      await exited;
    }
    for (const stop of stops.reverse()) await stop().catch(() => undefined);
    say(`stopped everything (wall time ${((Date.now() - t0) / 1000).toFixed(1)} s)`);
  }
  if (!ok) process.exitCode = 1;
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
