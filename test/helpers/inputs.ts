/**
 * Inputs the tests give the product: retrainAndUpdate inputs over a container of their own, and ADF config folders
 * (linked services, pipelines, triggers in the git layout). Seed scenarios come from examples/adf, the folder a user
 * reads, so the tests run what the docs show.
 */
import { readFileSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { RetrainAndUpdateInput } from '../../common/types';
import { ROOT } from './processes';
import { uniqueId } from './temporal';

export const EXAMPLES_ADF = join(ROOT, 'examples', 'adf');
/** The container the examples name; tests move the examples into a container of their own. */
export const EXAMPLE_CONTAINER = 'azuremltesting';
export const STORAGE_LS = 'StorageLinkedService';

export interface RetrainInputSpec {
  pipeline: string;
  container: string;
  trainedModelName: string;
  /** Where BES writes the model and the ARM update reads it; a fresh path under models/ by default. */
  model?: string;
  /** Where BES writes the evaluation; a fresh path under eval/ by default. */
  evaluation?: string;
  training?: string;
  arm?: { activityName?: string; linkedService?: string };
  classic?: { activityName?: string; linkedService?: string };
  pollSeconds?: number;
}

/**
 * The seed's chain as a retrainAndUpdate input: train on input/train.csv, then update the ARM web service from the
 * model blob and the classic endpoint from the BES output.
 */
export function retrainInput(s: RetrainInputSpec): RetrainAndUpdateInput {
  const model = s.model ?? `${s.container}/models/${uniqueId('m')}.ilearner`;
  return {
    pipeline: s.pipeline,
    training: {
      activityName: 'amlBEGetilearner',
      linkedServiceName: s.training ?? 'trainingEndpoint',
      webServiceInputs: {
        input1: { linkedServiceName: STORAGE_LS, filePath: `${s.container}/input/train.csv` },
        input2: { linkedServiceName: STORAGE_LS, filePath: `${s.container}/input/train.csv` },
      },
      webServiceOutputs: {
        output1: { linkedServiceName: STORAGE_LS, filePath: model },
        output2: {
          linkedServiceName: STORAGE_LS,
          filePath: s.evaluation ?? `${s.container}/eval/${uniqueId('e')}.csv`,
        },
      },
    },
    updates: [
      {
        activityName: s.arm?.activityName ?? 'amlUpdateResource',
        linkedServiceName: s.arm?.linkedService ?? 'updatableScoringEndpoint2',
        trainedModelName: s.trainedModelName,
        trainedModelLinkedServiceName: STORAGE_LS,
        trainedModelFilePath: model,
      },
      {
        activityName: s.classic?.activityName ?? 'amlUpdateClassic',
        linkedServiceName: s.classic?.linkedService ?? 'classicScoringEndpoint',
        trainedModelName: s.trainedModelName,
      },
    ],
    options: { pollIntervalSeconds: s.pollSeconds ?? 0.1 },
  };
}

/** The ADF pipeline JSON that runs the same chain as a retrainAndUpdate input. */
export function pipelineOf(name: string, i: RetrainAndUpdateInput): { name: string; properties: unknown } {
  const ref = (n: string) => ({ referenceName: n, type: 'LinkedServiceReference' });
  const file = (f: { linkedServiceName: string; filePath: string }) => ({
    LinkedServiceName: ref(f.linkedServiceName),
    FilePath: f.filePath,
  });
  const map = (m: Record<string, { linkedServiceName: string; filePath: string }> = {}) =>
    Object.fromEntries(Object.entries(m).map(([k, v]) => [k, file(v)]));
  return {
    name,
    properties: {
      activities: [
        {
          name: i.training.activityName,
          type: 'AzureMLBatchExecution',
          linkedServiceName: ref(i.training.linkedServiceName),
          typeProperties: {
            webServiceInputs: map(i.training.webServiceInputs),
            webServiceOutputs: map(i.training.webServiceOutputs),
          },
        },
        ...i.updates.map((u) => ({
          name: u.activityName,
          type: 'AzureMLUpdateResource',
          linkedServiceName: ref(u.linkedServiceName),
          typeProperties: {
            trainedModelName: u.trainedModelName,
            trainedModelLinkedServiceName: ref(u.trainedModelLinkedServiceName ?? STORAGE_LS),
            trainedModelFilePath: u.trainedModelFilePath ?? i.training.webServiceOutputs!.output1.filePath,
          },
          dependsOn: [{ activity: i.training.activityName, dependencyConditions: ['Succeeded'] }],
        })),
      ],
    },
  };
}

async function writeAdf(configDir: string, kind: string, name: string, json: unknown, spaces?: number) {
  await mkdir(join(configDir, kind), { recursive: true });
  await writeFile(join(configDir, kind, `${name}.json`), JSON.stringify(json, null, spaces));
}

/** A pipeline file in the folder's pipeline/ (named by its file, as ADF git mode does). */
export function writePipeline(configDir: string, name: string, json: unknown, spaces?: number): Promise<void> {
  return writeAdf(configDir, 'pipeline', name, json, spaces);
}

export function writeTrigger(configDir: string, name: string, json: unknown): Promise<void> {
  return writeAdf(configDir, 'trigger', name, json, 2);
}

/** A linked service holds secrets: owner-only, as the emulator writes its own. */
export async function writeLinkedService(configDir: string, ls: { name: string }, spaces?: number): Promise<void> {
  await writeFile(join(configDir, 'linkedService', `${ls.name}.json`), JSON.stringify(ls, null, spaces), {
    mode: 0o600,
  });
}

export interface AdfPipelineJson {
  name: string;
  properties: Record<string, unknown>;
}

/**
 * A pipeline from examples/adf/pipeline, moved into the test's own container and onto the emulator's trained model
 * name; `name` renames it (the file a test writes it to is named by the caller).
 */
export function examplePipeline(
  file: string,
  o: { container: string; trainedModelName: string; name?: string },
): AdfPipelineJson {
  const text = readFileSync(join(EXAMPLES_ADF, 'pipeline', `${file}.json`), 'utf8');
  const def = JSON.parse(text.split(`${EXAMPLE_CONTAINER}/`).join(`${o.container}/`)) as AdfPipelineJson;
  for (const a of def.properties.activities as { typeProperties?: { trainedModelName?: string } }[]) {
    if (a.typeProperties?.trainedModelName !== undefined) a.typeProperties.trainedModelName = o.trainedModelName;
  }
  if (o.name) def.name = o.name;
  return def;
}
