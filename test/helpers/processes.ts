/**
 * Child processes the tests start: the product's worker run from source through a transpile hook (so a test never
 * runs a stale dist/ build; transpiled files are cached by content, so a restarted worker starts in about a second),
 * the built worker as production starts it, and any long-running child whose output a test waits on line by line.
 */
import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import { appendFileSync, mkdirSync, renameSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import readline from 'node:readline';
import { setTimeout as sleep } from 'node:timers/promises';

export const ROOT = resolve(__dirname, '..', '..');
export const DIST = join(ROOT, 'dist');

const TS_PATH = require.resolve('typescript');
// eslint-disable-next-line @typescript-eslint/no-require-imports
const TS_VERSION = (require('typescript') as { version: string }).version;

const HOOK = `
const fs = require('fs');
const path = require('path');
const crypto = require('crypto');
const CACHE = ${JSON.stringify(join(tmpdir(), 'ml-retrain-transpile', 'cache'))};
const SALT = ${JSON.stringify(`ts ${TS_VERSION} cjs es2022 v1`)};
let ts;
require.extensions['.ts'] = function (module, filename) {
  const src = fs.readFileSync(filename, 'utf8');
  const file = path.join(CACHE, crypto.createHash('sha1').update(SALT).update(src).digest('hex') + '.js');
  let out;
  try {
    out = fs.readFileSync(file, 'utf8');
  } catch {
    ts = ts || require(${JSON.stringify(TS_PATH)});
    out = ts.transpileModule(src, {
      fileName: filename,
      compilerOptions: { module: ts.ModuleKind.CommonJS, target: ts.ScriptTarget.ES2022, esModuleInterop: true },
    }).outputText;
    fs.mkdirSync(CACHE, { recursive: true });
    const tmp = file + '.' + process.pid;
    fs.writeFileSync(tmp, out);
    fs.renameSync(tmp, file);
  }
  module._compile(out, filename);
};
`;

let hookFile: string | undefined;
/** The `-r` hook that lets node run the product's .ts sources. */
export function transpileHook(): string {
  if (hookFile) return hookFile;
  const file = join(tmpdir(), 'ml-retrain-transpile', `hook-${createHash('sha1').update(HOOK).digest('hex')}.js`);
  mkdirSync(dirname(file), { recursive: true });
  const tmp = `${file}.${process.pid}`;
  writeFileSync(tmp, HOOK);
  renameSync(tmp, file);
  hookFile = file;
  return file;
}

export interface WorkerProcessOptions {
  configDir: string;
  taskQueue: string;
  /** emulator env (AZURE_AUTHORITY_HOST, NODE_EXTRA_CA_CERTS) + TEMPORAL_ADDRESS and friends. */
  env: Record<string, string>;
  /** Workflow bundle file; the product's dist bundle when omitted. */
  bundlePath?: string;
  /** Every line the worker prints is appended here (and kept in memory for the secrets scan). */
  logFile: string;
}

/**
 * One worker, as a real child process that can be killed with SIGKILL and started again. Output of every
 * incarnation is kept, for the secrets scan.
 */
export class WorkerProcess {
  private child: ChildProcess | undefined;
  private exited: Promise<void> = Promise.resolve();
  output = '';
  starts = 0;
  kills = 0;

  constructor(private readonly o: WorkerProcessOptions) {
    mkdirSync(dirname(o.logFile), { recursive: true });
    writeFileSync(o.logFile, '');
  }

  get pid(): number | undefined {
    return this.child?.pid;
  }

  get running(): boolean {
    return !!this.child && this.child.exitCode === null && this.child.signalCode === null;
  }

  private record(text: string): void {
    this.output += text;
    appendFileSync(this.o.logFile, text);
  }

  /** Spawn and wait for "worker ready" (the Worker polls from then on). */
  async start(timeoutMs = 90_000): Promise<void> {
    if (this.running) throw new Error('worker already running');
    this.starts++;
    const from = this.output.length;
    this.record(`--- start #${this.starts} at ${new Date().toISOString()} ---\n`);
    const child = spawn(
      process.execPath,
      ['-r', transpileHook(), join(__dirname, 'worker-process.ts'), this.o.configDir, this.o.taskQueue],
      {
        cwd: ROOT,
        env: {
          ...process.env,
          ...this.o.env,
          ML_TEST_WORKER_BUNDLE: this.o.bundlePath ?? '',
        },
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    );
    this.child = child;
    child.stdout.on('data', (d: Buffer) => this.record(d.toString()));
    child.stderr.on('data', (d: Buffer) => this.record(d.toString()));
    this.exited = new Promise((res) => child.once('exit', () => res()));
    const deadline = Date.now() + timeoutMs;
    while (!this.output.slice(from).includes('worker ready')) {
      if (!this.running) throw new Error(`worker exited during start:\n${this.output.slice(from).slice(-3000)}`);
      if (Date.now() > deadline) {
        await this.kill9();
        throw new Error(`worker not ready within ${timeoutMs} ms:\n${this.output.slice(from).slice(-3000)}`);
      }
      await sleep(25);
    }
  }

  /** kill -9: no shutdown, no goodbye to the server; activities in flight are lost until their timeouts. */
  async kill9(): Promise<void> {
    if (!this.running) return;
    this.kills++;
    this.child!.kill('SIGKILL');
    await this.exited;
    this.record(`--- killed (SIGKILL) at ${new Date().toISOString()} ---\n`);
  }

  /** Graceful stop (the worker handles SIGTERM), SIGKILL after a grace period. */
  async stop(graceMs = 10_000): Promise<void> {
    if (!this.running) return;
    this.child!.kill('SIGTERM');
    const inTime = await Promise.race([this.exited.then(() => true), sleep(graceMs, false, { ref: false })]);
    if (!inTime) {
      this.child!.kill('SIGKILL');
      await this.exited;
    }
  }
}

/** A long-running child (a worker, `retrain dev`) whose output is collected and awaited line by line. */
export interface Spawned {
  child: ChildProcess;
  output(): string;
  waitFor(pattern: RegExp, timeoutMs?: number): Promise<RegExpExecArray>;
  stop(signal?: NodeJS.Signals): Promise<number | null>;
}

export function spawnLogged(cmd: string, args: string[], env: NodeJS.ProcessEnv, cwd = ROOT): Spawned {
  const child = spawn(cmd, args, { cwd, env, stdio: ['ignore', 'pipe', 'pipe'] });
  let text = '';
  const waiters: { re: RegExp; resolve: (m: RegExpExecArray) => void }[] = [];
  const onLine = (line: string) => {
    text += `${line}\n`;
    for (const w of [...waiters]) {
      const m = w.re.exec(text);
      if (m) {
        waiters.splice(waiters.indexOf(w), 1);
        w.resolve(m);
      }
    }
  };
  readline.createInterface({ input: child.stdout }).on('line', onLine);
  readline.createInterface({ input: child.stderr }).on('line', onLine);
  const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
  return {
    child,
    output: () => text,
    waitFor(re, timeoutMs = 60_000) {
      const m = re.exec(text);
      if (m) return Promise.resolve(m);
      return new Promise((resolve, reject) => {
        const timer = setTimeout(
          () => reject(new Error(`timed out waiting for ${re} in:\n${text.slice(-3000)}`)),
          timeoutMs,
        );
        void exited.then((code) => {
          clearTimeout(timer);
          const again = re.exec(text);
          if (again) resolve(again);
          else reject(new Error(`process exited (${code}) before ${re}:\n${text.slice(-3000)}`));
        });
        waiters.push({
          re,
          resolve: (found) => {
            clearTimeout(timer);
            resolve(found);
          },
        });
      });
    },
    async stop(signal = 'SIGTERM') {
      if (child.exitCode === null && child.signalCode === null) child.kill(signal);
      return exited;
    },
  };
}

export async function waitUntil<T>(
  what: string,
  fn: () => Promise<T | undefined | false>,
  timeoutMs = 30_000,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const v = await fn();
      if (v) return v;
    } catch (e) {
      last = e;
    }
    if (Date.now() > deadline)
      throw new Error(
        `timed out waiting for ${what}${last ? `: ${last instanceof Error ? last.message : JSON.stringify(last)}` : ''}`,
      );
    await new Promise((r) => setTimeout(r, 200));
  }
}

/** The built worker (`node dist/worker/main.js`), as production and `retrain worker` start it, without a preload. */
export function builtWorker(args: string[], env: NodeJS.ProcessEnv): Spawned {
  return spawnLogged(process.execPath, [join(DIST, 'worker', 'main.js'), ...args], env);
}
