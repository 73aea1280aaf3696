import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { bundleWorkflowCode } from '@temporalio/worker';
import { CHROMIUM_PATH_ENV, ensureChromium, runsWebUiTest } from '../infra/chromium';
import { startTemporalServer } from '../infra/temporal';
import { startAzurite } from '../emulator/azurite';
import { CA_DIR_ENV, writeCaDir } from '../emulator/tls';

/**
 * `npm test`: the real services the suite needs, started once, then jest as a child process.
 * - one Temporal dev server (or TEMPORAL_ADDRESS when set),
 * - one Azurite, shared by the test files' emulators,
 * - the emulator's TLS CA, generated here so it can go into NODE_EXTRA_CA_CERTS, which Node reads only at start.
 * Arguments are passed to jest (`npm run test:only -- test/emulator`).
 */
const root = join(__dirname, '..', '..');
const log = (line: string) => console.log(`[test] ${line}`);

async function main(): Promise<number> {
  // Before anything starts: a missing browser stops the run at once with what to install, never a skipped test.
  let chromium: string | undefined;
  if (runsWebUiTest(process.argv.slice(2))) {
    try {
      chromium = await ensureChromium(log);
    } catch (e) {
      console.error(`[test] error: ${(e as Error).message}`);
      return 1;
    }
  }
  const work = await mkdtemp(join(tmpdir(), 'ml-retrain-test-'));
  const cleanups: (() => Promise<void>)[] = [];
  const cleanup = async () => {
    for (const c of cleanups.reverse()) await c().catch((e: unknown) => log(`cleanup: ${String(e)}`));
    await rm(work, { recursive: true, force: true });
  };
  try {
    const temporal = await startTemporalServer({ log });
    cleanups.push(() => temporal.stop());
    log(
      `Temporal ${temporal.external ? '(external) ' : ''}at ${temporal.address}${temporal.uiUrl ? `, UI ${temporal.uiUrl}` : ''}`,
    );

    const caDir = join(work, 'ca');
    await writeCaDir(caDir);
    const azurite = await startAzurite({
      accountName: `mltest${randomBytes(3).toString('hex')}`,
      accountKey: randomBytes(32).toString('base64'),
    });
    cleanups.push(() => azurite.close());
    log(`Azurite at ${azurite.blobEndpoint}`);

    const outDir = join(root, 'test-output');
    await mkdir(outDir, { recursive: true });
    // One workflow bundle for every test file, from the TypeScript sources (never a stale dist/ build).
    const bundleFile = join(work, 'workflow-bundle.js');
    const { code: bundle } = await bundleWorkflowCode({
      workflowsPath: join(root, 'workflows', 'index.ts'),
      logger: {
        trace: () => undefined,
        debug: () => undefined,
        info: () => undefined,
        warn: log,
        error: log,
        log: () => undefined,
      },
    });
    await writeFile(bundleFile, bundle);
    log('workflow bundle built from workflows/');
    const jsonFile = join(outDir, 'jest-results.json');
    await rm(jsonFile, { force: true });
    const code = await new Promise<number>((resolve) => {
      const child = spawn(
        process.execPath,
        [require.resolve('jest/bin/jest'), '--ci', '--json', `--outputFile=${jsonFile}`, ...process.argv.slice(2)],
        {
          cwd: root,
          stdio: 'inherit',
          env: {
            ...process.env,
            TEMPORAL_ADDRESS: temporal.address,
            TEMPORAL_NAMESPACE: temporal.namespace,
            TEMPORAL_UI_URL: temporal.uiUrl ?? process.env.TEMPORAL_UI_URL ?? '',
            ...(chromium ? { [CHROMIUM_PATH_ENV]: chromium } : {}),
            NODE_EXTRA_CA_CERTS: join(caDir, 'ca.pem'),
            [CA_DIR_ENV]: caDir,
            ML_TEST_AZURITE_CONNECTION_STRING: azurite.connectionString,
            ML_TEST_OUTPUT_DIR: outDir,
            ML_TEST_WORKFLOW_BUNDLE: bundleFile,
          },
        },
      );
      const forward = (sig: NodeJS.Signals) => child.kill(sig);
      process.on('SIGINT', forward).on('SIGTERM', forward);
      child.on('exit', (c, sig) => resolve(c ?? (sig ? 1 : 0)));
    });
    try {
      const r = JSON.parse(await readFile(jsonFile, 'utf8')) as {
        numPassedTests: number;
        numFailedTests: number;
        numPendingTests: number;
        numTotalTests: number;
      };
      // The plain closing line CI reads; jest's own summary is not one it knows.
      console.log(`jest: ${r.numPassedTests} passed, ${r.numFailedTests} failed, ${r.numPendingTests} skipped`);
      if (r.numTotalTests === 0) return 1;
    } catch {
      log('jest wrote no results');
      return code || 1;
    }
    return code;
  } finally {
    await cleanup();
  }
}

main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    console.error(err);
    process.exit(1);
  },
);
