import { loadWorkerSettings } from '../../config/env';
import { mkdtemp, mkdir, writeFile, readFile, readdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ConfigError } from '../../config/errors';
import { loadAdfConfig, parseLinkedService } from '../../config/linked-services';
import { Diagnostics, formatDiagnostic } from '../../config/diagnostics';
import { parsePipeline } from '../../config/pipeline-parser';

/** The seed document's JSON, copied verbatim into an ADF git-layout folder (test/fixtures/seed). */
const seedDir = join(__dirname, '..', 'fixtures', 'seed');
async function seedJson(): Promise<Record<string, unknown>> {
  const out: Record<string, unknown> = {};
  for (const kind of ['linkedService', 'pipeline']) {
    for (const f of await readdir(join(seedDir, kind))) {
      out[f.replace(/\.json$/, '')] = JSON.parse(await readFile(join(seedDir, kind, f), 'utf8'));
    }
  }
  return out;
}

const ls = (name: string, type: string, typeProperties: Record<string, unknown>) => ({
  name,
  properties: { type, typeProperties },
});

describe('linked services', () => {
  test("when the seed's linked services are read, then AzureML and storage parse with secrets hidden", async () => {
    const seed = await seedJson();
    const training = parseLinkedService('trainingEndpoint.json', seed.trainingEndpoint);
    expect(training.problems).toEqual([]);
    expect(training.service).toMatchObject({ kind: 'AzureML', name: 'trainingEndpoint' });
    const scoring = parseLinkedService('updatableScoringEndpoint2.json', seed.updatableScoringEndpoint2);
    expect(scoring.problems).toEqual([]);
    expect(scoring.service).toMatchObject({ tenant: 'mycompany.com' });
    expect(JSON.stringify(scoring.service)).not.toContain('zWa0000000000Tp6FjtZOspK');
    const storage = parseLinkedService('StorageLinkedService.json', seed.StorageLinkedService);
    expect(storage.service).toMatchObject({ kind: 'Storage', type: 'AzureStorage' });
  });

  test('when property names differ in case, then ADF-defined names still match', () => {
    const r = parseLinkedService('x.json', {
      Name: 'X',
      Properties: {
        Type: 'AzureML',
        TypeProperties: { MLEndpoint: 'https://h/jobs', ApiKey: { type: 'SecureString', value: 'k123456' } },
      },
    });
    expect(r.problems).toEqual([]);
    expect(r.service?.name).toBe('X');
  });

  test.each([
    [
      'masked secret',
      ls('A', 'AzureML', { mlEndpoint: 'https://h/jobs', apiKey: '**********' }),
      '$.properties.typeProperties.apiKey: is masked',
    ],
    ['placeholder', ls('A', 'AzureML', { mlEndpoint: 'https://h/jobs', apiKey: '<your key>' }), 'placeholder'],
    ['missing mlEndpoint', ls('A', 'AzureML', { apiKey: 'k' }), '$.properties.typeProperties.mlEndpoint: is required'],
    [
      'ARM without service principal',
      ls('A', 'AzureML', {
        mlEndpoint: 'https://h/jobs',
        apiKey: 'k1234',
        updateResourceEndpoint:
          'https://m/subscriptions/s/resourceGroups/r/providers/Microsoft.MachineLearning/webServices/w?api-version=2016-05-01-preview',
      }),
      'servicePrincipalId: is required for an ARM updateResourceEndpoint',
    ],
    ['no storage credential', ls('S', 'AzureBlobStorage', {}), 'needs connectionString or sasUri'],
    [
      'key vault',
      ls('A', 'AzureML', { mlEndpoint: 'https://h/jobs', apiKey: { type: 'AzureKeyVaultSecret', secretName: 'k' } }),
      'AzureKeyVaultSecret',
    ],
    [
      'encrypted credential',
      ls('A', 'AzureML', { mlEndpoint: 'https://h/jobs', apiKey: 'k1234', encryptedCredential: 'xx' }),
      'encryptedCredential',
    ],
    [
      'unset env var',
      ls('A', 'AzureML', {
        mlEndpoint: 'https://h/jobs',
        apiKey: { type: 'EnvironmentVariable', variable: 'ML_TEST_UNSET_VAR' },
      }),
      'ML_TEST_UNSET_VAR is not set',
    ],
  ])('when a linked service has a %s, then the problem names file and JSON path', (_what, json, expected) => {
    const r = parseLinkedService('linkedService/A.json', json);
    expect(r.service).toBeUndefined();
    expect(r.problems.join('\n')).toContain('linkedService/A.json: ');
    expect(r.problems.join('\n')).toContain(expected);
  });

  test('when a secret comes from an environment variable, then its value is used', () => {
    process.env.ML_TEST_API_KEY = 'from-env-123';
    const r = parseLinkedService(
      'a.json',
      ls('A', 'AzureML', {
        mlEndpoint: 'https://h/jobs',
        apiKey: { type: 'EnvironmentVariable', variable: 'ML_TEST_API_KEY' },
      }),
    );
    expect(r.service?.kind === 'AzureML' && r.service.apiKey.reveal()).toBe('from-env-123');
    delete process.env.ML_TEST_API_KEY;
  });

  test('when a folder has several broken files, then one error lists every problem', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'adf-'));
    await mkdir(join(dir, 'linkedService'));
    await writeFile(join(dir, 'linkedService', 'a.json'), '{ not json');
    await writeFile(join(dir, 'linkedService', 'b.json'), JSON.stringify(ls('B', 'AzureML', { apiKey: 'k' })));
    const err = await loadAdfConfig(dir).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ConfigError);
    expect((err as ConfigError).problems).toHaveLength(2);
    expect((err as ConfigError).message).toContain('a.json: not valid JSON');
    expect((err as ConfigError).message).toContain('b.json: $.properties.typeProperties.mlEndpoint: is required');
  });

  test('when the seed folder is loaded as a whole, then its three linked services are there', async () => {
    const config = await loadAdfConfig(seedDir);
    expect([...config.linkedServices.values()].map((l) => l.name).sort()).toEqual([
      'StorageLinkedService',
      'trainingEndpoint',
      'updatableScoringEndpoint2',
    ]);
  });

  test('when the folder has no linkedService directory, then the error says what layout is expected', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'adf-'));
    await expect(loadAdfConfig(dir)).rejects.toThrow('expected ADF git layout: linkedService/<name>.json');
  });
});

describe('pipeline parsing', () => {
  test('when the seed pipeline is parsed, then its dependsOn case mismatch is accepted with a warning', async () => {
    const seed = await seedJson();
    const { linkedServices } = await loadAdfConfig(seedDir);
    const d = new Diagnostics();
    const { definition } = parsePipeline(
      'pipeline/LookupPipelineDemo.json',
      seed.LookupPipelineDemo,
      linkedServices,
      d,
    );
    expect(d.errors).toEqual([]);
    const [training, ...updates] = definition!.activities;
    expect(training).toMatchObject({
      name: 'amlBEGetilearner',
      type: 'AzureMLBatchExecution',
      linkedServiceName: 'trainingEndpoint',
      typeProperties: {
        webServiceInputs: { input1: { linkedServiceName: 'StorageLinkedService', filePath: 'azuremltesting/input' } },
      },
    });
    expect(updates).toHaveLength(1);
    expect(updates[0]).toMatchObject({
      name: 'amlUpdateResource',
      type: 'AzureMLUpdateResource',
      linkedServiceName: 'updatableScoringEndpoint2',
      dependsOn: [{ activity: 'amlBEGetilearner', conditions: ['Succeeded'] }],
    });
    expect(updates[0].typeProperties).toEqual({
      trainedModelName: 'ADFV2Sample Model [trained model]',
      trainedModelLinkedServiceName: 'StorageLinkedService',
      trainedModelFilePath: 'azuremltesting/output/newModelForArm.ilearner',
    });
    expect(d.warnings.map(formatDiagnostic).join()).toContain(
      "'amlbeGetilearner' matched activity 'amlBEGetilearner' case-insensitively",
    );
  });

  test('when a pipeline has an unsupported activity type, then the error names the type and path', () => {
    const d = new Diagnostics();
    const { definition } = parsePipeline(
      'p.json',
      { name: 'P', properties: { activities: [{ name: 'x', type: 'Copy' }] } },
      new Map(),
      d,
    );
    expect(definition).toBeUndefined();
    expect(d.errors.map(formatDiagnostic).join('\n')).toContain(
      "p.json: $.properties.activities[0].type: activity type 'Copy'",
    );
  });
});

describe('worker settings', () => {
  test('ML_SCORING_SERVICE_MAX_HISTORY_EVENTS: unset leaves it to the server; a number sets it; nonsense is named', () => {
    expect(loadWorkerSettings({}).activity.scoringServiceMaxHistoryEvents).toBeUndefined();
    expect(
      loadWorkerSettings({ ML_SCORING_SERVICE_MAX_HISTORY_EVENTS: '2000' }).activity.scoringServiceMaxHistoryEvents,
    ).toBe(2000);
    expect(() => loadWorkerSettings({ ML_SCORING_SERVICE_MAX_HISTORY_EVENTS: '10' })).toThrow(
      /ML_SCORING_SERVICE_MAX_HISTORY_EVENTS must be a whole number >= 100, got '10'/,
    );
  });

  test('fleet settings: activity slots, the BES heartbeat window and the sticky cache, each named when wrong', () => {
    const defaults = loadWorkerSettings({});
    expect(defaults.maxConcurrentActivities).toBe(1000);
    expect(defaults.maxCachedWorkflows).toBeUndefined();
    expect(defaults.activity.trainingHeartbeatWindowMs).toBeUndefined();
    const set = loadWorkerSettings({
      ML_MAX_CONCURRENT_ACTIVITIES: '50',
      ML_MAX_CACHED_WORKFLOWS: '300',
      ML_TRAINING_HEARTBEAT_WINDOW_MS: '0',
    });
    expect(set).toMatchObject({ maxConcurrentActivities: 50, maxCachedWorkflows: 300 });
    expect(set.activity.trainingHeartbeatWindowMs).toBe(0);
    expect(() => loadWorkerSettings({ ML_TRAINING_HEARTBEAT_WINDOW_MS: '2m' })).toThrow(
      /ML_TRAINING_HEARTBEAT_WINDOW_MS must be a whole number >= 0, got '2m'/,
    );
    expect(() => loadWorkerSettings({ ML_MAX_CACHED_WORKFLOWS: '-1' })).toThrow(/ML_MAX_CACHED_WORKFLOWS/);
  });
});
