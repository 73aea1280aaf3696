/**
 * The `retrain` CLI as an operator runs it: a child process, its exit code and what it printed. The built CLI
 * (dist/) by default; `fromSource` runs client/cli.ts through the transpile hook, for tests that must never see a
 * stale build.
 */
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { DIST, ROOT, transpileHook } from './processes';

export const CLI = join(DIST, 'client', 'cli.js');

export interface CliResult {
  code: number;
  out: string;
  err: string;
  /** stdout and stderr interleaved as they arrived: what a terminal shows. */
  all: string;
}

export interface CliOptions {
  cwd?: string;
  /** The environment `env` is laid over; the test process's own by default. */
  baseEnv?: NodeJS.ProcessEnv;
  fromSource?: boolean;
}

export function cli(args: string[], env: NodeJS.ProcessEnv = {}, o: CliOptions = {}): Promise<CliResult> {
  const entry = o.fromSource ? ['-r', transpileHook(), join(ROOT, 'client', 'cli.ts')] : [CLI];
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [...entry, ...args], {
      cwd: o.cwd ?? ROOT,
      env: { ...(o.baseEnv ?? process.env), ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    let err = '';
    let all = '';
    child.stdout.on('data', (d: Buffer) => {
      out += d.toString();
      all += d.toString();
    });
    child.stderr.on('data', (d: Buffer) => {
      err += d.toString();
      all += d.toString();
    });
    child.on('exit', (code) => resolve({ code: code ?? 1, out, err, all }));
  });
}
