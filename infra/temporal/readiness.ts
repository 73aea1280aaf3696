import { setTimeout as sleep } from 'node:timers/promises';
import { Connection } from '@temporalio/client';
import type { ConnectionOptions } from '@temporalio/client';
import { errorMessage, PROGRESS_INTERVAL_MS } from './output';
import type { Log } from './output';
import { ensureSearchAttributes, SearchAttributeTypeConflict } from './register-search-attributes';

export const DEFAULT_READY_TIMEOUT_MS = 60_000;

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
export async function waitUntilReady(check: ReadyCheck): Promise<void> {
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
