import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { NativeConnection, WorkerOptions } from '@temporalio/worker';
import { bundleWorkflowCode, Runtime, Worker } from '@temporalio/worker';
import type { WorkerDeploymentVersion } from '@temporalio/common';
import type { ActivityDeps } from '../activities/deps';
import { createActivities, createPipelineActivities } from '../activities';
import { metricsInterceptor } from './metrics';
import { payloadGuardInterceptor } from './payload-guard';
import { SlotGauge } from './slot-gauge';
import type { VersioningSettings } from './versioning';
import { claimCurrentIfNone, DEFAULT_VERSIONING_BEHAVIOR, deploymentVersion } from './versioning';

export interface CreateWorkerOptions {
  connection: NativeConnection;
  namespace?: string;
  taskQueue: string;
  deps: ActivityDeps;
  /** A prebuilt bundle (`npm run build` writes dist/workflow-bundle.js); bundled from source when absent. */
  workflowBundle?: { code: string };
  maxConcurrentActivityTaskExecutions?: number;
  /** Runs kept in the sticky cache (ML_MAX_CACHED_WORKFLOWS); the SDK's heap-based default when absent. */
  maxCachedWorkflows?: number;
  identity?: string;
  /** Worker Versioning (worker/versioning.ts); on, with every default, when absent. */
  versioning?: Partial<VersioningSettings>;
  /** Where the worker says what it did about versioning; the SDK's logger when absent. */
  log?: (line: string) => void;
}

/** Where `npm run build` writes the workflow bundle: dist/workflow-bundle.js, next to the compiled worker. */
export function prebuiltWorkflowBundlePath(): string {
  return join(__dirname, '..', 'workflow-bundle.js');
}

/** The prebuilt workflow bundle next to the compiled worker, if `npm run build` produced one. */
export function prebuiltWorkflowBundle(): { code: string } | undefined {
  const path = prebuiltWorkflowBundlePath();
  return existsSync(path) ? { code: readFileSync(path, 'utf8') } : undefined;
}

/** The deployment version a worker runs as, so callers (and tests) can name it to the operator's commands. */
export function workerVersion(worker: Worker): WorkerDeploymentVersion | undefined {
  const deployment = worker.options.workerDeploymentOptions;
  return deployment?.useWorkerVersioning ? deployment.version : undefined;
}

export async function createWorker(opts: CreateWorkerOptions): Promise<Worker> {
  const versioning = { enabled: true, setCurrent: 'if-none' as const, ...opts.versioning };
  // A versioned worker names its build by the code it runs, so it needs that code in hand: bundle it here.
  const bundle =
    opts.workflowBundle ??
    (versioning.enabled ? await bundleWorkflowCode({ workflowsPath: require.resolve('../workflows') }) : undefined);
  const workflowSource: Pick<WorkerOptions, 'workflowBundle' | 'workflowsPath'> = bundle
    ? { workflowBundle: bundle }
    : { workflowsPath: require.resolve('../workflows') };
  const version = versioning.enabled && bundle ? deploymentVersion(versioning, opts.taskQueue, bundle.code) : undefined;
  const namespace = opts.namespace ?? 'default';
  // The SDK's default when none is given (WorkerOptions.maxConcurrentActivityTaskExecutions).
  const gauge = new SlotGauge(opts.maxConcurrentActivityTaskExecutions ?? 100);
  const deps: ActivityDeps = { ...opts.deps, slotsShort: () => gauge.short() };
  const worker = await Worker.create({
    connection: opts.connection,
    namespace,
    taskQueue: opts.taskQueue,
    activities: { ...createActivities(deps), ...createPipelineActivities(deps) },
    // Product counters (jobs submitted, updates, failures by type) on the runtime's metrics exporter.
    // The payload guard runs inside the metrics one, so the failures it makes are counted too.
    interceptors: { activity: [gauge.interceptor, metricsInterceptor, payloadGuardInterceptor] },
    // Only set what was given: the native bridge rejects explicit undefined for some options.
    ...(opts.maxConcurrentActivityTaskExecutions !== undefined && {
      maxConcurrentActivityTaskExecutions: opts.maxConcurrentActivityTaskExecutions,
    }),
    ...(opts.maxCachedWorkflows !== undefined && { maxCachedWorkflows: opts.maxCachedWorkflows }),
    ...(opts.identity !== undefined && { identity: opts.identity }),
    ...(version && {
      workerDeploymentOptions: {
        useWorkerVersioning: true,
        version,
        defaultVersioningBehavior: DEFAULT_VERSIONING_BEHAVIOR,
      },
    }),
    ...workflowSource,
  });
  if (version && versioning.setCurrent === 'if-none') {
    const log =
      opts.log ??
      ((line: string) => {
        Runtime.instance().logger.info(line);
      });
    // In the background: the server only learns of this version once run() polls. Until some version is current,
    // the tasks of this deployment wait on the queue; none is lost.
    void claimCurrentIfNone({
      connection: opts.connection,
      namespace,
      version,
      identity: worker.options.identity,
      running: () => ['INITIALIZED', 'RUNNING'].includes(worker.getState()),
      log,
    }).catch((e: unknown) => log(`could not claim the current version: ${String(e)}`));
  }
  return worker;
}
