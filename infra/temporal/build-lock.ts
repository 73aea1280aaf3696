import fsp from 'node:fs/promises';
import os from 'node:os';
import { setTimeout as sleep } from 'node:timers/promises';
import { PROGRESS_INTERVAL_MS } from './output';
import type { Log } from './output';

/** A build lock older than this is abandoned even if its PID looks alive (PID reuse, other host). */
const LOCK_MAX_AGE_MS = 45 * 60_000;

interface LockInfo {
  pid: number;
  host: string;
}

export async function acquireLock(lockPath: string, log: Log): Promise<() => Promise<void>> {
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
