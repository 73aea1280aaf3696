import type { ActivitySettings } from '../activities/deps';
import { DEFAULT_ACTIVITY_SETTINGS } from '../activities/deps';

/**
 * The worker's settings, read from the environment once. Temporal connection settings (TEMPORAL_ADDRESS,
 * TEMPORAL_NAMESPACE, TEMPORAL_API_KEY, TEMPORAL_TLS_*, TEMPORAL_PROFILE) are read by @temporalio/envconfig.
 */
export interface WorkerSettings {
  /** ADF folder with linkedService/*.json. ML_CONFIG_DIR, default ./adf. */
  configDir: string;
  /** TEMPORAL_TASK_QUEUE, default ml-retrain. */
  taskQueue: string;
  /** AZURE_AUTHORITY_HOST: the Entra host for service-principal tokens (the standard @azure/identity variable). */
  authorityHost?: string;
  /**
   * ML_MAX_CONCURRENT_ACTIVITIES, default 1000: activity slots. Activities wait on HTTP, so slots are cheap; a BES wait
   * holds one only while slots are plentiful (worker/slot-gauge.ts), so a fleet of runs never queues behind them.
   */
  maxConcurrentActivities: number;
  /**
   * ML_MAX_CACHED_WORKFLOWS: runs kept in the worker's sticky cache. Unset: the SDK's default, which grows with the
   * heap limit (about a thousand on a 24 GB host), and each cached run holds its workflow state in memory. A run
   * evicted from the cache replays its (short) history on its next task instead.
   */
  maxCachedWorkflows?: number;
  activity: ActivitySettings;
  /**
   * The worker's identity for Key Vault (AzureKeyVaultSecret), the counterpart of ADF's factory managed identity:
   * a service principal from AZURE_TENANT_ID / AZURE_CLIENT_ID / AZURE_CLIENT_SECRET when all three are set, else
   * the managed identity (AZURE_CLIENT_ID selects a user-assigned one). ML_KEYVAULT_CACHE_SECONDS (default 300): how
   * long a resolved secret is reused before it is read again.
   */
  keyVault: {
    tenantId?: string;
    clientId?: string;
    clientSecret?: string;
    cacheSeconds: number;
  };
}

export class SettingsError extends Error {
  override name = 'SettingsError';
}

function int(env: NodeJS.ProcessEnv, name: string, fallback: number, min = 1): number {
  const raw = env[name];
  if (raw === undefined || raw === '') return fallback;
  if (!/^\d+$/.test(raw.trim()) || Number(raw) < min) {
    throw new SettingsError(`${name} must be a whole number >= ${min}, got '${raw}'`);
  }
  return Number(raw);
}

export function loadWorkerSettings(
  env: NodeJS.ProcessEnv = process.env,
  overrides: Partial<Pick<WorkerSettings, 'configDir' | 'taskQueue'>> = {},
): WorkerSettings {
  return {
    configDir: overrides.configDir ?? env.ML_CONFIG_DIR ?? './adf',
    taskQueue: overrides.taskQueue ?? env.TEMPORAL_TASK_QUEUE ?? 'ml-retrain',
    authorityHost: env.AZURE_AUTHORITY_HOST || undefined,
    maxConcurrentActivities: int(env, 'ML_MAX_CONCURRENT_ACTIVITIES', 1000),
    ...(env.ML_MAX_CACHED_WORKFLOWS && { maxCachedWorkflows: int(env, 'ML_MAX_CACHED_WORKFLOWS', 0, 0) }),
    keyVault: {
      tenantId: env.AZURE_TENANT_ID || undefined,
      clientId: env.AZURE_CLIENT_ID || undefined,
      clientSecret: env.AZURE_CLIENT_SECRET || undefined,
      cacheSeconds: int(env, 'ML_KEYVAULT_CACHE_SECONDS', 300, 0),
    },
    activity: {
      armScope: env.ML_ARM_SCOPE || DEFAULT_ACTIVITY_SETTINGS.armScope,
      authorityHost: env.AZURE_AUTHORITY_HOST || DEFAULT_ACTIVITY_SETTINGS.authorityHost,
      sasTtlMinutes: int(env, 'ML_SAS_TTL_MINUTES', DEFAULT_ACTIVITY_SETTINGS.sasTtlMinutes),
      armPollIntervalMs: int(env, 'ML_ARM_POLL_INTERVAL_MS', DEFAULT_ACTIVITY_SETTINGS.armPollIntervalMs),
      requestTimeoutMs: int(env, 'ML_REQUEST_TIMEOUT_MS', DEFAULT_ACTIVITY_SETTINGS.requestTimeoutMs),
      ...(env.ML_TRAINING_HEARTBEAT_WINDOW_MS && {
        trainingHeartbeatWindowMs: int(env, 'ML_TRAINING_HEARTBEAT_WINDOW_MS', 0, 0),
      }),
      // Unset: the scoring-service workflows continue-as-new when the server suggests it (10 240 events by default).
      ...(env.ML_SCORING_SERVICE_MAX_HISTORY_EVENTS && {
        scoringServiceMaxHistoryEvents: int(env, 'ML_SCORING_SERVICE_MAX_HISTORY_EVENTS', 0, 100),
      }),
    },
  };
}
