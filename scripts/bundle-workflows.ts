import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { bundleWorkflowCode } from '@temporalio/worker';

/**
 * Prebuilt workflow bundle for production start-up: the worker loads dist/workflow-bundle.js instead of running
 * webpack at every start. `npm run build` runs this after tsc.
 */
async function main(): Promise<void> {
  const { code } = await bundleWorkflowCode({
    workflowsPath: require.resolve('../workflows'),
    logger: {
      trace: () => undefined,
      debug: () => undefined,
      info: () => undefined,
      warn: console.warn,
      error: console.error,
      log: () => undefined,
    },
  });
  const out = join(__dirname, '..', 'workflow-bundle.js');
  await writeFile(out, code);
  console.log(`workflow bundle: ${out} (${Math.round(code.length / 1024)} KiB)`);
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
