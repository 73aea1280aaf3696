import { Command, InvalidArgumentError } from 'commander';
import { ensureTemporalCli, startTemporalServer } from './temporal';
import type { TemporalServerHandle } from './temporal';

/**
 * `node dist/infra/temporal-cli.js ensure` builds or locates the temporal binary (for .ci/run and first-time setup);
 * `... start` runs a dev server in the foreground until SIGINT/SIGTERM. Progress goes to stderr, results to stdout,
 * so `$(node dist/infra/temporal-cli.js ensure)` captures just the path.
 */

const log = (line: string): void => {
  process.stderr.write(`${line}\n`);
};

function parsePort(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1 || n > 65535) throw new InvalidArgumentError('expected a port number 1-65535');
  return n;
}

async function ensure(): Promise<void> {
  const bin = await ensureTemporalCli({ log });
  if (bin) {
    process.stdout.write(`${bin}\n`);
    return;
  }
  if (process.env.TEMPORAL_ADDRESS) return;
  throw new Error('no temporal CLI could be found or built (see the lines above); set TEMPORAL_CLI_PATH or install Go');
}

interface StartOptions {
  port?: number;
  uiPort?: number;
  dbFilename?: string;
  headless?: boolean;
  namespace?: string;
}

async function start(opts: StartOptions): Promise<void> {
  const server = await startTemporalServer({ ...opts, log });
  process.stdout.write(`Temporal server: ${server.address} (namespace ${server.namespace})\n`);
  if (server.uiUrl) process.stdout.write(`Web UI:          ${server.uiUrl}\n`);
  if (server.metricsUrl) process.stdout.write(`Metrics:         ${server.metricsUrl}\n`);
  process.stdout.write(`Use it with:     export TEMPORAL_ADDRESS=${server.address}\n`);
  const code = await runUntilSignal(server);
  process.exitCode = code;
}

/** Resolves with the exit code once a signal has stopped the server, or the server died on its own. */
function runUntilSignal(server: TemporalServerHandle): Promise<number> {
  return new Promise((resolve) => {
    // The server handle is unref'd so scripts can exit; this timer is what keeps the CLI in the foreground.
    const keepAlive = setInterval(() => undefined, 60_000);
    let shuttingDown = false;
    const shutdown = (signal: NodeJS.Signals): void => {
      if (shuttingDown) {
        // A second Ctrl-C means "now": the exit hook still sends the server SIGTERM on the way out.
        process.exit(130);
      }
      shuttingDown = true;
      log(`${signal}: stopping the Temporal server…`);
      server.stop().then(
        () => {
          clearInterval(keepAlive);
          resolve(0);
        },
        (err: unknown) => {
          log(`stopping failed: ${err instanceof Error ? err.message : String(err)}`);
          clearInterval(keepAlive);
          resolve(1);
        },
      );
    };
    process.on('SIGINT', shutdown);
    process.on('SIGTERM', shutdown);
    void server.exited?.then(
      () => {
        if (shuttingDown) return;
        log('the Temporal server exited unexpectedly');
        clearInterval(keepAlive);
        resolve(1);
      },
      () => undefined,
    );
  });
}

const program = new Command('temporal-cli').description('Provision and run the Temporal dev server for ml-retrain');
program
  .command('ensure')
  .description('locate or build the temporal CLI binary (Go module proxy) and print its path')
  .action(ensure);
program
  .command('start')
  .description('start a Temporal dev server and keep it up until SIGINT/SIGTERM')
  .option('--port <n>', 'frontend gRPC port (default: a free port)', parsePort)
  .option('--ui-port <n>', 'Web UI port (default: port + 1000)', parsePort)
  .option('--db-filename <file>', 'SQLite file to keep state across restarts (default: in-memory)')
  .option('--headless', 'no Web UI')
  .option('--namespace <name>', 'namespace to create in addition to "default"')
  .action(start);

program.parseAsync().catch((err: unknown) => {
  log(err instanceof Error ? err.message : String(err));
  process.exit(1);
});
