import { spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import readline from 'node:readline';
import type { Row } from './report';
import { seconds } from './stats';

/** `npm run demo` from the repository root, until its first run is started. */
const DEMO = ['npm', 'run', 'demo', '--', '--job-seconds', '1'];
const START_LINE = /started workflow /;

/**
 * Time from `npm run demo` to the demo's first run started. The demo runs in its own process group, which is
 * stopped once the run has started (its dev server's watchdog stops the server), so only the start-up is timed.
 */
async function timeDemo(env: NodeJS.ProcessEnv, timeoutMs: number): Promise<number> {
  const root = join(__dirname, '..', '..', '..');
  const t0 = Date.now();
  const child = spawn(DEMO[0], DEMO.slice(1), { cwd: root, env, detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
  const tail: string[] = [];
  const keep = (line: string) => {
    tail.push(line);
    if (tail.length > 30) tail.shift();
  };
  readline.createInterface({ input: child.stderr }).on('line', keep);
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  try {
    return await new Promise<number>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no run started within ${seconds(timeoutMs, 0)}`)), timeoutMs);
      readline.createInterface({ input: child.stdout }).on('line', (line) => {
        keep(line);
        if (START_LINE.test(line)) {
          clearTimeout(timer);
          resolve(Date.now() - t0);
        }
      });
      child.once('exit', (code) => {
        clearTimeout(timer);
        reject(new Error(`npm run demo exited (${code}) before a run started:\n${tail.join('\n')}`));
      });
    });
  } finally {
    if (child.exitCode === null && child.pid !== undefined) {
      try {
        process.kill(-child.pid, 'SIGTERM');
      } catch {
        // already gone
      }
      await exited;
    }
  }
}

/**
 * Warm: the cached `temporal` binary is used. Cold: the product's cache dir (ML_RETRAIN_CACHE_DIR) and Go's build
 * cache (GOCACHE) are empty, so the demo builds the CLI with `go install`; Go's module cache is kept (the sources
 * are downloaded once per machine, not per build).
 */
export async function startupScenario(o: { cold: boolean }, log: (line: string) => void): Promise<Row[]> {
  const base = { ...process.env };
  // The bench's own settings must not leak into the demo: it starts its own dev server and emulator.
  for (const k of ['TEMPORAL_ADDRESS', 'TEMPORAL_NAMESPACE', 'NODE_EXTRA_CA_CERTS']) delete base[k];
  const rows: Row[] = [];
  log('start-up: warm (cached temporal binary)');
  const warm = await timeDemo(base, 5 * 60_000);
  rows.push({ scenario: '5 start-up', figure: '`npm run demo` to first run started, warm', value: seconds(warm, 1) });
  if (!o.cold) {
    rows.push({
      scenario: '5 start-up',
      figure: '`npm run demo` to first run started, cold (no cached binary)',
      value: 'skipped under --quick (builds the temporal CLI, about 5 min)',
    });
    return rows;
  }
  const dir = await mkdtemp(join(tmpdir(), 'bench-cold-'));
  delete base.TEMPORAL_CLI_PATH;
  try {
    log('start-up: cold (empty ML_RETRAIN_CACHE_DIR and GOCACHE: builds the temporal CLI)');
    const cold = await timeDemo(
      { ...base, ML_RETRAIN_CACHE_DIR: join(dir, 'cache'), GOCACHE: join(dir, 'go-build') },
      40 * 60_000,
    );
    rows.push({
      scenario: '5 start-up',
      figure: '`npm run demo` to first run started, cold (empty product cache and GOCACHE)',
      value: seconds(cold, 0),
    });
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
  return rows;
}
