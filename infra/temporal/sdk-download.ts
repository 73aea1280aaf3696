import path from 'node:path';
import { defineSearchAttributeKey } from '@temporalio/common';
import { SEARCH_ATTRIBUTES } from '../../common/search-attributes';
import { cacheDir } from './binary';
import type { Log } from './output';
import { pickPorts } from './ports';
import { DEFAULT_READY_TIMEOUT_MS, waitUntilReady } from './readiness';
import { SDK_TYPES } from './register-search-attributes';
import type { StartTemporalServerOptions, TemporalServerHandle } from './types';

/** Last resort, for machines with internet but no Go: the SDK downloads a CLI release itself. */
export async function startWithSdkDownload(opts: StartTemporalServerOptions, log: Log): Promise<TemporalServerHandle> {
  // Loaded lazily: @temporalio/testing is a dev dependency and pulls in the native worker runtime.
  const { TestWorkflowEnvironment } = await import('@temporalio/testing');
  const headless = opts.headless ?? false;
  const namespace = opts.namespace ?? 'default';
  const ports =
    opts.port === undefined ? await pickPorts(!headless) : { port: opts.port, uiPort: opts.uiPort ?? opts.port + 1000 };
  const uiPort = opts.uiPort ?? ports.uiPort;
  const env = await TestWorkflowEnvironment.createLocal({
    server: {
      executable: { type: 'cached-download', downloadDir: path.join(cacheDir(), 'sdk-download') },
      ip: '127.0.0.1',
      port: ports.port,
      ui: !headless,
      uiPort: headless ? undefined : uiPort,
      namespace,
      dbFilename: opts.dbFilename ? path.resolve(opts.dbFilename) : undefined,
      searchAttributes: Object.entries(SEARCH_ATTRIBUTES).map(([name, type]) =>
        defineSearchAttributeKey(name, SDK_TYPES[type]),
      ),
      extraArgs: opts.extraArgs,
    },
  });
  const address = `127.0.0.1:${ports.port}`;
  try {
    // The SDK only waits for the port to open; hold this path to the same readiness bar as our own launcher.
    await waitUntilReady({ address, namespace, timeoutMs: opts.readyTimeoutMs ?? DEFAULT_READY_TIMEOUT_MS, log });
  } catch (err) {
    await env.teardown();
    throw err;
  }
  const uiUrl = headless ? undefined : `http://127.0.0.1:${uiPort}`;
  log(`temporal dev server (SDK download) ready: ${address}${uiUrl ? `, Web UI ${uiUrl}` : ''}`);
  let stopping: Promise<void> | undefined;
  return { address, namespace, uiUrl, external: false, stop: () => (stopping ??= env.teardown()) };
}
