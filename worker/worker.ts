import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { NativeConnection, WorkerOptions } from '@temporalio/worker';
import { Worker } from '@temporalio/worker';
import type { ActivityDeps } from '../activities/deps';
import { createActivities, createPipelineActivities } from '../activities';
import { metricsInterceptor } from './metrics';
import { payloadGuardInterceptor } from './payload-guard';

export interface CreateWorkerOptions {
  connection: NativeConnection;
  namespace?: string;
  taskQueue: string;
  deps: ActivityDeps;
  /** A prebuilt bundle (`npm run build` writes dist/workflow-bundle.js); bundled from source when absent. */
  workflowBundle?: { code: string };
  maxConcurrentActivityTaskExecutions?: number;
  identity?: string;
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

export async function createWorker(opts: CreateWorkerOptions): Promise<Worker> {
  const workflowSource: Pick<WorkerOptions, 'workflowBundle' | 'workflowsPath'> = opts.workflowBundle
    ? { workflowBundle: opts.workflowBundle }
    : { workflowsPath: require.resolve('../workflows') };
  return Worker.create({
    connection: opts.connection,
    namespace: opts.namespace ?? 'default',
    taskQueue: opts.taskQueue,
    activities: { ...createActivities(opts.deps), ...createPipelineActivities(opts.deps) },
    // Product counters (jobs submitted, updates, failures by type) on the runtime's metrics exporter.
    // The payload guard runs inside the metrics one, so the failures it makes are counted too.
    interceptors: { activity: [metricsInterceptor, payloadGuardInterceptor] },
    // Only set what was given: the native bridge rejects explicit undefined for some options.
    ...(opts.maxConcurrentActivityTaskExecutions !== undefined && {
      maxConcurrentActivityTaskExecutions: opts.maxConcurrentActivityTaskExecutions,
    }),
    ...(opts.identity !== undefined && { identity: opts.identity }),
    ...workflowSource,
  });
}
