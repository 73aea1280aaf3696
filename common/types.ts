import type { DeploymentPolicyInput, GateCheck } from './deployment';
import type { DeployOutcomeKind, VerificationResult } from './models';

/**
 * Workflow inputs and results, and the activity contracts. Everything here is plain JSON that goes into Temporal
 * history: it names linked services and paths, never secrets (keys, SAS tokens, connection strings).
 */

/** A blob addressed through a storage linked service, as ADF's `AzureMLWebServiceFile`. */
export interface WebServiceFile {
  /** Name of an AzureStorage / AzureBlobStorage linked service. */
  linkedServiceName: string;
  /** `container/path/file.ext`, relative to the storage account. */
  filePath: string;
}

/** ADF `AzureMLBatchExecution` typeProperties, with linked-service references flattened to names. */
export interface BatchExecutionStep {
  /** Activity name, used in messages, ids and the status view. */
  activityName: string;
  /** AzureML linked service of the training web service (its `mlEndpoint` and `apiKey`). */
  linkedServiceName: string;
  webServiceInputs?: Record<string, WebServiceFile>;
  webServiceOutputs?: Record<string, WebServiceFile>;
  globalParameters?: Record<string, string | number | boolean | null>;
}

/** ADF `AzureMLUpdateResource` typeProperties, with linked-service references flattened to names. */
export interface UpdateResourceStep {
  activityName: string;
  /** AzureML linked service with `updateResourceEndpoint` (classic endpoint or ARM web service). */
  linkedServiceName: string;
  /** Name of the trained-model resource in the scoring web service, e.g. `My Experiment [trained model]`. */
  trainedModelName: string;
  /**
   * Where the `.ilearner` is, as ADF does. When both are omitted, the trained-model output of the training job
   * (`RetrainAndUpdateInput.trainedModelOutput`) is used.
   */
  trainedModelLinkedServiceName?: string;
  trainedModelFilePath?: string;
}

export interface RetrainOptions {
  /** BES status poll interval. Default 10 s. */
  pollIntervalSeconds?: number;
  /** Longest a training job may run, ADF `[d.]hh:mm:ss`. Default 12 h (ADF's documented activity timeout). */
  trainingTimeout?: string;
  /** Set the product's custom search attributes. The client turns this off when the namespace lacks them. */
  searchAttributes?: boolean;
}

/** What the rerun of a reference run reuses: the recorded outcome of each activity of that run. */
export interface RecoveryInput {
  /** Workflow id of the reference run. */
  referenceWorkflowId: string;
  /** ADF RunId of the reference run; becomes `@pipeline().GroupId` ancestry (the new run keeps its GroupId). */
  referenceRunId: string;
  /** ADF run group: shared by a run and its reruns. */
  groupId: string;
  /** Reference run's activity outcomes (unmasked outputs: the engine's own record, not the status view). */
  activities: Record<string, { status: ActivityRunStatus; output: unknown }>;
}

export interface RetrainAndUpdateInput {
  /** Shown in the Web UI and searchable as `Pipeline`. Default `retrainAndUpdate`. */
  pipeline?: string;
  training: BatchExecutionStep;
  /**
   * The BES output that holds the trained model. Default: the one output whose filePath ends in `.ilearner`, else
   * the one Results entry that does.
   */
  trainedModelOutput?: string;
  updates: UpdateResourceStep[];
  options?: RetrainOptions;
  /** `retrain rerun --from-failure`: reuse what succeeded in the reference run. */
  recovery?: RecoveryInput;
  /** Quality gate, approval, verification and fan-out (see common/deployment.ts). Default: verify, best-effort. */
  deployment?: DeploymentPolicyInput;
}

export type BesStatus = 'NotStarted' | 'Running' | 'Failed' | 'Cancelled' | 'Finished';
export const TERMINAL_BES_STATUSES: readonly BesStatus[] = ['Failed', 'Cancelled', 'Finished'];

/** Where the trained model is. No SAS: the update activity mints one when it needs it. */
export type ModelSource =
  | { kind: 'storage'; linkedServiceName: string; filePath: string }
  | { kind: 'besOutput'; trainingLinkedServiceName: string; jobId: string; outputName: string };

export interface ModelRef {
  source: ModelSource;
  /** Blob URL without any query string. */
  url: string;
  container: string;
  blobName: string;
  etag: string;
  contentLength: number;
  lastModified: string;
}

export type UpdateKind = 'classic' | 'arm';

export interface UpdateResult {
  activityName: string;
  linkedServiceName: string;
  kind: UpdateKind;
  /** Endpoint or web service addressed, without secrets. */
  target: string;
  trainedModelName: string;
  /** Blob URL the service now points at, read back after the update (no query string). */
  modelUrl: string;
  /** True when the service already pointed at this model, so no change was sent (a retried update). */
  alreadyApplied: boolean;
  /** What the scoring service's workflow did (runs since model identity; absent in older runs' results). */
  outcome?: DeployOutcomeKind;
  /** The model the service serves after this update: its identity key and BES job. */
  liveModel?: { key: string; jobId: string | null } | null;
  /** How the scoring call confirmed it. */
  verification?: VerificationResult | null;
  message?: string;
}

export type RunPhase =
  | 'Submitting'
  | 'Starting'
  | 'Training'
  | 'LocatingModel'
  /** Checking the model's evaluation metrics against the pipeline's quality gate. */
  | 'Gating'
  /** Waiting for an `approve` or `reject` Workflow Update (`retrain approve|reject <id>`). */
  | 'AwaitingApproval'
  | 'Updating'
  | 'Succeeded'
  | 'Failed'
  /** The gate or a person rejected the model, or approval timed out: nothing was deployed. */
  | 'Rejected'
  | 'Cancelled';

export interface UpdateStatus {
  linkedServiceName: string;
  state: 'Pending' | 'InProgress' | 'Succeeded' | 'Failed' | 'Skipped';
  result?: UpdateResult;
  error?: string;
  /** What the scoring service's workflow did with this run's model (Deployed, Superseded, RolledBack, …). */
  outcome?: DeployOutcomeKind | 'FanOutRolledBack';
  /** The outcome's explanation, e.g. which newer model is live. */
  message?: string;
}

/** The quality gate's verdict on a run's model (status view). */
export interface GateStatus {
  model: string;
  passed: boolean;
  checks: GateCheck[];
}

/** Approval of a run's model (status view). */
export interface ApprovalStatus {
  state: 'Waiting' | 'Approved' | 'Rejected' | 'TimedOut';
  model: string;
  jobId: string | null;
  metrics: Record<string, number> | null;
  requestedAt: string;
  deadline: string;
  by?: string;
  reason?: string;
  at?: string;
}

/** ADF activity-run statuses (docs/spec/adf-pipeline-semantics.md §3.2), plus `Queued` / `InProgress` while the run is live. */
export type ActivityRunStatus = 'Queued' | 'InProgress' | 'Succeeded' | 'Failed' | 'Skipped' | 'Cancelled' | 'Inactive';

/** ADF pipeline-run statuses as the status view reports them (`Queued`/`Canceling` are not observable here). */
export type PipelineRunStatus = 'InProgress' | 'Succeeded' | 'Failed' | 'Cancelled';

/** ADF's activity error shape (docs/spec/adf-pipeline-semantics.md §1.1, §6.1). */
export interface ActivityRunError {
  /** ADF-style code: `2600` for a BES failure, the failure `type` otherwise, or a `Fail` activity's own code. */
  errorCode: string;
  message: string;
  failureType: 'UserError' | 'SystemError';
  /** The activity name. */
  target: string;
}

/**
 * One ADF activity run (docs/spec/adf-pipeline-semantics.md §6.1). An activity retried by its `policy.retry` keeps one record whose `attempt`
 * counts the ADF attempts; `input`/`output` are the evaluated values, replaced by the string `'**********'` when the
 * activity has `secureInput`/`secureOutput`. Never holds secrets: typeProperties name linked services, not keys.
 */
export interface ActivityRunRecord {
  activityName: string;
  /** ADF type, e.g. `AzureMLBatchExecution`, `AzureMLUpdateResource`, `Wait`, `Fail`. */
  activityType: string;
  status: ActivityRunStatus;
  /** ISO-8601 (workflow time), null until the activity starts. */
  start: string | null;
  end: string | null;
  durationMs: number | null;
  /** ADF attempt number (1-based) of the latest attempt; 0 when it never ran (Skipped, Inactive, Queued). */
  attempt: number;
  input: unknown;
  output: unknown;
  error: ActivityRunError | null;
  /** True when this run reused the recorded output of a reference run (`rerun --from-failure`). */
  reused?: boolean;
}

/** What the `status` query returns. */
export interface RunStatus {
  pipeline: string;
  phase: RunPhase;
  jobId: string | null;
  besStatus: BesStatus | null;
  /** BES Details when the job failed. */
  besDetails: string | null;
  model: ModelRef | null;
  updates: Record<string, UpdateStatus>;
  error: string | null;
  /** ADF pipeline-run status: follows the leaf rule (docs/spec/adf-pipeline-semantics.md §3.3) once the run ends. */
  runStatus: PipelineRunStatus;
  /** One record per activity of the pipeline, in definition order. */
  activityRuns: ActivityRunRecord[];
  /** The quality gate's last verdict, when the pipeline has one. */
  gate?: GateStatus | null;
  /** Approval state, when the pipeline requires approval. */
  approval?: ApprovalStatus | null;
}

export interface RetrainAndUpdateResult {
  pipeline: string;
  jobId: string;
  model: ModelRef;
  updates: UpdateResult[];
}

// ---- activity contracts -------------------------------------------------------------------------------------------

export interface SubmitJobInput {
  step: BatchExecutionStep;
}
export interface SubmitJobResult {
  jobId: string;
  /** True when a job submitted by an earlier, crashed attempt was adopted instead of submitting another. */
  adopted: boolean;
}

export interface StartJobInput {
  linkedServiceName: string;
  jobId: string;
}
export interface StartJobResult {
  /** False when the job had already been started (a retried start). */
  started: boolean;
}

export interface WaitJobInput {
  linkedServiceName: string;
  jobId: string;
  /** Return as soon as the status differs from this one (or is terminal). */
  lastStatus: BesStatus | null;
  pollIntervalMs: number;
  /**
   * Wait for the job to end instead (runs from v0.3 on): poll in a heartbeating loop for the worker's heartbeat
   * window after the first attempt was scheduled, then check once per attempt and throw a retryable `BesJobRunning`,
   * so that the retry policy's interval paces the polls and a long job holds no worker slot between them.
   */
  untilEnd?: boolean;
}
export interface WaitJobResult {
  status: BesStatus;
  /** Once Finished: output name → RelativeLocation from Results (no SAS). */
  outputs: Record<string, string>;
}

export interface CancelJobInput {
  linkedServiceName: string;
  jobId: string;
}

export interface LocateModelInput {
  activityName: string;
  source: ModelSource;
}

export interface UpdateServiceInput {
  step: UpdateResourceStep;
  model: ModelRef;
}
