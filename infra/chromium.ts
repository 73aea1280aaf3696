import { spawn } from 'node:child_process';
import { accessSync, constants as fsConstants } from 'node:fs';
import path from 'node:path';

/**
 * The Web UI tests drive Debian's headless Chromium (through playwright-core, which downloads no browser here).
 * `npm test` provisions it as it provisions Temporal: found on PATH (or ML_CHROMIUM_PATH), else installed with apt
 * when we are root and apt-get exists, else the run stops at once with one line saying what to install. The tests
 * are never skipped for want of a browser.
 */

export const CHROMIUM_PATH_ENV = 'ML_CHROMIUM_PATH';
/** Debian names the package and the binary `chromium`; Ubuntu's transitional package installs `chromium-browser`. */
const BINARIES = ['chromium', 'chromium-browser'];
const INSTALL_LINE = 'apt-get install -y chromium';

export type ChromiumPlan =
  { action: 'use'; path: string } | { action: 'install'; aptGet: string } | { action: 'fail'; message: string };

export interface ChromiumWorld {
  /** PATH entries, in order. */
  pathDirs: string[];
  /** Effective uid (undefined where there is none, e.g. Windows). */
  uid: number | undefined;
  /** ML_CHROMIUM_PATH, if set. */
  override?: string;
  isExecutable: (file: string) => boolean;
}

function which(world: ChromiumWorld, names: string[]): string | undefined {
  for (const dir of world.pathDirs) {
    if (!dir) continue;
    for (const n of names) {
      const p = path.join(dir, n);
      if (world.isExecutable(p)) return p;
    }
  }
  return undefined;
}

/** What to do about Chromium in this world: pure, so the decision is tested with a fake PATH, uid and apt. */
export function planChromium(world: ChromiumWorld): ChromiumPlan {
  if (world.override) {
    return world.isExecutable(world.override)
      ? { action: 'use', path: world.override }
      : { action: 'fail', message: `${CHROMIUM_PATH_ENV}=${world.override} is not an executable file` };
  }
  const found = which(world, BINARIES);
  if (found) return { action: 'use', path: found };
  const aptGet = which(world, ['apt-get']);
  if (world.uid === 0 && aptGet) return { action: 'install', aptGet };
  const how =
    world.uid === 0
      ? `install Chromium with your package manager`
      : aptGet
        ? `run: sudo ${INSTALL_LINE}`
        : `install Chromium with your package manager`;
  return {
    action: 'fail',
    message: `the Web UI tests need Chromium and none is on PATH: ${how} (or set ${CHROMIUM_PATH_ENV} to a Chromium binary)`,
  };
}

export function realWorld(env: NodeJS.ProcessEnv = process.env): ChromiumWorld {
  return {
    pathDirs: (env.PATH ?? '').split(path.delimiter),
    uid: typeof process.geteuid === 'function' ? process.geteuid() : undefined,
    override: env[CHROMIUM_PATH_ENV] || undefined,
    isExecutable: (file) => {
      try {
        accessSync(file, fsConstants.X_OK);
        return true;
      } catch {
        return false;
      }
    },
  };
}

/** Run one apt-get step, printing a progress line at least every 10 s so a slow mirror never looks hung. */
function aptStep(aptGet: string, args: string[], log: (l: string) => void): Promise<void> {
  return new Promise((resolve, reject) => {
    const started = Date.now();
    const child = spawn(aptGet, args, {
      env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let tail = '';
    const keep = (c: Buffer) => (tail = (tail + c.toString('utf8')).slice(-2000));
    child.stdout.on('data', keep);
    child.stderr.on('data', keep);
    const timer = setInterval(
      () => log(`  … apt-get ${args[0]} still running (${Math.round((Date.now() - started) / 1000)} s)`),
      10_000,
    );
    child.once('error', (e) => {
      clearInterval(timer);
      reject(e);
    });
    child.once('exit', (code) => {
      clearInterval(timer);
      if (code === 0) resolve();
      else
        reject(new Error(`apt-get ${args.join(' ')} exited ${code}:\n${tail.trim().split('\n').slice(-5).join('\n')}`));
    });
  });
}

/**
 * Chromium's path, installing Debian's package first when that is possible; throws one line saying what to install
 * when it is not. `world` is injectable for tests.
 */
export async function ensureChromium(
  log: (line: string) => void,
  world: () => ChromiumWorld = () => realWorld(),
): Promise<string> {
  const plan = planChromium(world());
  if (plan.action === 'use') return plan.path;
  if (plan.action === 'fail') throw new Error(plan.message);
  log(`installing Chromium for the Web UI tests: ${INSTALL_LINE} (a minute or two)`);
  // A fresh machine may have no package lists yet; `install` alone would then find nothing.
  await aptStep(plan.aptGet, ['update', '-qq'], log);
  await aptStep(plan.aptGet, ['install', '-y', '-qq', 'chromium'], log);
  const after = planChromium(world());
  if (after.action !== 'use') throw new Error(`${INSTALL_LINE} finished, but no chromium is on PATH`);
  log(`Chromium installed: ${after.path}`);
  return after.path;
}

const WEB_UI_TEST = 'test/operate/web-ui.test.ts';

/** Does this jest command line run the Web UI test? (No path patterns: everything runs.) */
export function runsWebUiTest(args: string[]): boolean {
  const patterns: string[] = [];
  for (let i = 0; i < args.length; i++) {
    const a = args[i];
    if (a === '--testMatch' || a === '--testTimeout' || a === '-t' || a === '--testNamePattern') i++;
    else if (!a.startsWith('-')) patterns.push(a);
  }
  if (args.includes('--testMatch')) return false; // the soak selects its own files
  return patterns.length === 0 || patterns.some((p) => new RegExp(p).test(WEB_UI_TEST));
}
