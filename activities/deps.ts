import type { HttpClient } from '@azure/core-rest-pipeline';
import type { TokenCredential } from '@azure/core-auth';
import type { AzureMLLinkedService, StorageLinkedService } from '../config/linked-services';
import type { PipelineSource } from './pipeline-loader';
import type { StorageAccess } from './storage';

/** Everything activities need from the outside world. The worker builds the real ones; tests pass fakes. */
export interface ActivityDeps {
  /** Look up linked services by name (case-insensitive, as ADF). Throws a ConfigError failure when absent. */
  azureML(name: string): AzureMLLinkedService;
  storage(name: string): StorageLinkedService;
  storageAccess(ls: StorageLinkedService): StorageAccess;
  /** Service-principal credential for an ARM scoring service. Cached per linked service by the worker. */
  credentialFor(ls: AzureMLLinkedService): TokenCredential;
  httpClient: HttpClient;
  settings: ActivitySettings;
  /** Pipeline definitions from the worker's ADF folder; absent on a worker without one (runPipeline then fails). */
  pipelines?: PipelineSource;
  /**
   * Runs before every activity: the worker resolves AzureKeyVaultSecret values here (cached), so secrets are read
   * when an activity runs, as ADF does, and never enter workflow code.
   */
  beforeActivity?(): Promise<void>;
  /**
   * True when the worker's activity slots run short (worker/slot-gauge.ts): the BES wait then stops holding a slot
   * while its job runs and checks once per retry instead. Absent (tests, fakes): never short.
   */
  slotsShort?(): boolean;
}

export interface ActivitySettings {
  /** OAuth scope for ARM. Default https://management.azure.com/.default */
  armScope: string;
  /** Entra host the service-principal credentials use (AZURE_AUTHORITY_HOST); read to explain a tenant it refuses. */
  authorityHost: string;
  /** Lifetime of the read SAS handed to the scoring service. */
  sasTtlMinutes: number;
  /** Poll interval for ARM long-running operations when the service gives no Retry-After. */
  armPollIntervalMs: number;
  /** Per-request timeout. */
  requestTimeoutMs: number;
  /** Scoring-service workflows continue-as-new beyond this many history events (default: when the server suggests). */
  scoringServiceMaxHistoryEvents?: number;
  /**
   * How long the training poll heartbeats in one activity attempt before it checks once per retry instead (default
   * TRAINING_HEARTBEAT_WINDOW_MS). Longer: fewer round trips through the server for short jobs; shorter: fewer
   * worker slots held by running jobs.
   */
  trainingHeartbeatWindowMs?: number;
}

/** The first minutes of a job, where most short jobs end: polled in one heartbeating attempt. */
export const TRAINING_HEARTBEAT_WINDOW_MS = 2 * 60_000;

export const DEFAULT_ACTIVITY_SETTINGS: ActivitySettings = {
  armScope: 'https://management.azure.com/.default',
  authorityHost: 'https://login.microsoftonline.com',
  sasTtlMinutes: 24 * 60,
  armPollIntervalMs: 5000,
  requestTimeoutMs: 60_000,
};
