/* eslint-disable @typescript-eslint/no-explicit-any, @typescript-eslint/no-unsafe-return -- HTTP bodies are asserted with expect(), not typed. */
import { readFileSync } from 'node:fs';
import { request as httpsRequest } from 'node:https';
import { BlobServiceClient } from '@azure/storage-blob';
import type { AzuriteProcess } from '../../emulator/azurite';
import { startAzurite } from '../../emulator/azurite';
import { randomBytes } from 'node:crypto';
import type { EmulatorHandle, EmulatorOptions } from '../../emulator';
import { startEmulator } from '../../emulator';

/** Env var the test runner sets when it runs one shared Azurite for the whole suite. */
export const SHARED_AZURITE_ENV = 'ML_TEST_AZURITE_CONNECTION_STRING';

/**
 * One Azurite per test file unless the runner provides a shared one. Call at the top level of a describe/file:
 * it registers beforeAll/afterAll and returns a getter for the connection string.
 */
export function useAzurite(): () => string {
  let proc: AzuriteProcess | null = null;
  let connectionString = process.env[SHARED_AZURITE_ENV] ?? '';
  beforeAll(async () => {
    if (connectionString) return;
    proc = await startAzurite({
      accountName: `t${randomBytes(6).toString('hex')}`,
      accountKey: randomBytes(64).toString('base64'),
    });
    connectionString = proc.connectionString;
  });
  afterAll(async () => {
    await proc?.close();
  });
  return () => connectionString;
}

/** Emulators started in a test are closed after it, even when it fails. */
const open: EmulatorHandle[] = [];
afterEach(async () => {
  await Promise.all(open.splice(0).map((h) => h.close()));
});

export async function emulator(azurite: () => string, options: EmulatorOptions = {}): Promise<EmulatorHandle> {
  const h = await startEmulator({
    azurite: { connectionString: azurite() },
    ...options,
    jobs: { runningMs: 200, ...options.jobs },
    arm: { provisioningMs: 300, ...options.arm },
  });
  open.push(h);
  return h;
}

export interface Reply {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  text: string;
  json: any;
}

/** Plain HTTPS call trusting the emulator's CA explicitly, like a user's own HTTP client would with the CA file. */
export function call(
  h: { caFile: string },
  method: string,
  url: string,
  opts: { bearer?: string; json?: unknown; body?: string; headers?: Record<string, string> } = {},
): Promise<Reply> {
  const ca = readFileSync(h.caFile, 'utf8');
  const headers: Record<string, string> = { ...opts.headers };
  if (opts.bearer !== undefined) headers.Authorization = `Bearer ${opts.bearer}`;
  let payload: string | undefined = opts.body;
  if (opts.json !== undefined) {
    payload = JSON.stringify(opts.json);
    headers['Content-Type'] = 'application/json';
  }
  if (payload !== undefined) headers['Content-Length'] = String(Buffer.byteLength(payload));
  return new Promise((resolve, reject) => {
    const req = httpsRequest(url, { method, headers, ca, agent: false }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString('utf8');
        let json: unknown;
        try {
          json = text ? JSON.parse(text) : undefined;
        } catch {
          json = undefined;
        }
        resolve({ status: res.statusCode ?? 0, headers: res.headers, text, json });
      });
    });
    req.on('error', reject);
    if (payload !== undefined) req.write(payload);
    req.end();
  });
}

export function uniqueName(prefix: string): string {
  return `${prefix}${randomBytes(5).toString('hex')}`;
}

export async function putBlob(h: EmulatorHandle, container: string, blobName: string, content: string): Promise<void> {
  const c = BlobServiceClient.fromConnectionString(h.storage.connectionString).getContainerClient(container);
  await c.createIfNotExists();
  await c.getBlockBlobClient(blobName).upload(content, Buffer.byteLength(content));
}

export async function getBlob(h: EmulatorHandle, container: string, blobName: string): Promise<string> {
  const c = BlobServiceClient.fromConnectionString(h.storage.connectionString).getContainerClient(container);
  return (await c.getBlobClient(blobName).downloadToBuffer()).toString('utf8');
}

/** A training request in the ConnectionString addressing mode, with both inputs uploaded. */
export async function trainingRequest(
  h: EmulatorHandle,
  container = uniqueName('train'),
): Promise<{ body: any; container: string }> {
  await putBlob(h, container, 'input/train.csv', 'age,income,label\n42,51000,1\n');
  await putBlob(h, container, 'input/extra.csv', 'a,b\n1,2\n');
  const cs = h.storage.connectionString;
  return {
    container,
    body: {
      Inputs: {
        input1: { ConnectionString: cs, RelativeLocation: `/${container}/input/train.csv` },
        input2: { ConnectionString: cs, RelativeLocation: `${container}/input/extra.csv` },
      },
      Outputs: {
        output1: { ConnectionString: cs, RelativeLocation: `/${container}/output/model.ilearner` },
        output2: { ConnectionString: cs, RelativeLocation: `/${container}/output/eval.csv` },
      },
      GlobalParameters: {},
    },
  };
}

export async function waitFor<T>(
  fn: () => Promise<T | undefined | null | false>,
  timeoutMs = 10_000,
  everyMs = 50,
): Promise<T> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > end) throw new Error('waitFor timed out');
    await new Promise((r) => setTimeout(r, everyMs));
  }
}

/** Submit + start a training job and wait until it is terminal; returns job id and the final status body. */
export async function runTrainingJob(
  h: EmulatorHandle,
  base = h.urls.trainingBes,
): Promise<{ jobId: string; status: any; container: string }> {
  const key = h.keys.training.primary;
  const { body, container } = await trainingRequest(h);
  const submit = await call(h, 'POST', `${base}/jobs?api-version=2.0`, { bearer: key, json: body });
  expect(submit.status).toBe(200);
  const jobId = submit.json as string;
  expect((await call(h, 'POST', `${base}/jobs/${jobId}/start?api-version=2.0`, { bearer: key })).status).toBe(204);
  const status = await waitFor(async () => {
    const r = await call(h, 'GET', `${base}/jobs/${jobId}?api-version=2.0`, { bearer: key });
    return ['Finished', 'Failed', 'Cancelled'].includes(r.json.StatusCode) ? r.json : null;
  });
  return { jobId, status, container };
}

/** SDK clients read the CA from NODE_EXTRA_CA_CERTS at process start; fail with a clear message when it is missing. */
export function requireExtraCa(h: EmulatorHandle): void {
  const extra = process.env.NODE_EXTRA_CA_CERTS;
  if (!extra || readFileSync(extra, 'utf8').trim() !== readFileSync(h.caFile, 'utf8').trim()) {
    throw new Error(
      'Azure SDK tests need the emulator CA in NODE_EXTRA_CA_CERTS before jest starts: run them through `npm test`, or set NODE_EXTRA_CA_CERTS=<dir>/ca.pem and ML_EMULATOR_CA_DIR=<dir>.',
    );
  }
}
