import type { ConnectionOptions } from '@temporalio/client';
import { loadClientConnectConfig } from '@temporalio/envconfig';
import { resolveTemporalCli } from './binary';
import { startDevServer } from './dev-server';
import { errorMessage, noLog } from './output';
import type { Log } from './output';
import { DEFAULT_READY_TIMEOUT_MS, waitUntilReady } from './readiness';
import { startWithSdkDownload } from './sdk-download';
import type { StartTemporalServerOptions, TemporalServerHandle } from './types';

/** Start (or, with TEMPORAL_ADDRESS, attach to) a Temporal server with the product's search attributes registered. */
export async function startTemporalServer(opts: StartTemporalServerOptions = {}): Promise<TemporalServerHandle> {
  const log = opts.log ?? noLog;
  const timeoutMs = opts.readyTimeoutMs ?? DEFAULT_READY_TIMEOUT_MS;

  if (process.env.TEMPORAL_ADDRESS) return attachExternal(opts.namespace, timeoutMs, log);

  const resolution = await resolveTemporalCli(log);
  if (resolution.path) return startDevServer(resolution.path, opts, timeoutMs, log);

  log('no temporal CLI could be found or built; trying the SDK download (needs internet)');
  try {
    return await startWithSdkDownload(opts, log);
  } catch (err) {
    const tried = [...resolution.tried, `SDK download (@temporalio/testing cached-download): ${errorMessage(err)}`];
    throw new Error(
      'Could not provision a Temporal server. Tried, in order:\n' +
        `  - TEMPORAL_ADDRESS: not set\n  - ${tried.join('\n  - ')}\n` +
        'Fix one of: install Go >= 1.25 (the CLI is then built from the Go module proxy), set TEMPORAL_CLI_PATH to a ' +
        'temporal binary, or set TEMPORAL_ADDRESS to a running server.',
    );
  }
}

async function attachExternal(
  namespaceOpt: string | undefined,
  timeoutMs: number,
  log: Log,
): Promise<TemporalServerHandle> {
  // envconfig reads TEMPORAL_ADDRESS plus TLS / API key / profile settings, the same way the worker and client do.
  const config = loadClientConnectConfig();
  const { address: configured, tls, apiKey, metadata } = config.connectionOptions;
  const address = configured ?? String(process.env.TEMPORAL_ADDRESS);
  const connectionOptions: ConnectionOptions = { tls, apiKey, metadata };
  const namespace = namespaceOpt ?? config.namespace ?? 'default';
  log(`TEMPORAL_ADDRESS is set: using the server at ${address} (namespace ${namespace}), starting nothing`);
  await waitUntilReady({ address, namespace, connectionOptions, timeoutMs, log });
  return { address, namespace, external: true, stop: () => Promise.resolve() };
}
