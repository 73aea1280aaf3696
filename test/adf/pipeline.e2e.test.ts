/**
 * ADF definitions end to end: real Temporal server, real worker and activities, the emulator over Azurite.
 * - the seed's own pipeline (test/fixtures/seed, verbatim) with the seed's linked-service names, whose keys come from
 *   the emulator (the seed's are samples): on a faithful BES it fails exactly as ADF would (extension-less paths), on
 *   a lenient one it runs through;
 * - secrets from Key Vault (AzureKeyVaultSecret, resolved by the worker over HTTPS with challenge-based auth);
 * - `retrain run --pipeline` and `retrain rerun --from-failure` as a user runs them.
 */
import { copyFile, mkdir, mkdtemp, readFile, readdir, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { WorkflowHandle } from '@temporalio/client';
import type { WorkflowFailedError } from '@temporalio/client';
import type { Worker } from '@temporalio/worker';
import { BlobServiceClient } from '@azure/storage-blob';
import { startEmulator } from '../../emulator';
import type { EmulatorHandle } from '../../emulator';
import { buildIlearner } from '../../emulator/blobs';
import { loadAdfConfig } from '../../config/linked-services';
import { loadWorkerSettings } from '../../config/env';
import { buildActivityDeps } from '../../worker/deps';
import { createWorker } from '../../worker/worker';
import { checkPipeline, startPipeline } from '../../client/pipeline-run';
import { FailureType } from '../../common/failures';
import type { RunPipelineResult } from '../../common/pipeline-definition';
import type { RunStatus } from '../../common/types';
import { statusQuery } from '../../workflows/queries';
import type { TemporalTestContext } from '../helpers/temporal';
import { connectTemporal, uniqueId, workflowBundle } from '../helpers/temporal';
import { cli as runCli } from '../helpers/cli';

const seedPipeline = join(__dirname, '..', 'fixtures', 'seed', 'pipeline', 'LookupPipelineDemo.json');
const shared = process.env.ML_TEST_AZURITE_CONNECTION_STRING;

describe('ADF pipelines end to end on the emulator', () => {
  let t: TemporalTestContext;
  const emulators: EmulatorHandle[] = [];
  const workers: { worker: Worker; running: Promise<void> }[] = [];
  const handles: WorkflowHandle[] = [];

  async function emulator(jobs: Record<string, unknown> = {}): Promise<EmulatorHandle> {
    const emu = await startEmulator({
      azurite: shared ? { connectionString: shared } : undefined,
      jobs: { runningMs: 400, ...jobs },
      arm: { provisioningMs: 200 },
    });
    emulators.push(emu);
    return emu;
  }

  async function worker(emu: EmulatorHandle, dir: string, env: Record<string, string> = {}): Promise<string> {
    const taskQueue = uniqueId('adf');
    const settings = loadWorkerSettings({
      ...process.env,
      AZURE_AUTHORITY_HOST: emu.urls.authorityHost,
      ML_ARM_POLL_INTERVAL_MS: '100',
      ...env,
    });
    const deps = buildActivityDeps(await loadAdfConfig(dir), settings);
    const w = await createWorker({
      connection: t.nativeConnection,
      taskQueue,
      deps,
      workflowBundle: await workflowBundle(),
    });
    workers.push({ worker: w, running: w.run() });
    return taskQueue;
  }

  async function runPipeline(dir: string, taskQueue: string, pipeline: string) {
    const definition = await checkPipeline(dir, pipeline, () => undefined);
    const handle = await startPipeline(
      t.client,
      { pipeline, options: { pollIntervalSeconds: 0.1 } },
      { taskQueue, workflowId: uniqueId(`e2e-${pipeline}`), definition },
    );
    handles.push(handle);
    const outcome = await handle.result().then(
      (r: RunPipelineResult) => ({ result: r, error: undefined }),
      (e: unknown) => ({ result: undefined, error: e as WorkflowFailedError }),
    );
    const status: RunStatus = await handle.query(statusQuery);
    return {
      ...outcome,
      status,
      handle,
      by: Object.fromEntries(status.activityRuns.map((a) => [a.activityName, a.status])),
    };
  }

  async function configWithSeed(emu: EmulatorHandle, secrets: 'inline' | 'keyVault' = 'inline'): Promise<string> {
    const dir = await mkdtemp(join(tmpdir(), 'adf-e2e-'));
    await emu.writeConfig(dir, { secrets });
    await mkdir(join(dir, 'pipeline'));
    await copyFile(seedPipeline, join(dir, 'pipeline', 'LookupPipelineDemo.json'));
    return dir;
  }

  /** A pipeline BES accepts (the seed's, with file names), for the Key Vault and rerun cases. */
  async function writeRetrainPipeline(
    dir: string,
    name: string,
    container: string,
    updatePath?: string,
  ): Promise<string> {
    const ref = (n: string) => ({ referenceName: n, type: 'LinkedServiceReference' });
    const storage = ref('StorageLinkedService');
    const model = `${container}/output/@{pipeline().RunId}.ilearner`;
    await mkdir(join(dir, 'pipeline'), { recursive: true });
    await writeFile(
      join(dir, 'pipeline', `${name}.json`),
      JSON.stringify({
        name,
        properties: {
          activities: [
            {
              name: 'amlBEGetilearner',
              type: 'AzureMLBatchExecution',
              linkedServiceName: ref('trainingEndpoint'),
              typeProperties: {
                webServiceInputs: {
                  input1: { LinkedServiceName: storage, FilePath: `${container}/input/train.csv` },
                  input2: { LinkedServiceName: storage, FilePath: `${container}/input/train.csv` },
                },
                webServiceOutputs: {
                  output1: { LinkedServiceName: storage, FilePath: model },
                  output2: { LinkedServiceName: storage, FilePath: `${container}/output/eval.csv` },
                },
              },
            },
            {
              name: 'amlUpdateClassic',
              type: 'AzureMLUpdateResource',
              linkedServiceName: ref('classicScoringEndpoint'),
              dependsOn: [{ activity: 'amlBEGetilearner', dependencyConditions: ['Succeeded'] }],
              typeProperties: {
                trainedModelName: 'ADFV2Sample Model [trained model]',
                trainedModelLinkedServiceName: storage,
                trainedModelFilePath: updatePath ?? "@activity('amlBEGetilearner').output.outputs.output1.filePath",
              },
            },
          ],
        },
      }),
    );
    return name;
  }

  async function upload(emu: EmulatorHandle, container: string, blob: string, content: string | Buffer): Promise<void> {
    const c = BlobServiceClient.fromConnectionString(emu.storage.connectionString).getContainerClient(container);
    await c.createIfNotExists();
    await c.getBlockBlobClient(blob).upload(content, Buffer.byteLength(content));
  }

  beforeAll(async () => {
    t = await connectTemporal();
  });

  afterAll(async () => {
    for (const w of workers) w.worker.shutdown();
    await Promise.all(workers.map((w) => w.running));
    for (const e of emulators) await e.close();
    await t?.close();
  });

  test('when the seed pipeline runs verbatim on a faithful BES, then BES refuses its extension-less paths as it would in ADF', async () => {
    const emu = await emulator();
    const dir = await configWithSeed(emu);
    const queue = await worker(emu, dir);
    const r = await runPipeline(dir, queue, 'LookupPipelineDemo');
    expect(r.by).toEqual({ amlBEGetilearner: 'Failed', amlUpdateResource: 'Skipped' });
    const err = r.status.activityRuns[0].error!;
    expect(err).toMatchObject({ errorCode: '2600', failureType: 'UserError', target: 'amlBEGetilearner' });
    expect(err.message).toContain('InvalidBlobExtension (input1)');
    expect(r.status.runStatus).toBe('Failed');
    expect(r.error?.cause?.message).toMatch(/^Operation on target amlBEGetilearner failed: BES rejected the job/);
    expect(emu.inspect().updates).toEqual([]);
  });

  test("when the seed pipeline runs verbatim on a BES that accepts its paths, then it trains, and updates the ARM service with the seed's model path", async () => {
    const emu = await emulator({ checkInputExtensions: false, checkOutputExtensions: false });
    const dir = await configWithSeed(emu);
    // The seed reads azuremltesting/input and deploys azuremltesting/output/newModelForArm.ilearner, a path its own
    // BES output (azuremltesting/output) does not write: put a model there, as the sample's user must have.
    await upload(emu, 'azuremltesting', 'input', 'age,label\n42,1\n');
    await upload(
      emu,
      'azuremltesting',
      'output/newModelForArm.ilearner',
      buildIlearner({ jobId: 'seed-model', service: 'seed', trainedAt: new Date().toISOString() }),
    );
    const warnings: string[] = [];
    await checkPipeline(dir, 'LookupPipelineDemo', (w) => warnings.push(w));
    expect(warnings.join('\n')).toContain("'amlbeGetilearner' matched activity 'amlBEGetilearner' case-insensitively");
    const queue = await worker(emu, dir);
    const r = await runPipeline(dir, queue, 'LookupPipelineDemo');
    expect(r.by).toEqual({ amlBEGetilearner: 'Succeeded', amlUpdateResource: 'Succeeded' });
    expect(r.result?.runStatus).toBe('Succeeded');
    const state = emu.inspect();
    const job = state.jobs.find((j) => j.jobId === r.status.jobId)!;
    expect(job).toMatchObject({ status: 'Finished', submitted: 1, started: 1 });
    expect(job.outputs.output1).toEqual({ container: 'azuremltesting', blobName: 'output' });
    expect(state.updates).toEqual([
      expect.objectContaining({
        kind: 'arm',
        target: emu.ids.armResourceId,
        modelJobId: 'seed-model',
        // The update names the pinned copy of the seed's blob (ml-retrain/models/<identity>/): a later training
        // that rewrites azuremltesting/output/newModelForArm.ilearner cannot change what the service loads.
        blobUrl: expect.stringMatching(
          /azuremltesting\/ml-retrain\/models\/external\.[0-9a-f]{12}\/newModelForArm\.ilearner$/,
        ),
      }),
    ]);
    expect(state.liveModels[emu.ids.armResourceId]).toBe('seed-model');
  });

  test('when every key is an AzureKeyVaultSecret, then the worker reads them from Key Vault when activities run, and follows rotation', async () => {
    const emu = await emulator();
    const dir = await mkdtemp(join(tmpdir(), 'adf-kv-'));
    await emu.writeConfig(dir, { secrets: 'keyVault' });
    const container = uniqueId('kv').toLowerCase();
    await upload(emu, container, 'input/train.csv', 'a,b\n1,2\n');
    await writeRetrainPipeline(dir, 'KvPipeline', container);
    const ls = JSON.parse(await readFile(join(dir, 'linkedService', 'trainingEndpoint.json'), 'utf8'));
    expect(ls.properties.typeProperties.apiKey).toMatchObject({
      type: 'AzureKeyVaultSecret',
      secretName: 'trainingEndpoint-apiKey',
    });
    const queue = await worker(emu, dir, {
      AZURE_TENANT_ID: emu.ids.tenantId,
      AZURE_CLIENT_ID: emu.identity.clientId,
      AZURE_CLIENT_SECRET: emu.keys.clientSecret,
      ML_KEYVAULT_CACHE_SECONDS: '0',
    });
    const before = emu.inspect().requests.length;
    const r = await runPipeline(dir, queue, 'KvPipeline');
    expect(r.result?.runStatus).toBe('Succeeded');
    const kv = emu
      .inspect()
      .requests.slice(before)
      .filter((q) => q.route === 'keyvault.getSecret');
    // Challenge first (no token), then tokens from the emulator's Entra for https://vault.azure.net.
    expect(kv[0].status).toBe(401);
    expect(kv.filter((q) => q.status === 200).length).toBeGreaterThanOrEqual(5);
    expect(
      emu
        .inspect()
        .requests.slice(before)
        .some((q) => q.route === 'token' && q.status === 200),
    ).toBe(true);

    // Rotate the classic endpoint's key in the vault to a wrong one: the next run reads it and is refused.
    emu.keyVault.setSecret('classicScoringEndpoint-apiKey', 'rotated-but-wrong-0000');
    const refused = await runPipeline(dir, queue, 'KvPipeline');
    expect(refused.by).toEqual({ amlBEGetilearner: 'Succeeded', amlUpdateClassic: 'Failed' });
    expect(refused.status.activityRuns[1].error).toMatchObject({ errorCode: FailureType.Unauthorized });

    // No secret from the vault ever reached a workflow history.
    const needles = [
      emu.keys.training.primary,
      emu.keys.classicRetrain.primary,
      emu.keys.clientSecret,
      /AccountKey=([^;]+)/.exec(emu.storage.connectionString)![1],
    ];
    for (const h of [r.handle, refused.handle]) {
      const raw = JSON.stringify(await h.fetchHistory());
      const decoded = raw.replace(/"data":"([A-Za-z0-9+/=]*)"/g, (_m, b64: string) =>
        JSON.stringify(Buffer.from(b64, 'base64').toString('utf8')),
      );
      expect(needles.filter((n) => decoded.includes(n))).toEqual([]);
    }
  });

  /** The `retrain` CLI as a user runs it: a separate process, exit code and output. */
  /** The CLI as an operator runs it; `out` is what the terminal shows (stdout and stderr as they arrived). */
  const cli = async (args: string[]) => {
    const r = await runCli(args);
    return { code: r.code, out: r.all };
  };

  test('when a run fails in its update and the model is then put in place, then `retrain rerun --from-failure` reuses the finished BES job and only updates', async () => {
    const emu = await emulator();
    const dir = await mkdtemp(join(tmpdir(), 'adf-rerun-'));
    await emu.writeConfig(dir);
    const container = uniqueId('rerun').toLowerCase();
    await upload(emu, container, 'input/train.csv', 'a,b\n1,2\n');
    // The update deploys a fixed path the training job does not write: the first run fails with TrainedModelNotFound.
    await writeRetrainPipeline(dir, 'RerunPipeline', container, `${container}/deploy/model.ilearner`);
    const queue = await worker(emu, dir);
    const first = await cli([
      'run',
      '--config',
      dir,
      '--pipeline',
      'RerunPipeline',
      '--task-queue',
      queue,
      '--poll-seconds',
      '0.1',
    ]);
    expect(first.code).toBe(1);
    expect(first.out).toContain('run failed: TrainedModelNotFound:');
    const id = /started (\S+)/.exec(first.out)![1];
    const jobsBefore = emu.inspect().jobs.length;
    const trained = emu.inspect().jobs.at(-1)!;

    // Put the model the job trained where the update expects it, then rerun from the failed activity.
    const blobs = BlobServiceClient.fromConnectionString(emu.storage.connectionString).getContainerClient(container);
    const model = await blobs.getBlobClient(trained.outputs.output1.blobName).downloadToBuffer();
    await upload(emu, container, 'deploy/model.ilearner', model);
    const rerun = await cli(['rerun', id, '--from-failure']);
    expect(rerun.out).toContain('reusing: amlBEGetilearner; running again: amlUpdateClassic');
    expect(rerun.out).toContain(
      'activity: amlBEGetilearner (AzureMLBatchExecution) Succeeded (reused from the reference run)',
    );
    expect(rerun.out).toMatch(/updated: +amlUpdateClassic → classicScoringEndpoint \(classic\)/);
    expect(rerun.code).toBe(0);
    expect(emu.inspect().jobs.length).toBe(jobsBefore);
    const update = emu.inspect().updates.at(-1)!;
    expect(update).toMatchObject({ kind: 'classic', modelJobId: trained.jobId });

    const again = await cli(['rerun', `${id}-rerun-nope`, '--from-failure']);
    expect(again.code).toBe(1);
    expect(again.out).toContain('no run with workflow id');
  });

  test('the config folders written for these runs validate with `retrain validate`', async () => {
    const emu = emulators[0];
    const dir = await configWithSeed(emu, 'keyVault');
    const r = await cli(['validate', '--config', dir]);
    expect(r.code).toBe(0);
    expect(r.out).toContain('valid: 0 error(s)');
    expect((await readdir(join(dir, 'linkedService'))).sort()).toContain('keyVault.json');
  });
});
