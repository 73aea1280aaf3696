import type { StorageAccount } from './azurite';
import type { IdSource } from './random';
import type { PersistedState, StateStore } from './state';
import type { JobFaultOptions } from './types';

/** EmulatorOptions with every default applied. */
export interface ResolvedOptions {
  jobs: {
    runningMs: number;
    statusCodeFormat: 'string' | 'integer';
    sasTtlSeconds: number;
    metrics: Record<string, number>;
    inputBlobCheck: 'run' | 'submit';
    checkInputExtensions: boolean;
    checkOutputExtensions: boolean;
  };
  classic: {
    activationDelayMs: number;
    patchSuccessStatus: 200 | 204;
    defaultEndpointPatchError: { status: number; code: string };
    unknownResourceError: { status: number; code: string };
    unreadableBlobError: { status: number; code: string };
  };
  arm: {
    provisioningMs: number;
    assetsPatch: 'merge' | 'replace';
    principalHasRole: boolean;
  };
  token: { lifetimeSeconds: number };
  verbose: boolean;
}

/** Pending job faults with their remaining counts. */
export interface JobFaultState {
  failNext: { remaining: number; details: string; serviceId?: string } | null;
  slowNext: { remaining: number; extraMs: number; serviceId?: string } | null;
  metricsNext: { remaining: number; metrics: Record<string, number>; serviceId?: string } | null;
  brokenNext: { remaining: number; serviceId?: string } | null;
}

export function jobFaultState(opts: JobFaultOptions): JobFaultState {
  return {
    failNext: opts.failNext
      ? { remaining: opts.failNext.count ?? 1, details: opts.failNext.details, serviceId: opts.failNext.serviceId }
      : null,
    slowNext: opts.slowNext
      ? { remaining: opts.slowNext.count ?? 1, extraMs: opts.slowNext.extraMs, serviceId: opts.slowNext.serviceId }
      : null,
    metricsNext: opts.metricsNext
      ? {
          remaining: opts.metricsNext.count ?? 1,
          metrics: opts.metricsNext.metrics,
          serviceId: opts.metricsNext.serviceId,
        }
      : null,
    brokenNext: opts.brokenNext
      ? { remaining: opts.brokenNext.count ?? 1, serviceId: opts.brokenNext.serviceId }
      : null,
  };
}

/** What every API handler needs: options, state, storage and the emulator's own base URL. */
export interface EmulatorContext {
  readonly opts: ResolvedOptions;
  readonly store: StateStore;
  readonly state: PersistedState;
  readonly ids: IdSource;
  /** https://127.0.0.1:PORT, no trailing slash. */
  readonly baseUrl: string;
  /** The default storage account (workspace storage, seeded models, outputs without override). */
  readonly storage: StorageAccount;
  jobFaults: JobFaultState;
  now(): number;
}

/** Accounts whose keys the emulator knows: lets it read blobs by URL and sign SAS tokens. */
export function knownAccounts(ctx: EmulatorContext): StorageAccount[] {
  return [ctx.storage];
}
