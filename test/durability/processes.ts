/**
 * Child processes for the durability tests: the product's worker and CLI, run from source through a transpile hook
 * (like test/emulator's), so a test never runs a stale dist/ build. Transpiled files are cached by content, so a
 * restarted worker starts in about a second.
 */
import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import { appendFileSync, mkdirSync, renameSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';

export const ROOT = resolve(__dirname, '..', '..');

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

/** The `retrain` CLI from source, as a user runs it: output and exit code. */
export function runCli(args: string[], env: Record<string, string>): Promise<{ code: number; out: string }> {
  return new Promise((res) => {
    const child = spawn(process.execPath, ['-r', transpileHook(), join(ROOT, 'client', 'cli.ts'), ...args], {
      cwd: ROOT,
      env: { ...process.env, ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (out += d.toString()));
    child.on('exit', (code) => res({ code: code ?? 1, out }));
  });
}
