/**
 * The one place a `retrainAndUpdate` input (plain JSON, e.g. from `temporal workflow start`) becomes a pipeline
 * definition: checked field by field, then built as the pipeline it stands for, which the engine runs like any other.
 */
import { checkDeploymentPolicy, normalizeDeploymentPolicy } from '../common/deployment';
import { parseAdfTimespan } from '../common/duration';
import { escapeLiteral } from '../common/expressions';
import type {
  ActivityDefinition,
  ActivityPolicyDef,
  PipelineDefinition,
  WebServiceFileDef,
} from '../common/pipeline-definition';
import { DEFAULT_ACTIVITY_TIMEOUT } from '../common/pipeline-definition';
import type { RetrainAndUpdateInput } from '../common/types';
import { configError } from './engine/run-errors';

/** Throws a ConfigError naming the first problem of the input. */
export function validateRetrainInput(input: RetrainAndUpdateInput): void {
  if (!input?.training?.linkedServiceName) throw configError('input.training.linkedServiceName is required');
  if (!input.training.activityName) throw configError('input.training.activityName is required');
  if (!Array.isArray(input.updates)) throw configError('input.updates must be an array (it may be empty)');
  const names = new Set([input.training.activityName]);
  input.updates.forEach((u, i) => {
    if (!u.linkedServiceName) throw configError(`input.updates[${i}].linkedServiceName is required`);
    if (!u.trainedModelName) throw configError(`input.updates[${i}].trainedModelName is required`);
    if (!u.activityName) throw configError(`input.updates[${i}].activityName is required`);
    if (!!u.trainedModelFilePath !== !!u.trainedModelLinkedServiceName) {
      throw configError(
        `input.updates[${i}]: give both trainedModelLinkedServiceName and trainedModelFilePath, or neither`,
      );
    }
    if (names.has(u.activityName))
      throw configError(`input.updates[${i}].activityName '${u.activityName}' is used twice`);
    names.add(u.activityName);
  });
  const poll = input.options?.pollIntervalSeconds;
  if (poll !== undefined && !(typeof poll === 'number' && poll > 0)) {
    throw configError('input.options.pollIntervalSeconds must be a positive number');
  }
  const timeout = input.options?.trainingTimeout;
  if (timeout !== undefined && parseAdfTimespan(timeout) === undefined) {
    throw configError(`input.options.trainingTimeout '${timeout}' is not an ADF timespan [d.]hh:mm:ss`);
  }
  const problems = checkDeploymentPolicy(input.deployment, 'input.deployment');
  if (problems.length) throw configError(problems.join('; '));
}

/** Input values are literals: escaped so the engine never evaluates them as expressions. */
const literal = escapeLiteral;

function policy(timeout: string): ActivityPolicyDef {
  return { timeout, retry: 0, retryIntervalInSeconds: 30, secureInput: false, secureOutput: false };
}

/** The retrainAndUpdate input as the pipeline it stands for: one BES activity, updates depending on it (Succeeded). */
export function definitionFromInput(input: RetrainAndUpdateInput, pipeline: string): PipelineDefinition {
  const t = input.training;
  const files = (m: Record<string, { linkedServiceName: string; filePath: string }> = {}) => {
    const out: Record<string, WebServiceFileDef> = {};
    for (const [port, f] of Object.entries(m)) {
      out[port] = { linkedServiceName: f.linkedServiceName, filePath: literal(f.filePath) };
    }
    return out;
  };
  const source = (path: string) => ({ file: 'workflow input', path });
  const activities: ActivityDefinition[] = [
    {
      name: t.activityName,
      type: 'AzureMLBatchExecution',
      linkedServiceName: t.linkedServiceName,
      dependsOn: [],
      state: 'Active',
      onInactiveMarkAs: 'Succeeded',
      policy: policy(input.options?.trainingTimeout ?? DEFAULT_ACTIVITY_TIMEOUT),
      userProperties: [],
      source: source('$.training'),
      typeProperties: {
        webServiceInputs: files(t.webServiceInputs),
        webServiceOutputs: files(t.webServiceOutputs),
        globalParameters: Object.fromEntries(Object.entries(t.globalParameters ?? {}).map(([k, v]) => [k, literal(v)])),
      },
    },
    ...input.updates.map((u, i): ActivityDefinition => ({
      name: u.activityName,
      type: 'AzureMLUpdateResource',
      linkedServiceName: u.linkedServiceName,
      dependsOn: [{ activity: t.activityName, conditions: ['Succeeded'] }],
      state: 'Active',
      onInactiveMarkAs: 'Succeeded',
      policy: policy(DEFAULT_ACTIVITY_TIMEOUT),
      userProperties: [],
      source: source(`$.updates[${i}]`),
      typeProperties: {
        trainedModelName: literal(u.trainedModelName),
        ...(u.trainedModelFilePath && u.trainedModelLinkedServiceName
          ? {
              trainedModelLinkedServiceName: u.trainedModelLinkedServiceName,
              trainedModelFilePath: literal(u.trainedModelFilePath),
            }
          : { trainedModelFromActivity: { activity: t.activityName, outputName: input.trainedModelOutput } }),
      },
    })),
  ];
  return {
    name: pipeline,
    file: 'workflow input',
    parameters: {},
    variables: {},
    activities,
    annotations: [],
    warnings: [],
    ...(input.deployment && { deployment: normalizeDeploymentPolicy(input.deployment) }),
  };
}
