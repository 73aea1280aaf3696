/**
 * Entry point of the worker child processes the durability tests kill: the product's own composition root
 * (runWorker: settings, linked services, clients, activities, Worker), given the workflow bundle the test built.
 * Run from source through the transpile hook in ./processes.ts: `node -r hook.js worker-process.ts CONFIG QUEUE`.
 */
import { readFileSync } from 'node:fs';
import { runWorker } from '../../worker/main';

const [config, taskQueue] = process.argv.slice(2);
const bundle = process.env.ML_TEST_WORKER_BUNDLE;
runWorker({ config, taskQueue, workflowBundle: bundle ? { code: readFileSync(bundle, 'utf8') } : undefined }).catch(
  (err: unknown) => {
    console.error(err);
    process.exit(1);
  },
);
