/**
 * A trained model's identity and life on a scoring service: what a run deploys, what the scoring-service workflow
 * records (lineage), and the messages between them. Plain JSON that goes into history: paths, job ids, blob versions
 * and metrics, never a key or a SAS.
 */
import type { GateCheck, GateRule, VerificationPolicy } from './deployment';
import type { ModelRef, ModelSource, UpdateKind } from './types';

/**
 * What a model is, not where it lies: the BES job that trained it and the blob's version. Two trainings written to one
 * fixed `trainedModelFilePath` are two identities; a retry that finds the same blob is the same one.
 */
export interface ModelIdentity {
  /** `{jobId}.{etag hash}`, or `external.{etag hash}` when no job of this run wrote the blob. */
  key: string;
  /** BES job that produced the blob, when known (the upstream AzureMLBatchExecution of the run). */
  jobId: string | null;
  etag: string;
  /** Content-MD5 (base64) when the storage service reports one. */
  contentMd5: string | null;
  /** The blob's last-modified time: when training wrote it. Orders models on a service (newest wins). */
  trainedAt: string;
}

/** Evaluation metrics read from the training job's evaluation output (first data row of a CSV). */
export interface ModelMetrics {
  /** Where they were read, e.g. `azuremltesting/output/evaluation.csv` (output2). */
  from: string;
  columns: string[];
  values: Record<string, number>;
}

/** Where a deployment points the scoring service: an immutable copy, so a later training cannot change it. */
export interface PinnedModel {
  linkedServiceName: string;
  /** `container/ml-retrain/models/{identity key}/{file name}`. */
  filePath: string;
  /** Blob URL without a query. */
  url: string;
  /** ETag of the copy: a read-back that finds another blob at this path is a failure. */
  etag: string;
}

/** A located, identified, pinned model with its metrics: the unit the lifecycle works with. */
export interface TrainedModel extends ModelRef {
  identity: ModelIdentity;
  /** Null when the model is not in a storage linked service of ours (a BES default location): deployed as it lies. */
  pinned: PinnedModel | null;
  metrics: ModelMetrics | null;
}

export interface Approval {
  decision: 'approved' | 'rejected' | 'timed-out';
  by: string;
  reason: string;
  at: string;
}

/** What `approve` / `reject` carry. */
export interface ApprovalDecision {
  by: string;
  reason?: string;
}

export interface Requester {
  workflowId: string;
  runId: string;
  pipeline: string;
  activityName: string;
  /** Activities of the scoring-service workflow run here, on workers that know the requester's linked services. */
  taskQueue: string;
}

/** One deployment request to a scoring service's workflow. Idempotent on `requestId`. */
export interface DeployRequest {
  requestId: string;
  requester: Requester;
  linkedServiceName: string;
  trainedModelName: string;
  model: TrainedModel;
  approval: Approval | null;
  /** Relative gate rules, checked again against the model live when the request's turn comes. */
  relativeRules: GateRule[];
  verification: VerificationPolicy;
}

export type DeployOutcomeKind =
  /** The service now serves the model, verified. */
  | 'Deployed'
  /** The service already served this model (a retried request): nothing sent, verified again. */
  | 'AlreadyLive'
  /** A newer model is live, or this one was rolled back before: not applied. */
  | 'Superseded'
  /** The relative gate failed against the model live when the request's turn came. */
  | 'Rejected'
  /** Applied, verification failed, the previous model is back and verified. */
  | 'RolledBack'
  /** The update or verification failed and nothing could be restored (see `error`). */
  | 'Failed'
  /** The requesting run was cancelled before the request's turn. */
  | 'Cancelled';

export interface ServiceUpdate {
  kind: UpdateKind;
  /** Endpoint or web service addressed, without secrets. */
  target: string;
  /** Blob URL the service points at after the change, read back (no query). */
  modelUrl: string;
  /** True when the service already pointed at this model's blob version, so nothing was sent. */
  alreadyApplied: boolean;
}

export interface VerificationResult {
  /** `identity`: the answer named the expected model; `answered`: the service answered but names no model. */
  how: 'identity' | 'answered';
  /** Model the scoring answer named (the emulator's `Model` column), or null. */
  observed: string | null;
  calls: number;
  ms: number;
}

export interface DeployOutcome {
  outcome: DeployOutcomeKind;
  message: string;
  serviceKey: string;
  /** The update made (or found) for this request; absent when nothing was sent. */
  update?: ServiceUpdate;
  verification?: VerificationResult;
  /** The lineage entry live after the request was handled. */
  live: LineageEntry | null;
  error?: { type: string; message: string };
  gate?: GateCheck[];
}

/** One model's time on a scoring service's trained-model resource. */
export interface LineageEntry {
  seq: number;
  trainedModelName: string;
  identity: ModelIdentity;
  /** Where the service points (pinned copy, else the source blob). */
  modelUrl: string;
  /** To restore it: the blob to give the service again with a fresh read SAS, and that blob's ETag. */
  restoreFrom: ModelSource;
  blobEtag: string;
  metrics: Record<string, number> | null;
  run: { workflowId: string; runId: string; pipeline: string; activityName: string } | null;
  approval: Approval | null;
  /** `deploy` by a run, or `rollback` (manual or automatic). */
  how: 'deploy' | 'rollback';
  linkedServiceName: string;
  liveFrom: string;
  liveUntil: string | null;
  verification: VerificationResult | null;
  note?: string;
}

export interface RollbackRequest {
  requestId: string;
  /** Restore the entry of this BES job; default the one live before the current model. */
  toJobId?: string;
  /** Only roll back when this model is still the live one (all-or-nothing fan-out must not undo a newer run). */
  ifLiveKey?: string;
  trainedModelName?: string;
  linkedServiceName: string;
  by: string;
  reason: string;
  taskQueue: string;
  verification: VerificationPolicy;
}

export interface RollbackOutcome {
  outcome: 'RolledBack' | 'NotLive' | 'Failed';
  message: string;
  serviceKey: string;
  live: LineageEntry | null;
  restored?: LineageEntry;
  error?: { type: string; message: string };
}

/** What the scoring-service workflow shows (memo and query): no secrets. */
export interface ServiceView {
  serviceKey: string;
  /** Live model per trained-model resource name. */
  live: Record<string, LineageEntry | null>;
  lineage: LineageEntry[];
  /** Identity keys of models rolled back: never applied again. */
  withdrawn: string[];
  pending: number;
}

/** The scoring service's workflow id: one per service, keyed by its resource id. */
export function scoringServiceWorkflowId(serviceKey: string): string {
  return `scoring-service:${serviceKey}`;
}
