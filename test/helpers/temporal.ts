import { existsSync, readFileSync } from 'node:fs';
import { randomUUID } from 'node:crypto';
import { Client, Connection } from '@temporalio/client';
import { bundleWorkflowCode, NativeConnection, Runtime, DefaultLogger, Worker } from '@temporalio/worker';

/**
 * Tests run against the real Temporal server that `npm test` started (TEMPORAL_ADDRESS). Running jest directly
 * without it is a mistake we say plainly instead of hanging on localhost:7233.
 */
export function temporalAddress(): string {
  const address = process.env.TEMPORAL_ADDRESS;
  if (!address) throw new Error('TEMPORAL_ADDRESS is not set: run the suite with `npm test` (or `npm run test:only`)');
  return address;
}

let runtimeInstalled = false;
/** Quiet worker logs in tests (expected workflow failures log at WARN); failures surface through assertions. */
export function installQuietRuntime(): void {
  if (runtimeInstalled) return;
  runtimeInstalled = true;
  try {
    Runtime.install({ logger: new DefaultLogger('ERROR') });
  } catch {
    // Already installed by another helper in this process.
  }
}

let bundle: Promise<{ code: string }> | undefined;
/** The bundle `npm test` built (dist/workflow-bundle.js), or one built from source once per test file. */
export function workflowBundle(): Promise<{ code: string }> {
  const prebuilt = process.env.ML_TEST_WORKFLOW_BUNDLE;
  if (prebuilt && existsSync(prebuilt)) return Promise.resolve({ code: readFileSync(prebuilt, 'utf8') });
  bundle ??= bundleWorkflowCode({ workflowsPath: require.resolve('../../workflows') });
  return bundle;
}

export interface TemporalTestContext {
  client: Client;
  nativeConnection: NativeConnection;
  close(): Promise<void>;
}

export async function connectTemporal(): Promise<TemporalTestContext> {
  installQuietRuntime();
  const address = temporalAddress();
  const connection = await Connection.connect({ address });
  const nativeConnection = await NativeConnection.connect({ address });
  const client = new Client({ connection, namespace: process.env.TEMPORAL_NAMESPACE ?? 'default' });
  return {
    client,
    nativeConnection,
    async close() {
      await connection.close();
      await nativeConnection.close();
    },
  };
}

export function uniqueId(prefix: string): string {
  return `${prefix}-${randomUUID().slice(0, 8)}`;
}

/** A worker in the test process: the product's workflows on `taskQueue`, with the activities the test gives. */
export interface InProcessWorker {
  worker: Worker;
  /** Shut the worker down and wait until it has stopped. */
  stop(): Promise<void>;
}

export async function startInProcessWorker(
  t: TemporalTestContext,
  taskQueue: string,
  activities: object,
): Promise<InProcessWorker> {
  const worker = await Worker.create({
    connection: t.nativeConnection,
    taskQueue,
    workflowBundle: await workflowBundle(),
    activities,
  });
  const running = worker.run();
  return {
    worker,
    stop: async () => {
      worker.shutdown();
      await running;
    },
  };
}
