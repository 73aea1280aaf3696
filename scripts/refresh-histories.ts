import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { Client, Connection } from '@temporalio/client';
import type { WorkflowHandle } from '@temporalio/client';
import { BlobServiceClient } from '@azure/storage-blob';
import { startEmulator } from '../emulator';
import type { EmulatorHandle } from '../emulator';
import { startTemporalServer } from '../infra/temporal';
import type { RetrainAndUpdateInput, RunStatus } from '../common/types';
import { DEFAULT_VERIFICATION } from '../common/deployment';
import type { DeploymentPolicyInput } from '../common/deployment';
import type { RollbackRequest } from '../common/models';
import { scoringServiceWorkflowId } from '../common/models';
import { serviceKeyOf } from '../config/service-key';
import { SCORING_SERVICE_WORKFLOW, startOperation } from '../activities/scoring-service';
import { approveUpdate, rollbackUpdate, statusQuery } from '../workflows/queries';
import { historyToJson } from './history-json';

/**
 * `npm run histories:refresh`: record the workflow histories of this release under
 * test/fixtures/histories/v<package.json version>/, which test/durability/replay.test.ts replays, with those of every
 * earlier release, against the current workflow code on every `npm test`. Runs recorded by a released version may
 * still be in flight in production, so a release's directory is never rewritten: bump the version for a release that
 * changes workflows/ (with patching for the runs in flight, see docs/upgrading.md), or pass `--force` to
 * re-record an unreleased version. Everything is local: a dev server, the emulator, and a worker process from dist/
 * (`npm run build` first; the npm script does).
 */
const ROOT = join(__dirname, '..', '..');
const HISTORIES = join(ROOT, 'test', 'fixtures', 'histories');
const TASK_QUEUE = 'histories';
const log = (line: string) => console.log(`[histories] ${line}`);

function startWorker(configDir: string, env: NodeJS.ProcessEnv): Promise<ChildProcess> {
  return new Promise((resolve, reject) => {
    const child = spawn(
      process.execPath,
      [join(__dirname, '..', 'worker', 'main.js'), '--config', configDir, '--task-queue', TASK_QUEUE],
      { env, stdio: ['ignore', 'pipe', 'pipe'] },
    );
    let out = '';
    child.stderr.on('data', (d: Buffer) => (out += d.toString()));
    child.stdout.on('data', (d: Buffer) => {
      out += d.toString();
      if (out.includes('worker ready')) resolve(child);
    });
    child.on('exit', (code) => reject(new Error(`worker exited with ${code}: ${out.slice(-2000)}`)));
  });
}

const ref = (name: string) => ({ referenceName: name, type: 'LinkedServiceReference' });

/** The seed's chain as an ADF pipeline: BES training, then an ARM and a classic update, with an on-failure branch. */
function pipelineJson(trainedModelName: string) {
  const file = (path: unknown) => ({ LinkedServiceName: ref('StorageLinkedService'), FilePath: path });
  const update = (name: string, ls: string) => ({
    name,
    type: 'AzureMLUpdateResource',
    linkedServiceName: ref(ls),
    typeProperties: {
      trainedModelName,
      trainedModelLinkedServiceName: ref('StorageLinkedService'),
      trainedModelFilePath: { value: "@concat('histories/models/', pipeline().parameters.model)", type: 'Expression' },
    },
    dependsOn: [{ activity: 'amlBEGetilearner', dependencyConditions: ['Succeeded'] }],
  });
  return {
    name: 'HistoriesPipeline',
    properties: {
      parameters: { model: { type: 'String', defaultValue: 'model.ilearner' } },
      activities: [
        {
          name: 'amlBEGetilearner',
          type: 'AzureMLBatchExecution',
          linkedServiceName: ref('trainingEndpoint'),
          typeProperties: {
            webServiceInputs: { input1: file('histories/input/train.csv'), input2: file('histories/input/train.csv') },
            webServiceOutputs: {
              output1: file({ value: "@concat('histories/models/', pipeline().parameters.model)", type: 'Expression' }),
              output2: file('histories/output/evaluation.csv'),
            },
          },
        },
        update('amlUpdateResource', 'updatableScoringEndpoint2'),
        update('amlUpdateClassicEndpoint', 'classicScoringEndpoint'),
        {
          name: 'onTrainingFailed',
          type: 'Wait',
          typeProperties: { waitTimeInSeconds: 1 },
          dependsOn: [{ activity: 'amlBEGetilearner', dependencyConditions: ['Failed'] }],
        },
      ],
    },
  };
}

function retrainInput(emu: EmulatorHandle, model: string, deployment?: DeploymentPolicyInput): RetrainAndUpdateInput {
  const storage = 'StorageLinkedService';
  const modelPath = `histories/models/${model}`;
  return {
    pipeline: 'histories',
    training: {
      activityName: 'amlBEGetilearner',
      linkedServiceName: 'trainingEndpoint',
      webServiceInputs: {
        input1: { linkedServiceName: storage, filePath: 'histories/input/train.csv' },
        input2: { linkedServiceName: storage, filePath: 'histories/input/train.csv' },
      },
      webServiceOutputs: {
        output1: { linkedServiceName: storage, filePath: modelPath },
        output2: { linkedServiceName: storage, filePath: 'histories/output/evaluation.csv' },
      },
    },
    updates: [
      {
        activityName: 'amlUpdateResource',
        linkedServiceName: 'updatableScoringEndpoint2',
        trainedModelName: emu.ids.trainedModelName,
        trainedModelLinkedServiceName: storage,
        trainedModelFilePath: modelPath,
      },
      {
        activityName: 'amlUpdateClassicEndpoint',
        linkedServiceName: 'classicScoringEndpoint',
        trainedModelName: emu.ids.trainedModelName,
      },
    ],
    options: { pollIntervalSeconds: 0.2 },
    ...(deployment && { deployment }),
  };
}

async function waitForStatus(h: WorkflowHandle, ok: (s: RunStatus) => boolean): Promise<void> {
  for (let i = 0; i < 600; i++) {
    const s = await h.query(statusQuery).catch(() => undefined);
    if (s && ok(s)) return;
    await sleep(50);
  }
  throw new Error(`${h.workflowId}: the awaited status never came`);
}

async function main(): Promise<void> {
  const pkg = JSON.parse(await readFile(join(ROOT, 'package.json'), 'utf8')) as { version: string };
  const version = `v${pkg.version}`;
  const OUT = join(HISTORIES, version);
  const existing = (await readdir(OUT).catch(() => [] as string[])).filter((f) => f.endsWith('.json'));
  if (existing.length && !process.argv.includes('--force')) {
    throw new Error(
      `test/fixtures/histories/${version} already holds ${existing.length} histories of version ${pkg.version}. ` +
        'A released version is never re-recorded (its runs may be in flight): bump the version in package.json, or ' +
        'pass --force to re-record an unreleased one.',
    );
  }
  const stops: (() => Promise<void>)[] = [];
  let worker: ChildProcess | undefined;
  try {
    const temporal = await startTemporalServer({ headless: true, log: (l) => log(l) });
    stops.push(() => temporal.stop());
    const emu = await startEmulator({ seed: 424242, jobs: { runningMs: 500 }, arm: { provisioningMs: 300 } });
    stops.push(() => emu.close());
    const work = await mkdtemp(join(tmpdir(), 'ml-retrain-histories-'));
    stops.push(() => rm(work, { recursive: true, force: true }));
    const configDir = join(work, 'adf');
    await emu.writeConfig(configDir);
    await mkdir(join(configDir, 'pipeline'), { recursive: true });
    await writeFile(
      join(configDir, 'pipeline', 'HistoriesPipeline.json'),
      JSON.stringify(pipelineJson(emu.ids.trainedModelName), null, 2),
    );
    const container = BlobServiceClient.fromConnectionString(emu.storage.connectionString).getContainerClient(
      'histories',
    );
    await container.createIfNotExists();
    await container.getBlockBlobClient('input/train.csv').upload('a,b\n1,2\n', 8);

    worker = await startWorker(configDir, {
      ...process.env,
      ...emu.env,
      TEMPORAL_ADDRESS: temporal.address,
      TEMPORAL_NAMESPACE: temporal.namespace,
      ML_ARM_POLL_INTERVAL_MS: '100',
    });
    const connection = await Connection.connect({ address: temporal.address });
    stops.push(() => connection.close());
    const client = new Client({ connection, namespace: temporal.namespace });

    const start = (type: string, id: string, arg: unknown) =>
      client.workflow.start(type, { taskQueue: TASK_QUEUE, workflowId: id, args: [arg] });
    const finished: { name: string; handle: WorkflowHandle }[] = [];
    const scenario = async (name: string, handle: WorkflowHandle, during?: () => Promise<void>) => {
      await during?.();
      const end = await handle.result().then(
        () => 'completed',
        (e: Error) => `ended: ${e.message}`,
      );
      log(`${name}: ${end}`);
      finished.push({ name, handle });
    };

    await scenario(
      'retrainAndUpdate-succeeded',
      await start('retrainAndUpdate', 'h-ok', retrainInput(emu, 'ok.ilearner')),
    );
    emu.setJobFaults({ failNext: { count: 1, details: 'Module: Reader; Error 0001: Column names not found' } });
    await scenario(
      'retrainAndUpdate-bes-failed',
      await start('retrainAndUpdate', 'h-failed', retrainInput(emu, 'failed.ilearner')),
    );
    // Retried activities: two 503s while polling, a PATCH whose response is lost (applied, then found applied).
    emu.setFaults([
      { routes: ['bes.status'], count: 2, kind: { type: 'status', status: 503 } },
      { routes: ['classic.patch'], count: 1, kind: { type: 'reset', phase: 'after' } },
    ]);
    await scenario(
      'retrainAndUpdate-retried',
      await start('retrainAndUpdate', 'h-retried', retrainInput(emu, 'retried.ilearner')),
    );
    emu.setFaults([]);
    emu.setJobFaults({ slowNext: { count: 1, extraMs: 60_000 } });
    const cancelled = await start('retrainAndUpdate', 'h-cancelled', retrainInput(emu, 'cancelled.ilearner'));
    await scenario('retrainAndUpdate-cancelled', cancelled, async () => {
      await waitForStatus(cancelled, (s) => s.besStatus === 'Running');
      await cancelled.cancel();
    });
    await scenario(
      'runPipeline-succeeded',
      await start('runPipeline', 'h-pipeline-ok', {
        pipeline: 'HistoriesPipeline',
        parameters: { model: 'pipeline.ilearner' },
        options: { pollIntervalSeconds: 0.2 },
      }),
    );
    // The model lifecycle (v0.2.0): a second run to the same path deploys; the gate refuses a worse model; a run
    // waits for approval; a broken model fails verification and is rolled back; an operator rolls back.
    await scenario(
      'retrainAndUpdate-same-path-again',
      await start('retrainAndUpdate', 'h-again', retrainInput(emu, 'ok.ilearner')),
    );
    await scenario(
      'retrainAndUpdate-gate-rejected',
      await start(
        'retrainAndUpdate',
        'h-gate',
        retrainInput(emu, 'gate.ilearner', { gate: { rules: ['AUC >= 0.95', 'AUC >= live - 0.02'] } }),
      ),
    );
    const approved = await start(
      'retrainAndUpdate',
      'h-approved',
      retrainInput(emu, 'approved.ilearner', { approval: { required: true, timeout: '01:00:00' } }),
    );
    await scenario('retrainAndUpdate-approved', approved, async () => {
      await waitForStatus(approved, (s) => s.phase === 'AwaitingApproval');
      await approved.executeUpdate(approveUpdate, { args: [{ by: 'histories', reason: 'recorded' }] });
    });
    emu.setJobFaults({ brokenNext: {} });
    await scenario(
      'retrainAndUpdate-verification-rolled-back',
      await start(
        'retrainAndUpdate',
        'h-broken',
        retrainInput(emu, 'broken.ilearner', { verification: { timeoutSeconds: 3, intervalSeconds: 0.2 } }),
      ),
    );
    const armService = serviceKeyOf(emu.urls.armUpdateResource);
    const request: RollbackRequest = {
      requestId: 'h-operator-rollback',
      linkedServiceName: 'updatableScoringEndpoint2',
      by: 'histories',
      reason: 'recorded',
      taskQueue: TASK_QUEUE,
      verification: { ...DEFAULT_VERIFICATION, intervalSeconds: 0.2 },
    };
    const rolledBack = await client.workflow.executeUpdateWithStart(rollbackUpdate, {
      args: [request],
      updateId: request.requestId,
      startWorkflowOperation: startOperation(armService, TASK_QUEUE),
    });
    log(`operator rollback: ${rolledBack.outcome}: ${rolledBack.message}`);
    emu.setJobFaults({ failNext: { count: 1, details: 'Error 0001: Column names not found' } });
    await scenario(
      'runPipeline-failure-branch',
      await start('runPipeline', 'h-pipeline-failed', {
        pipeline: 'HistoriesPipeline',
        options: { pollIntervalSeconds: 0.2 },
      }),
    );

    // The scoring services' long-lived workflows: their histories so far (deploys, Superseded, rollbacks).
    for await (const w of client.workflow.list({ query: `WorkflowType = '${SCORING_SERVICE_WORKFLOW}'` })) {
      const kind = w.workflowId === scoringServiceWorkflowId(armService) ? 'arm' : 'classic';
      const name = `scoringService-${kind}${finished.some((f) => f.name.startsWith(`scoringService-${kind}`)) ? '-2' : ''}`;
      finished.push({ name, handle: client.workflow.getHandle(w.workflowId) });
    }

    await mkdir(OUT, { recursive: true });
    for (const f of existing) await rm(join(OUT, f));
    for (const { name, handle } of finished) {
      const json = historyToJson(await handle.fetchHistory());
      // Committed to git: make sure no secret is in there, payloads (base64 JSON) included.
      const decoded = json.replace(/"data":\s*"([A-Za-z0-9+/=]*)"/g, (_m, b64: string) =>
        Buffer.from(b64, 'base64').toString('utf8'),
      );
      // Every key the emulator issued (API keys, the service principal's secret, scoring keys).
      const secrets = JSON.stringify(emu.keys)
        .split('"')
        .filter((v) => v.length >= 16);
      if (secrets.some((s) => decoded.includes(s)) || /AccountKey=|[?&]sig=/.test(decoded)) {
        throw new Error(`${name}: the history holds a secret; not writing it`);
      }
      await writeFile(join(OUT, `${name}.json`), `${json}\n`);
      log(
        `wrote test/fixtures/histories/${version}/${name}.json (${(JSON.parse(json) as { events: unknown[] }).events.length} events)`,
      );
    }
  } finally {
    if (worker && worker.exitCode === null) {
      const exited = new Promise((r) => worker!.once('exit', r));
      worker.kill('SIGTERM');
      await exited;
    }
    for (const stop of stops.reverse()) await stop().catch(() => undefined);
  }
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
