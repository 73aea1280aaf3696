#!/usr/bin/env node
import { NativeConnection } from '@temporalio/worker';
import { loadClientConnectConfig } from '@temporalio/envconfig';
import { Command } from 'commander';
import { ConfigError } from '../config/errors';
import { loadAdfConfig } from '../config/linked-services';
import { formatDiagnostic } from '../config/diagnostics';
import { validateFolder } from '../config/factory';
import { loadWorkerSettings } from '../config/env';
import { buildActivityDeps } from './deps';
import { installMetricsRuntime, metricsAddress } from './metrics';
import { installTokenRefreshGuard } from './token-refresh-guard';
import { loadVersioningSettings } from './versioning';
import { createWorker, prebuiltWorkflowBundle, prebuiltWorkflowBundlePath, workerVersion } from './worker';

/**
 * The composition root: settings, linked services (with their secrets), clients, activities, the worker. Temporal
 * shuts the worker down on SIGINT/SIGTERM; run() then returns and the connection is closed.
 */
export async function runWorker(opts: {
  config?: string;
  taskQueue?: string;
  /** A workflow bundle to run instead of dist/workflow-bundle.js (tests pass one built from source). */
  workflowBundle?: { code: string };
  /** Override ML_WORKER_DEPLOYMENT / ML_WORKER_BUILD_ID. */
  deploymentName?: string;
  buildId?: string;
}): Promise<void> {
  installTokenRefreshGuard((message) => console.warn(`worker: ${message}`));
  const settings = loadWorkerSettings(process.env, { configDir: opts.config, taskQueue: opts.taskQueue });
  const versioning = loadVersioningSettings({
    ...process.env,
    ...(opts.deploymentName && { ML_WORKER_DEPLOYMENT: opts.deploymentName }),
    ...(opts.buildId && { ML_WORKER_BUILD_ID: opts.buildId }),
  });
  const adf = await loadAdfConfig(settings.configDir);
  // The same checks as `retrain validate`, with the same messages: a folder the validator refuses (a bad path, an
  // http endpoint, a pipeline over ADF's limits) never gets a worker that would fail its runs one by one later.
  const folder = await validateFolder(settings.configDir);
  const errors = folder.diagnostics.filter((d) => d.severity === 'error').map(formatDiagnostic);
  if (errors.length) {
    throw new ConfigError(`invalid ADF config in ${settings.configDir}:\n  ${errors.join('\n  ')}`, errors);
  }
  for (const w of folder.diagnostics.filter((d) => d.severity === 'warning')) {
    console.warn(`worker: warning: ${formatDiagnostic(w)}`);
  }
  const deps = buildActivityDeps(adf, settings);
  const metrics = metricsAddress();
  // The runtime (and its metrics exporter) must exist before the first native connection.
  if (metrics) installMetricsRuntime(metrics);
  const { connectionOptions, namespace } = loadClientConnectConfig();
  const connection = await NativeConnection.connect(connectionOptions);
  // Production starts from the bundle `npm run build` wrote: no webpack at start-up, and every worker of a
  // deployment runs byte-identical workflow code. Without it the SDK bundles from source, slower and per process.
  const prebuilt = opts.workflowBundle ? undefined : prebuiltWorkflowBundle();
  const bundleSource = opts.workflowBundle
    ? 'workflows: bundle given by the caller'
    : prebuilt
      ? `workflows: prebuilt bundle ${prebuiltWorkflowBundlePath()}`
      : 'workflows: bundled from source at start-up (no dist/workflow-bundle.js; run npm run build)';
  try {
    const worker = await createWorker({
      connection,
      namespace,
      taskQueue: settings.taskQueue,
      deps,
      workflowBundle: opts.workflowBundle ?? prebuilt,
      maxConcurrentActivityTaskExecutions: settings.maxConcurrentActivities,
      maxCachedWorkflows: settings.maxCachedWorkflows,
      versioning,
      log: (line) => console.log(`worker: ${line}`),
    });
    const version = workerVersion(worker);
    console.log(
      `worker ready: task queue '${settings.taskQueue}', namespace '${namespace ?? 'default'}', ` +
        `${adf.linkedServices.size} linked services from ${settings.configDir}; ${bundleSource}` +
        (version
          ? `; deployment '${version.deploymentName}' build '${version.buildId}'`
          : '; unversioned (ML_WORKER_VERSIONING=off)') +
        (metrics ? `; metrics http://${metrics}/metrics` : ''),
    );
    await worker.run();
    console.log('worker stopped');
  } finally {
    await connection.close();
  }
}

if (require.main === module) {
  const program = new Command('worker')
    .description('Run the retrain worker: polls the task queue and runs the workflows and activities.')
    .option('-c, --config <dir>', 'ADF folder with linkedService/*.json (default $ML_CONFIG_DIR or ./adf)')
    .option('-q, --task-queue <name>', 'task queue (default $TEMPORAL_TASK_QUEUE or ml-retrain)')
    .option('--deployment-name <name>', 'Worker Deployment (default $ML_WORKER_DEPLOYMENT or the task queue)')
    .option('--build-id <id>', 'build id (default $ML_WORKER_BUILD_ID or <version>+<hash of the workflow bundle>)')
    .parse();
  runWorker(program.opts<{ config?: string; taskQueue?: string; deploymentName?: string; buildId?: string }>()).catch(
    (err: unknown) => {
      console.error(err instanceof Error ? err.message : err);
      process.exit(1);
    },
  );
}
