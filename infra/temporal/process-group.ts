import { spawn } from 'node:child_process';

/** PIDs of servers this process started and has not stopped: killed if this process exits without stopping them. */
export const liveServers = new Set<number>();
let exitHookInstalled = false;

export function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  // 'exit' handlers must be synchronous; SIGTERM lets the server close its SQLite file cleanly, and the watchdog
  // escalates to SIGKILL if it lingers.
  process.on('exit', () => {
    for (const pid of liveServers) signalGroup(pid, 'SIGTERM');
  });
}

export function signalGroup(pid: number, signal: NodeJS.Signals): void {
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
export function spawnWatchdog(serverPid: number): number | undefined {
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
