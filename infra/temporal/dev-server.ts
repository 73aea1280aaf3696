import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import fsp from 'node:fs/promises';
import net from 'node:net';
import path from 'node:path';
import readline from 'node:readline';
import { setTimeout as sleep } from 'node:timers/promises';
import { SEARCH_ATTRIBUTES } from '../../common/search-attributes';
import { errorMessage, LineTail, OUTPUT_TAIL_LINES } from './output';
import type { Log } from './output';
import { isPortFree, pickPorts } from './ports';
import { installExitHook, liveServers, signalGroup, spawnWatchdog } from './process-group';
import { waitUntilReady } from './readiness';
import type { StartTemporalServerOptions, TemporalServerHandle } from './types';

// Runs `temporal server start-dev` as a process group we own: start, wait until ready, stop, and never outlive us.

/** The dev server shuts down in about a second on SIGTERM; past this it gets SIGKILL. */
const STOP_GRACE_MS = 5_000;

function devServerArgs(o: {
  port: number;
  uiPort: number;
  headless: boolean;
  dbFilename?: string;
  namespace: string;
  extraArgs: string[];
}): string[] {
  const args = ['server', 'start-dev', '--ip', '127.0.0.1', '--port', String(o.port)];
  args.push(...(o.headless ? ['--headless'] : ['--ui-port', String(o.uiPort)]));
  if (o.dbFilename) args.push('--db-filename', o.dbFilename);
  // `default` always exists on the dev server; another namespace is created in addition.
  args.push('--namespace', 'default');
  if (o.namespace !== 'default') args.push('--namespace', o.namespace);
  args.push('--log-level', 'warn');
  for (const [name, type] of Object.entries(SEARCH_ATTRIBUTES)) args.push('--search-attribute', `${name}=${type}`);
  // The SDK's own dev-server launcher passes the same: updates on, and no version check, which
  // would only log errors on machines without internet.
  for (const kv of [
    'frontend.enableUpdateWorkflowExecution=true',
    'frontend.enableUpdateWorkflowExecutionAsyncAccepted=true',
    // Update-with-start (each scoring service's deployments) is a multi-operation.
    'frontend.enableExecuteMultiOperation=true',
    'frontend.enableServerVersionCheck=false',
    // Every versioned worker registers a Worker Deployment named after its task queue; the test suite and the
    // benchmarks use many task queues on one server, more than the default 100 a namespace may hold.
    'matching.maxDeployments=10000',
  ]) {
    args.push('--dynamic-config-value', kv);
  }
  args.push(...o.extraArgs);
  return args;
}

class PortCollision extends Error {}

export async function startDevServer(
  bin: string,
  opts: StartTemporalServerOptions,
  timeoutMs: number,
  log: Log,
): Promise<TemporalServerHandle> {
  const headless = opts.headless ?? false;
  const namespace = opts.namespace ?? 'default';
  const dbFilename = opts.dbFilename ? path.resolve(opts.dbFilename) : undefined;
  // The dev server creates a new database file but not its directory.
  if (dbFilename) await fsp.mkdir(path.dirname(dbFilename), { recursive: true });

  const autoPorts = opts.port === undefined;
  for (let attempt = 1; ; attempt++) {
    let ports: { port: number; uiPort: number };
    if (opts.port === undefined) {
      ports = await pickPorts(!headless);
      if (opts.uiPort !== undefined) ports.uiPort = opts.uiPort;
    } else {
      ports = { port: opts.port, uiPort: opts.uiPort ?? opts.port + 1000 };
    }
    if (!autoPorts || opts.uiPort !== undefined) {
      for (const p of headless ? [ports.port] : [ports.port, ports.uiPort]) {
        if (!(await isPortFree(p))) throw new Error(`cannot start Temporal: port ${p} on 127.0.0.1 is already in use`);
      }
    }
    const args = devServerArgs({ ...ports, headless, dbFilename, namespace, extraArgs: opts.extraArgs ?? [] });
    try {
      return await launch(bin, args, { ...ports, headless, namespace, timeoutMs, log });
    } catch (err) {
      // Another process can grab an auto-picked port between our check and the server's bind: pick again.
      if (err instanceof PortCollision && autoPorts && attempt < 3) {
        log(`port collision on ${ports.port}/${ports.uiPort}; retrying with new ports`);
        continue;
      }
      throw err;
    }
  }
}

async function launch(
  bin: string,
  args: string[],
  o: { port: number; uiPort: number; headless: boolean; namespace: string; timeoutMs: number; log: Log },
): Promise<TemporalServerHandle> {
  const address = `127.0.0.1:${o.port}`;
  const started = Date.now();
  o.log(`starting temporal dev server on ${address}${o.headless ? '' : ` (UI port ${o.uiPort})`}`);

  // detached: the server leads its own process group, so stop() can signal everything it runs by one PID and a
  // Ctrl-C aimed at our terminal does not kill it before we have shut it down in order.
  const child: ChildProcess = spawn(bin, args, { detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
  const outputTail = new LineTail(OUTPUT_TAIL_LINES);
  let metricsUrl: string | undefined;
  let onMetrics: () => void = () => undefined;
  const metricsSeen = new Promise<void>((resolve) => (onMetrics = resolve));
  // The pipes must be drained for the server's whole life, or it blocks once a pipe buffer fills.
  readline.createInterface({ input: child.stdout! }).on('line', (line) => {
    outputTail.push(line);
    const m = /^Metrics:\s+(\S+)/.exec(line);
    if (m) {
      // The server prints "localhost" but binds --ip; localhost may resolve to ::1 first, where nothing listens.
      metricsUrl = m[1].replace('//localhost:', '//127.0.0.1:');
      onMetrics();
    }
  });
  readline.createInterface({ input: child.stderr! }).on('line', (line) => outputTail.push(line));

  let exitInfo: string | undefined;
  // Filled in once the server's PID is known; the exit handler below needs to reach it.
  const watchdog: { pid?: number } = {};
  const exited = new Promise<void>((resolve) => {
    const done = (info: string): void => {
      if (exitInfo !== undefined) return;
      exitInfo = info;
      if (child.pid !== undefined) liveServers.delete(child.pid);
      if (watchdog.pid !== undefined) signalGroup(watchdog.pid, 'SIGTERM');
      resolve();
    };
    child.once('exit', (code, signal) => done(signal ? `signal ${signal}` : `code ${code}`));
    child.once('error', (err) => done(`spawn error: ${err.message}`));
  });

  const pid = child.pid;
  if (pid === undefined) {
    await exited;
    throw new Error(`could not start ${bin}: ${exitInfo}`);
  }
  liveServers.add(pid);
  installExitHook();
  watchdog.pid = spawnWatchdog(pid);

  let stopping: Promise<void> | undefined;
  const stop = (): Promise<void> => {
    stopping ??= (async () => {
      // Keep the event loop alive until the server is really gone, even though it was unref'd after start.
      child.ref();
      if (exitInfo === undefined) {
        signalGroup(pid, 'SIGTERM');
        const ac = new AbortController();
        const inTime = await Promise.race([
          exited.then(() => true),
          sleep(STOP_GRACE_MS, false, { signal: ac.signal }).catch(() => false),
        ]);
        ac.abort();
        if (!inTime) {
          o.log(`temporal dev server (pid ${pid}) ignored SIGTERM for ${STOP_GRACE_MS / 1000}s; sending SIGKILL`);
          signalGroup(pid, 'SIGKILL');
          await exited;
        }
      }
      liveServers.delete(pid);
      if (watchdog.pid !== undefined) signalGroup(watchdog.pid, 'SIGTERM');
    })();
    return stopping;
  };

  const withOutput = (msg: string): string => `${msg}\n--- temporal server output ---\n${outputTail.text()}`;
  try {
    await waitUntilReady({
      address,
      namespace: o.namespace,
      timeoutMs: o.timeoutMs,
      log: o.log,
      aborted: () => (exitInfo === undefined ? undefined : new Error(`temporal dev server exited (${exitInfo})`)),
    });
    // The banner (with the Metrics line) follows readiness; waiting for it also closes a race: if another server
    // grabbed our port first, the probe above may have talked to *that* one while ours was exiting on the bind error.
    const ac = new AbortController();
    await Promise.race([metricsSeen, sleep(3_000, undefined, { signal: ac.signal }).catch(() => undefined)]);
    ac.abort();
    if (exitInfo !== undefined) throw new Error(`temporal dev server exited (${exitInfo})`);
  } catch (err) {
    await stop();
    // Give the output readers a moment to collect the final lines (the bind error is usually the last one).
    await sleep(100);
    if (/address already in use/i.test(outputTail.text())) throw new PortCollision(withOutput(errorMessage(err)));
    throw new Error(withOutput(`temporal dev server (pid ${pid}) failed to start: ${errorMessage(err)}`));
  }

  // Unref'd so a script that forgets stop() can still exit; the exit hook and watchdog then stop the server.
  child.unref();
  for (const stream of [child.stdout, child.stderr]) if (stream instanceof net.Socket) stream.unref();

  const uiUrl = o.headless ? undefined : `http://127.0.0.1:${o.uiPort}`;
  const secs = ((Date.now() - started) / 1000).toFixed(1);
  o.log(`temporal dev server ready in ${secs}s: ${address}${uiUrl ? `, Web UI ${uiUrl}` : ''} (pid ${pid})`);
  return { address, namespace: o.namespace, uiUrl, metricsUrl, pid, external: false, exited, stop };
}
