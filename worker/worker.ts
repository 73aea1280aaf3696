import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { NativeConnection, WorkerOptions } from '@temporalio/worker';
import { Worker } from '@temporalio/worker';
import type { ActivityDeps } from '../activities/deps';
import { createActivities } from '../activities';

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

/** The prebuilt workflow bundle next to the compiled worker, if `npm run build` produced one. */
export function prebuiltWorkflowBundle(): { code: string } | undefined {
  const path = join(__dirname, '..', 'workflow-bundle.js');
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
    activities: createActivities(opts.deps),
    // Only set what was given: the native bridge rejects explicit undefined for some options.
    ...(opts.maxConcurrentActivityTaskExecutions !== undefined && {
      maxConcurrentActivityTaskExecutions: opts.maxConcurrentActivityTaskExecutions,
    }),
    ...(opts.identity !== undefined && { identity: opts.identity }),
    ...workflowSource,
  });
}
