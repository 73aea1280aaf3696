#!/usr/bin/env node
import { bundleWorkflowCode, NativeConnection, Worker } from '@temporalio/worker';
import { loadClientConnectConfig } from '@temporalio/envconfig';
import { loadWorkerSettings } from '../../config/env';
import {
  claimCurrentIfNone,
  DEFAULT_VERSIONING_BEHAVIOR,
  deploymentVersion,
  loadVersioningSettings,
} from '../../worker/versioning';

/**
 * The ceiling's worker: the product worker's options (activity slots from ML_MAX_CONCURRENT_ACTIVITIES, SDK
 * defaults for pollers and workflow slots, Worker Versioning as the product sets it), with one empty activity and the
 * workflow of ./ceiling-workflow.ts. Usage: node dist/scripts/bench/ceiling-worker.js TASK_QUEUE.
 */
async function main(): Promise<void> {
  const taskQueue = process.argv[2];
  const settings = loadWorkerSettings(process.env, { taskQueue });
  const versioning = loadVersioningSettings(process.env);
  const quiet = () => undefined;
  const bundle = await bundleWorkflowCode({
    workflowsPath: require.resolve('./ceiling-workflow'),
    logger: { trace: quiet, debug: quiet, info: quiet, warn: console.warn, error: console.error, log: quiet },
  });
  const { connectionOptions, namespace = 'default' } = loadClientConnectConfig();
  const connection = await NativeConnection.connect(connectionOptions);
  const version = versioning.enabled ? deploymentVersion(versioning, taskQueue, bundle.code) : undefined;
  const worker = await Worker.create({
    connection,
    namespace,
    taskQueue,
    workflowBundle: bundle,
    activities: { empty: () => Promise.resolve() },
    maxConcurrentActivityTaskExecutions: settings.maxConcurrentActivities,
    ...(settings.maxCachedWorkflows !== undefined && { maxCachedWorkflows: settings.maxCachedWorkflows }),
    ...(version && {
      workerDeploymentOptions: {
        useWorkerVersioning: true,
        version,
        defaultVersioningBehavior: DEFAULT_VERSIONING_BEHAVIOR,
      },
    }),
  });
  if (version) {
    void claimCurrentIfNone({
      connection,
      namespace,
      version,
      identity: worker.options.identity,
      running: () => ['INITIALIZED', 'RUNNING'].includes(worker.getState()),
      log: (line) => console.log(`ceiling worker: ${line}`),
    }).catch((e: unknown) => console.error(e));
  }
  console.log(`ceiling worker ready: task queue '${taskQueue}'`);
  try {
    await worker.run();
  } finally {
    await connection.close();
  }
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
