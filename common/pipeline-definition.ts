/**
 * The normalized pipeline definition the engine runs. `config/` produces it from ADF v2 JSON (ADF-defined keys already
 * matched case-insensitively, references resolved, everything validated); `retrainAndUpdate` builds one from its
 * input. It is plain JSON that goes into workflow history (the loader activity's result), so a run is reproducible
 * from its history: it names linked services and paths, never secrets.
 *
 * Values typed `Expr` are literals or ADF expressions (`"@..."`, `"...@{...}..."`, `{ "type": "Expression",
 * "value": "@..." }`), evaluated in the workflow when the activity starts.
 */
import type { DeploymentPolicy } from './deployment';
import type { ActivityRunRecord, PipelineRunStatus, RecoveryInput, RetrainOptions } from './types';

export type { RecoveryInput } from './types';

export type Expr = unknown;

/** ADF's documented default activity timeout (the swagger says 7 days; the docs and ADF Studio say 12 h). */
export const DEFAULT_ACTIVITY_TIMEOUT = '0.12:00:00';

/** What ADF shows for a secure input or output, and exports for a secure value. */
export const MASKED = '**********';

/** A value ADF masked on export (any run of `*`): a placeholder, never a usable secret. */
export function isMasked(value: string): boolean {
  return /^\*+$/.test(value);
}

export type DependencyCondition = 'Succeeded' | 'Failed' | 'Skipped' | 'Completed';

export interface ActivityDependency {
  /** Name of the upstream activity, as defined (a case-insensitive match was already resolved, with a warning). */
  activity: string;
  /** OR-ed; `Completed` = Succeeded or Failed (not Skipped). */
  conditions: DependencyCondition[];
}

export interface ActivityPolicyDef {
  /** `[d.]hh:mm:ss` or an expression; default 12 h. Bounds one attempt. */
  timeout: Expr;
  /** Extra attempts (integer or expression); default 0. The workflow re-runs the whole activity. */
  retry: Expr;
  /** Fixed wait between attempts; default 30. */
  retryIntervalInSeconds: Expr;
  secureInput: boolean;
  secureOutput: boolean;
}

/** Where an activity came from, for messages: `pipeline/X.json` and `$.properties.activities[2]`. */
export interface SourceRef {
  file: string;
  path: string;
}

export interface WebServiceFileDef {
  linkedServiceName: string;
  filePath: Expr;
}

export interface BatchExecutionProps {
  webServiceInputs: Record<string, WebServiceFileDef>;
  webServiceOutputs: Record<string, WebServiceFileDef>;
  globalParameters: Record<string, Expr>;
}

export interface UpdateResourceProps {
  trainedModelName: Expr;
  trainedModelLinkedServiceName?: string;
  trainedModelFilePath?: Expr;
  /**
   * Not ADF: used by `retrainAndUpdate` when an update names no blob. The model is then the `.ilearner` output of
   * this upstream AzureMLBatchExecution activity (`outputName`, or the one output that is an `.ilearner`).
   */
  trainedModelFromActivity?: { activity: string; outputName?: string };
}

interface ActivityBase {
  name: string;
  description?: string;
  dependsOn: ActivityDependency[];
  state: 'Active' | 'Inactive';
  onInactiveMarkAs: 'Succeeded' | 'Failed' | 'Skipped';
  policy: ActivityPolicyDef;
  userProperties: { name: string; value: Expr }[];
  source: SourceRef;
}

export interface BatchExecutionActivity extends ActivityBase {
  type: 'AzureMLBatchExecution';
  linkedServiceName: string;
  typeProperties: BatchExecutionProps;
}

export interface UpdateResourceActivity extends ActivityBase {
  type: 'AzureMLUpdateResource';
  linkedServiceName: string;
  typeProperties: UpdateResourceProps;
}

export interface WaitActivity extends ActivityBase {
  type: 'Wait';
  typeProperties: { waitTimeInSeconds: Expr };
}

export interface FailActivity extends ActivityBase {
  type: 'Fail';
  typeProperties: { message: Expr; errorCode: Expr };
}

export interface SetVariableActivity extends ActivityBase {
  type: 'SetVariable';
  typeProperties: { variableName: string; value: Expr };
}

export type ActivityDefinition =
  BatchExecutionActivity | UpdateResourceActivity | WaitActivity | FailActivity | SetVariableActivity;

export type ActivityType = ActivityDefinition['type'];

/** Execution activities (policy applies) and control activities the engine supports. */
export const SUPPORTED_ACTIVITY_TYPES: readonly ActivityType[] = [
  'AzureMLBatchExecution',
  'AzureMLUpdateResource',
  'Wait',
  'Fail',
  'SetVariable',
];

export type ParameterType = 'String' | 'Int' | 'Float' | 'Bool' | 'Array' | 'Object' | 'SecureString';

export interface ParameterDef {
  type: ParameterType;
  defaultValue?: unknown;
}

export interface PipelineDefinition {
  name: string;
  /** Source file, for messages. */
  file: string;
  parameters: Record<string, ParameterDef>;
  variables: Record<string, { type: string; defaultValue?: unknown }>;
  activities: ActivityDefinition[];
  /** ADF `concurrency`: recorded, not enforced by the engine (docs/adf-compatibility.md, Refused). */
  concurrency?: number;
  annotations: unknown[];
  /** Import notes (e.g. the seed's dependsOn case mismatch). */
  warnings: string[];
  /** Gate, approval, verification and fan-out: `retrain:` annotations, or a `retrainAndUpdate` input's `deployment`. */
  deployment?: DeploymentPolicy;
}

export interface RunPipelineInput {
  /** Pipeline name, as in `<config>/pipeline/*.json` (case-insensitive, as ADF names). */
  pipeline: string;
  /** Values for the pipeline's parameters. Expression values (trigger scope, e.g. `@trigger().scheduledTime`) are
   * evaluated when the run starts. */
  parameters?: Record<string, unknown>;
  /** ADF RunId; default the Temporal run id. */
  runId?: string;
  /** Who started the run: `Manual` (default) or a trigger (set by schedules). */
  trigger?: { type: 'Manual' | 'ScheduleTrigger'; name?: string; id?: string };
  options?: RetrainOptions;
  /** `retrain rerun --from-failure`: reuse what succeeded in the reference run. */
  recovery?: RecoveryInput;
  /**
   * The pipeline already parsed and validated by the starter (`retrain run`), so it is parsed once per run: the run
   * uses it instead of loading `pipeline` from the worker's folder. Without it (schedules, the temporal CLI, runs
   * recorded before it existed) the run loads the definition in an activity. Names linked services, never secrets.
   */
  definition?: PipelineDefinition;
}

export interface RunPipelineResult {
  pipeline: string;
  runId: string;
  groupId: string;
  runStatus: PipelineRunStatus;
  activityRuns: ActivityRunRecord[];
}

/** What the recovery query returns: unmasked outcomes for a rerun, plus the parameters the run used. */
export interface RecoveryView {
  pipeline: string;
  runId: string;
  groupId: string;
  parameters: Record<string, unknown>;
  activities: RecoveryInput['activities'];
}
