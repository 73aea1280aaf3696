import { execFile, spawn } from 'node:child_process';
import { constants as fsConstants } from 'node:fs';
import fsp from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import readline from 'node:readline';
import { acquireLock } from './build-lock';
import { LineTail, noLog, OUTPUT_TAIL_LINES, PROGRESS_INTERVAL_MS } from './output';
import type { Log } from './output';
import type { EnsureTemporalCliOptions } from './types';

// Locates the `temporal` CLI, or builds the pinned version with `go install` into the product's cache once.

/** The newest CLI tag that `go install` can build: later tags carry a `replace` directive (docs/spec/temporal-notes.md §1). */
export const TEMPORAL_CLI_VERSION = '1.5.1';
const GO_PACKAGE = 'github.com/temporalio/cli/cmd/temporal';
const GO_VERSION_LDFLAG = `-X github.com/temporalio/cli/temporalcli.Version=${TEMPORAL_CLI_VERSION}`;
const BINARY_NAME = process.platform === 'win32' ? 'temporal.exe' : 'temporal';
const GO_BUILD_TIMEOUT_MS = 30 * 60_000;

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

export async function resolveTemporalCli(log: Log): Promise<CliResolution> {
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
