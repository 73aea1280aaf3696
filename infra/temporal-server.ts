import { execFile, spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { constants as fsConstants } from 'node:fs';
import fsp from 'node:fs/promises';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import readline from 'node:readline';
import { setTimeout as sleep } from 'node:timers/promises';
import { Connection, isGrpcServiceError } from '@temporalio/client';
import type { ConnectionOptions } from '@temporalio/client';
import { defineSearchAttributeKey, SearchAttributeType } from '@temporalio/common';
import { encodeSearchAttributeIndexedValueType } from '@temporalio/common/lib/search-attributes';
import { loadClientConnectConfig } from '@temporalio/envconfig';
import { SEARCH_ATTRIBUTES } from '../common/search-attributes';

/**
 * Provisions a real Temporal server for the demo, the tests and the benchmarks.
 *
 * Resolution order: TEMPORAL_ADDRESS (use it, start nothing) → TEMPORAL_CLI_PATH → `temporal` on PATH → the cached
 * binary → `go install` of the CLI from the Go module proxy → the SDK's own download. The machines reach package
 * registries only, so the Go module proxy is the path that normally works offline (see
 * docs/spec/temporal-notes.md §0–§2).
 */

export interface TemporalServerHandle {
  /** `host:port` of the frontend gRPC service. */
  address: string;
  namespace: string;
  uiUrl?: string;
  metricsUrl?: string;
  /** PID of the server process, which leads its own process group. Absent for external or SDK-managed servers. */
  pid?: number;
  /** True when TEMPORAL_ADDRESS pointed at a server we did not start; `stop()` then leaves it alone. */
  external: boolean;
  /** Resolves when a server we started has exited, for whatever reason (stop(), kill -9, crash). */
  exited?: Promise<void>;
  stop(): Promise<void>;
}

export interface EnsureTemporalCliOptions {
  log?: (line: string) => void;
}

export interface StartTemporalServerOptions {
  /** Frontend gRPC port. Default: a free port P such that P+1000 is free too. */
  port?: number;
  /** Web UI port. Default: port + 1000. */
  uiPort?: number;
  headless?: boolean;
  /** SQLite file that keeps state across restarts. Default: in-memory, lost on exit. */
  dbFilename?: string;
  namespace?: string;
  log?: (line: string) => void;
  /** Appended to `temporal server start-dev` (e.g. `--sqlite-pragma journal_mode=WAL`). */
  extraArgs?: string[];
  /** How long to wait for the server to answer and show the search attributes. Default 60 s. */
  readyTimeoutMs?: number;
}

/** The newest CLI tag that `go install` can build: later tags carry a `replace` directive (docs/spec/temporal-notes.md §1). */
export const TEMPORAL_CLI_VERSION = '1.5.1';
const GO_PACKAGE = 'github.com/temporalio/cli/cmd/temporal';
const GO_VERSION_LDFLAG = `-X github.com/temporalio/cli/temporalcli.Version=${TEMPORAL_CLI_VERSION}`;
const BINARY_NAME = process.platform === 'win32' ? 'temporal.exe' : 'temporal';

const DEFAULT_READY_TIMEOUT_MS = 60_000;
/** The dev server shuts down in about a second on SIGTERM; past this it gets SIGKILL. */
const STOP_GRACE_MS = 5_000;
/** Progress lines come at least this often during long waits, so a first-time build never looks hung. */
const PROGRESS_INTERVAL_MS = 10_000;
const GO_BUILD_TIMEOUT_MS = 30 * 60_000;
/** A build lock older than this is abandoned even if its PID looks alive (PID reuse, other host). */
const LOCK_MAX_AGE_MS = 45 * 60_000;
const OUTPUT_TAIL_LINES = 30;
/** grpc status ALREADY_EXISTS; @grpc/grpc-js is not a direct dependency, so its enum is not imported. */
const GRPC_ALREADY_EXISTS = 6;

type Log = (line: string) => void;
const noLog: Log = () => undefined;

/** The product's cache, outside git: ML_RETRAIN_CACHE_DIR, else $XDG_CACHE_HOME/ml-retrain, else ~/.cache/ml-retrain. */
export function cacheDir(): string {
  const explicit = process.env.ML_RETRAIN_CACHE_DIR;
  if (explicit) return path.resolve(explicit);
  const xdg = process.env.XDG_CACHE_HOME;
  // The XDG spec says a relative value is invalid and must be ignored.
  if (xdg && path.isAbsolute(xdg)) return path.join(xdg, 'ml-retrain');
  return path.join(os.homedir(), '.cache', 'ml-retrain');
}

function cachedBinaryPath(): string {
  return path.join(cacheDir(), 'bin', BINARY_NAME);
}

// ---------------------------------------------------------------------------------------------------------------
// Locating or building the CLI
// ---------------------------------------------------------------------------------------------------------------

interface CliResolution {
  path?: string;
  /** One line per source that did not work, for the final error message. */
  tried: string[];
}

/**
 * Locate a working `temporal` binary, building it with Go the first time.
 * Returns undefined when TEMPORAL_ADDRESS is set (no binary is needed) or when no binary could be found or built;
 * startTemporalServer then falls back to the SDK's own download.
 */
export async function ensureTemporalCli(opts: EnsureTemporalCliOptions = {}): Promise<string | undefined> {
  const log = opts.log ?? noLog;
  const external = process.env.TEMPORAL_ADDRESS;
  if (external) {
    log(`TEMPORAL_ADDRESS=${external} is set: using that server, no temporal CLI needed`);
    return undefined;
  }
  const resolution = await resolveTemporalCli(log);
  if (!resolution.path) log(`no temporal CLI available; tried:\n  - ${resolution.tried.join('\n  - ')}`);
  return resolution.path;
}

async function resolveTemporalCli(log: Log): Promise<CliResolution> {
  const tried: string[] = [];

  const explicit = process.env.TEMPORAL_CLI_PATH;
  if (explicit) {
    const file = path.resolve(explicit);
    const probe = await probeCli(file);
    // An explicit setting that does not work is a configuration error: silently using another binary would hide it.
    if (!probe.ok) throw new Error(`TEMPORAL_CLI_PATH=${explicit} does not run '--version': ${probe.error}`);
    log(`using TEMPORAL_CLI_PATH ${file} (${probe.version})`);
    return { path: file, tried };
  }
  tried.push('TEMPORAL_CLI_PATH: not set');

  const onPath = await findOnPath(BINARY_NAME);
  if (onPath) {
    const probe = await probeCli(onPath);
    if (probe.ok) {
      log(`using temporal on PATH: ${onPath} (${probe.version})`);
      return { path: onPath, tried };
    }
    tried.push(`temporal on PATH (${onPath}): '--version' failed: ${probe.error}`);
  } else {
    tried.push('temporal on PATH: not found');
  }

  const cached = cachedBinaryPath();
  const cachedProbe = await probeCli(cached);
  if (cachedProbe.ok) {
    log(`using cached temporal CLI ${cached} (${cachedProbe.version})`);
    return { path: cached, tried };
  }
  tried.push(`cached binary ${cached}: ${cachedProbe.error}`);

  const built = await buildWithGo(log);
  if (built.path) return { path: built.path, tried };
  tried.push(`go install ${GO_PACKAGE}@v${TEMPORAL_CLI_VERSION}: ${built.failure}`);
  return { tried };
}

type Probe = { ok: true; version: string } | { ok: false; error: string };

function probeCli(file: string): Promise<Probe> {
  return new Promise((resolve) => {
    execFile(file, ['--version'], { timeout: 15_000 }, (err, stdout) => {
      if (err)
        resolve({ ok: false, error: (err as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file' : err.message });
      else resolve({ ok: true, version: stdout.trim() });
    });
  });
}

async function findOnPath(name: string): Promise<string | undefined> {
  for (const dir of (process.env.PATH ?? '').split(path.delimiter)) {
    if (!dir) continue;
    const candidate = path.join(dir, name);
    try {
      await fsp.access(candidate, fsConstants.X_OK);
      if ((await fsp.stat(candidate)).isFile()) return candidate;
    } catch {
      // Not in this directory; keep looking.
    }
  }
  return undefined;
}

/**
 * `go install` the pinned CLI into the cache. Each builder uses its own temporary GOBIN and renames the result into
 * place, so a reader never sees a half-written binary even if two builds race; the lock only avoids duplicate work.
 */
async function buildWithGo(log: Log): Promise<{ path?: string; failure?: string }> {
  const go = await findOnPath(process.platform === 'win32' ? 'go.exe' : 'go');
  if (!go) return { failure: 'go not found on PATH' };

  const binDir = path.dirname(cachedBinaryPath());
  await fsp.mkdir(binDir, { recursive: true });
  const release = await acquireLock(path.join(binDir, '.temporal-build.lock'), log);
  let tmpDir: string | undefined;
  try {
    // Another process may have finished the build while we waited for the lock.
    const again = await probeCli(cachedBinaryPath());
    if (again.ok) {
      log(`using temporal CLI built by another process: ${cachedBinaryPath()} (${again.version})`);
      return { path: cachedBinaryPath() };
    }
    tmpDir = await fsp.mkdtemp(path.join(binDir, '.build-'));
    const result = await runGoInstall(go, tmpDir, log);
    if (result.failure) return result;
    const target = cachedBinaryPath();
    await fsp.rename(path.join(tmpDir, BINARY_NAME), target);
    const probe = await probeCli(target);
    if (!probe.ok) return { failure: `built binary does not run '--version': ${probe.error}` };
    log(`built ${target} (${probe.version})`);
    return { path: target };
  } finally {
    if (tmpDir) await fsp.rm(tmpDir, { recursive: true, force: true });
    await release();
  }
}

function runGoInstall(go: string, gobin: string, log: Log): Promise<{ failure?: string }> {
  const args = ['install', '-v', '-ldflags', GO_VERSION_LDFLAG, `${GO_PACKAGE}@v${TEMPORAL_CLI_VERSION}`];
  const started = Date.now();
  log(`building temporal CLI v${TEMPORAL_CLI_VERSION} from the Go module proxy (first time only, a few minutes)…`);
  return new Promise((resolve) => {
    // CGO off matches upstream releases; the CLI's SQLite is pure Go, so no C toolchain is needed.
    const child = spawn(go, args, {
      env: { ...process.env, CGO_ENABLED: '0', GOBIN: gobin },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const tail = new LineTail(OUTPUT_TAIL_LINES);
    let downloads = 0;
    let packages = 0;
    // `go install -v` prints one line per module download and per compiled package: counting them shows progress
    // without flooding the log with hundreds of package paths.
    const count = (line: string): void => {
      tail.push(line);
      if (line.startsWith('go: downloading ')) downloads++;
      else if (line && !line.startsWith('go: ')) packages++;
    };
    readline.createInterface({ input: child.stdout }).on('line', count);
    readline.createInterface({ input: child.stderr }).on('line', count);
    const progress = setInterval(() => {
      const secs = Math.round((Date.now() - started) / 1000);
      log(
        `building temporal CLI from the Go module proxy (first time only, a few minutes)… ${secs}s elapsed, ` +
          `${downloads} modules downloaded, ${packages} packages compiled`,
      );
    }, PROGRESS_INTERVAL_MS);
    const timeout = setTimeout(() => child.kill('SIGKILL'), GO_BUILD_TIMEOUT_MS);
    const finish = (failure?: string): void => {
      clearInterval(progress);
      clearTimeout(timeout);
      resolve(failure ? { failure } : {});
    };
    child.on('error', (err) => finish(`could not run ${go}: ${err.message}`));
    child.on('close', (code, signal) => {
      const secs = Math.round((Date.now() - started) / 1000);
      if (code === 0) {
        log(`temporal CLI built in ${secs}s`);
        finish();
      } else {
        finish(`exited with ${code ?? signal} after ${secs}s:\n${tail.text()}`);
      }
    });
  });
}

interface LockInfo {
  pid: number;
  host: string;
}

async function acquireLock(lockPath: string, log: Log): Promise<() => Promise<void>> {
  const started = Date.now();
  let lastLog = started;
  for (;;) {
    try {
      const fh = await fsp.open(lockPath, 'wx');
      await fh.writeFile(JSON.stringify({ pid: process.pid, host: os.hostname() } satisfies LockInfo));
      await fh.close();
      return () => fsp.rm(lockPath, { force: true });
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    }
    const holder = await readLock(lockPath);
    if (holder.stale) {
      log(`removing a stale temporal CLI build lock (${holder.reason})`);
      await fsp.rm(lockPath, { force: true });
      continue;
    }
    if (Date.now() - lastLog >= PROGRESS_INTERVAL_MS) {
      lastLog = Date.now();
      const secs = Math.round((lastLog - started) / 1000);
      log(`waiting for another process (${holder.who}) to finish building the temporal CLI… ${secs}s elapsed`);
    }
    await sleep(1000);
  }
}

async function readLock(lockPath: string): Promise<{ stale: true; reason: string } | { stale: false; who: string }> {
  let text: string;
  let ageMs: number;
  try {
    ageMs = Date.now() - (await fsp.stat(lockPath)).mtimeMs;
    text = await fsp.readFile(lockPath, 'utf8');
  } catch {
    // Released between our open() and now: not stale, just retry.
    return { stale: false, who: 'a finished builder' };
  }
  if (ageMs > LOCK_MAX_AGE_MS) return { stale: true, reason: `older than ${LOCK_MAX_AGE_MS / 60_000} min` };
  let info: Partial<LockInfo> = {};
  try {
    info = JSON.parse(text) as Partial<LockInfo>;
  } catch {
    // The holder may have created the file and not yet written it; give it a moment before calling it abandoned.
    return ageMs > 10_000 ? { stale: true, reason: 'unreadable' } : { stale: false, who: 'a new builder' };
  }
  if (typeof info.pid === 'number' && info.host === os.hostname() && !isAlive(info.pid)) {
    return { stale: true, reason: `pid ${info.pid} is gone` };
  }
  return { stale: false, who: `pid ${info.pid} on ${info.host}` };
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    // EPERM means it exists but belongs to someone else.
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

// ---------------------------------------------------------------------------------------------------------------
// Search attributes
// ---------------------------------------------------------------------------------------------------------------

type CliSearchAttributeType = (typeof SEARCH_ATTRIBUTES)[string];

const SDK_TYPES: Record<CliSearchAttributeType, SearchAttributeType> = {
  Keyword: SearchAttributeType.KEYWORD,
  KeywordList: SearchAttributeType.KEYWORD_LIST,
  Text: SearchAttributeType.TEXT,
  Int: SearchAttributeType.INT,
  Datetime: SearchAttributeType.DATETIME,
  Bool: SearchAttributeType.BOOL,
};

type IndexedValueType = NonNullable<ReturnType<typeof encodeSearchAttributeIndexedValueType>>;

function indexedValueType(type: CliSearchAttributeType): IndexedValueType {
  const encoded = encodeSearchAttributeIndexedValueType(SDK_TYPES[type]);
  if (encoded === undefined) throw new Error(`no IndexedValueType for search attribute type ${type}`);
  return encoded;
}

function describeIndexedValueType(value: IndexedValueType): string {
  const match = (Object.keys(SDK_TYPES) as CliSearchAttributeType[]).find((t) => indexedValueType(t) === value);
  return match ?? `IndexedValueType ${value}`;
}

class SearchAttributeTypeConflict extends Error {}

/**
 * Register any of the product's search attributes the namespace lacks, then confirm all are listed.
 * Throws when one exists with another type, because workflows would then fail to upsert it.
 * Returns the names still not visible (registration can take a moment to show on non-dev servers).
 */
async function ensureSearchAttributes(conn: Connection, namespace: string, log: Log): Promise<string[]> {
  const missing: Record<string, IndexedValueType> = {};
  const listed = await conn.operatorService.listSearchAttributes({ namespace });
  for (const [name, type] of Object.entries(SEARCH_ATTRIBUTES)) {
    const want = indexedValueType(type);
    const have = listed.customAttributes?.[name];
    if (have === undefined || have === null) missing[name] = want;
    else if (have !== want) {
      throw new SearchAttributeTypeConflict(
        `search attribute ${name} exists in namespace ${namespace} as ${describeIndexedValueType(have)}, ` +
          `but the product needs ${type}`,
      );
    }
  }
  const names = Object.keys(missing);
  if (names.length === 0) return [];
  log(`registering search attributes in namespace ${namespace}: ${names.join(', ')}`);
  try {
    await conn.operatorService.addSearchAttributes({ namespace, searchAttributes: missing });
  } catch (err) {
    // A concurrent registration (another test file, another worker) got there first: that is the goal anyway.
    if (
      !(isGrpcServiceError(err) && (err.code as number) === GRPC_ALREADY_EXISTS) &&
      !/already exists/i.test(String(err))
    ) {
      throw err;
    }
  }
  const after = await conn.operatorService.listSearchAttributes({ namespace });
  return names.filter((n) => after.customAttributes?.[n] === undefined || after.customAttributes?.[n] === null);
}

// ---------------------------------------------------------------------------------------------------------------
// Starting servers
// ---------------------------------------------------------------------------------------------------------------

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

interface ReadyCheck {
  address: string;
  namespace: string;
  connectionOptions?: ConnectionOptions;
  timeoutMs: number;
  log: Log;
  /** Fails fast when the process we are waiting for has died. */
  aborted?: () => Error | undefined;
}

/** Ready means: the frontend answers GetSystemInfo, the namespace exists and the search attributes are listed. */
async function waitUntilReady(check: ReadyCheck): Promise<void> {
  const started = Date.now();
  const deadline = started + check.timeoutMs;
  let lastProgress = started;
  let lastError: unknown = new Error('no attempt finished');
  while (Date.now() < deadline) {
    if (Date.now() - lastProgress >= PROGRESS_INTERVAL_MS) {
      lastProgress = Date.now();
      const secs = Math.round((lastProgress - started) / 1000);
      check.log(`waiting for Temporal at ${check.address}… ${secs}s (last error: ${errorMessage(lastError)})`);
    }
    const abort = check.aborted?.();
    if (abort) throw abort;
    let conn: Connection | undefined;
    try {
      // No retry interceptor: a fresh, fail-fast connection per attempt keeps the probe at ~250 ms granularity
      // instead of inheriting gRPC's reconnect backoff, which grows to many seconds.
      conn = await Connection.connect({
        ...check.connectionOptions,
        address: check.address,
        connectTimeout: 2_000,
        interceptors: [],
      });
      const c = conn;
      const missing = await c.withDeadline(Date.now() + 10_000, async () => {
        await c.workflowService.getSystemInfo({});
        await c.workflowService.describeNamespace({ namespace: check.namespace });
        return ensureSearchAttributes(c, check.namespace, check.log);
      });
      if (missing.length === 0) return;
      lastError = new Error(`search attributes not visible yet: ${missing.join(', ')}`);
    } catch (err) {
      // Retrying cannot fix a type clash.
      if (err instanceof SearchAttributeTypeConflict) throw err;
      lastError = err;
    } finally {
      await conn?.close();
    }
    await sleep(250);
  }
  throw new Error(
    `Temporal at ${check.address} (namespace ${check.namespace}) was not ready within ` +
      `${Math.round(check.timeoutMs / 1000)}s: ${errorMessage(lastError)}`,
  );
}

/** PIDs of servers this process started and has not stopped: killed if this process exits without stopping them. */
const liveServers = new Set<number>();
let exitHookInstalled = false;

function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  // 'exit' handlers must be synchronous; SIGTERM lets the server close its SQLite file cleanly, and the watchdog
  // escalates to SIGKILL if it lingers.
  process.on('exit', () => {
    for (const pid of liveServers) signalGroup(pid, 'SIGTERM');
  });
}

function signalGroup(pid: number, signal: NodeJS.Signals): void {
  try {
    // Negative PID: the whole process group the server leads (spawned detached), so nothing it forked survives.
    process.kill(process.platform === 'win32' ? pid : -pid, signal);
  } catch {
    // ESRCH: already gone.
  }
}

/**
 * A tiny shell loop that outlives us: when this process dies without stopping the server (SIGKILL, a signal with no
 * handler, a crashed jest worker), no 'exit' handler runs, so this is what stops the server. It polls once a second.
 */
function spawnWatchdog(serverPid: number): number | undefined {
  if (process.platform === 'win32') return undefined;
  const script = [
    'parent=$1; server=$2',
    'while kill -0 "$parent" 2>/dev/null && kill -0 "$server" 2>/dev/null; do sleep 1; done',
    'kill -0 "$server" 2>/dev/null || exit 0',
    'kill -TERM -"$server" 2>/dev/null',
    'for i in 1 2 3 4 5; do kill -0 "$server" 2>/dev/null || exit 0; sleep 1; done',
    'kill -KILL -"$server" 2>/dev/null',
  ].join('\n');
  const watchdog = spawn('/bin/sh', ['-c', script, 'temporal-watchdog', String(process.pid), String(serverPid)], {
    detached: true,
    stdio: 'ignore',
  });
  watchdog.on('error', () => undefined);
  watchdog.unref();
  return watchdog.pid;
}

/**
 * The first and last lines of a process's output, for error messages: the cause is often the first line (a flag
 * error followed by a long usage text) or the last one (a bind error), rarely in between.
 */
class LineTail {
  private readonly head: string[] = [];
  private readonly tail: string[] = [];
  private omitted = 0;
  constructor(
    private readonly max: number,
    private readonly headMax = 8,
  ) {}
  push(raw: string): void {
    const line = raw.length > 1000 ? `${raw.slice(0, 1000)}…` : raw;
    if (this.head.length < this.headMax) {
      this.head.push(line);
      return;
    }
    this.tail.push(line);
    if (this.tail.length > this.max) {
      this.tail.shift();
      this.omitted++;
    }
  }
  text(): string {
    if (this.head.length === 0) return '(no output)';
    const gap = this.omitted ? [`… ${this.omitted} lines omitted …`] : [];
    return [...this.head, ...gap, ...this.tail].join('\n');
  }
}

function isPortFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const srv = net.createServer();
    srv.once('error', () => resolve(false));
    srv.listen({ host: '127.0.0.1', port, exclusive: true }, () => srv.close(() => resolve(true)));
  });
}

function ephemeralPort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.once('error', reject);
    srv.listen({ host: '127.0.0.1', port: 0, exclusive: true }, () => {
      const { port } = srv.address() as net.AddressInfo;
      srv.close(() => resolve(port));
    });
  });
}

/** A free P whose UI port P+1000 is free too (the dev server's own convention). */
async function pickPorts(withUi: boolean): Promise<{ port: number; uiPort: number }> {
  for (let attempt = 0; attempt < 50; attempt++) {
    const port = await ephemeralPort();
    const uiPort = port + 1000;
    if (uiPort > 65535) continue;
    if (!withUi || (await isPortFree(uiPort))) return { port, uiPort };
  }
  throw new Error('could not find a free port P with P+1000 also free on 127.0.0.1');
}

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
  ]) {
    args.push('--dynamic-config-value', kv);
  }
  args.push(...o.extraArgs);
  return args;
}

class PortCollision extends Error {}

async function startDevServer(
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

/** Last resort, for machines with internet but no Go: the SDK downloads a CLI release itself. */
async function startWithSdkDownload(opts: StartTemporalServerOptions, log: Log): Promise<TemporalServerHandle> {
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

function errorMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
