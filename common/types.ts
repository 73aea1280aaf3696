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
}

export type RunPhase =
  'Submitting' | 'Starting' | 'Training' | 'LocatingModel' | 'Updating' | 'Succeeded' | 'Failed' | 'Cancelled';

export interface UpdateStatus {
  linkedServiceName: string;
  state: 'Pending' | 'InProgress' | 'Succeeded' | 'Failed' | 'Skipped';
  result?: UpdateResult;
  error?: string;
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
