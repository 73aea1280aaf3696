/**
 * Beyond one machine: two worker processes (`node dist/worker/main.js`, as production starts them) share one task
 * queue and both run real runs; each starts from the prebuilt workflow bundle; one is configured by environment
 * variables and the other by an envconfig profile file, as the `retrain` CLI can be; both serve Prometheus metrics
 * with the SDK's and the product's counters.
 */
import { execFile } from 'node:child_process';
import { mkdtemp, readdir, stat, writeFile } from 'node:fs/promises';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { loadClientConnectConfig } from '@temporalio/envconfig';
import type { WorkflowHandle } from '@temporalio/client';
import { BlobServiceClient } from '@azure/storage-blob';
import { startRetrain } from '../../client/run';
import type { RetrainAndUpdateResult } from '../../common/types';
import { METRICS } from '../../worker/metrics';
import { seededServices, serving, startedJobs, updateLog } from '../helpers/world';
import { uniqueId } from '../helpers/temporal';
import { cli } from '../helpers/cli';
import type { Spawned } from '../helpers/processes';
import { builtWorker, DIST } from '../helpers/processes';
import type { Stack } from '../helpers/stack';
import { startStack } from '../helpers/stack';
import { readmeBlock } from './readme';

const BUNDLE = join(DIST, 'workflow-bundle.js');

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address() as net.AddressInfo;
      srv.close(() => resolve(port));
    });
  });
}

async function newestMtime(dir: string): Promise<number> {
  let newest = 0;
  for (const e of await readdir(dir, { withFileTypes: true, recursive: true })) {
    if (e.isFile() && e.name.endsWith('.js'))
      newest = Math.max(newest, (await stat(join(e.parentPath, e.name))).mtimeMs);
  }
  return newest;
}

/** `npm run build` writes the bundle; after a bare `tsc` it may be missing or older than the workflows: rebuild it. */
async function ensureFreshBundle(): Promise<void> {
  const sources = Math.max(await newestMtime(join(DIST, 'workflows')), await newestMtime(join(DIST, 'common')));
  const bundled = await stat(BUNDLE).then(
    (s) => s.mtimeMs,
    () => 0,
  );
  if (bundled < sources) await promisify(execFile)(process.execPath, [join(DIST, 'scripts', 'bundle-workflows.js')]);
}

/** Prometheus text → the sum of a metric's samples whose labels include all of `labels`. */
function sumOf(text: string, name: string, labels: Record<string, string> = {}): number {
  let total = 0;
  for (const line of text.split('\n')) {
    const m = /^([a-zA-Z_:][\w:]*)(\{([^}]*)\})? ([\d.e+-]+)$/.exec(line);
    if (!m || m[1] !== name) continue;
    const have = Object.fromEntries([...(m[3] ?? '').matchAll(/(\w+)="([^"]*)"/g)].map((x) => [x[1], x[2]]));
    if (Object.entries(labels).every(([k, v]) => have[k] === v)) total += Number(m[4]);
  }
  return total;
}

describe('several worker processes on one task queue', () => {
  let env: Stack;
  const taskQueue = uniqueId('scale');
  const workers: { proc: Spawned; metrics: string; pid: number }[] = [];
  let profileEnv: NodeJS.ProcessEnv;
  const handles: WorkflowHandle[] = [];
  /** Updates the scoring services received from the concurrent runs (the emulator's count). */
  let appliedInRuns = 0;

  beforeAll(async () => {
    await ensureFreshBundle();
    env = await startStack({ worker: false, jobMs: 300 });
    const dir = await mkdtemp(join(tmpdir(), 'scale-'));
    const profileFile = join(dir, 'temporal.toml');
    await writeFile(
      profileFile,
      `[profile.ops]\naddress = "${process.env.TEMPORAL_ADDRESS}"\nnamespace = "${process.env.TEMPORAL_NAMESPACE ?? 'default'}"\n`,
    );
    // Connection from the profile file alone: no TEMPORAL_ADDRESS / TEMPORAL_NAMESPACE in this environment.
    const { TEMPORAL_ADDRESS: _a, TEMPORAL_NAMESPACE: _n, ...rest } = process.env;
    void _a;
    void _n;
    profileEnv = { ...rest, TEMPORAL_CONFIG_FILE: profileFile, TEMPORAL_PROFILE: 'ops' };

    const common = { ...env.emu.env, ML_ARM_POLL_INTERVAL_MS: '100', TEMPORAL_TASK_QUEUE: taskQueue };
    for (const base of [process.env, profileEnv]) {
      const port = await freePort();
      const proc = builtWorker(['--config', env.configDir], {
        ...base,
        ...common,
        ML_METRICS_ADDRESS: `127.0.0.1:${port}`,
      });
      workers.push({ proc, metrics: `http://127.0.0.1:${port}/metrics`, pid: proc.child.pid! });
    }
    await Promise.all(workers.map((w) => w.proc.waitFor(/worker ready: .*/)));
  });

  afterAll(async () => {
    await Promise.all(workers.map((w) => w.proc.stop()));
    await env?.close();
  });

  test('when the workers start, then each uses the prebuilt bundle and serves metrics', async () => {
    for (const w of workers) {
      const [ready] = await w.proc.waitFor(/worker ready: .*/);
      expect(ready).toContain(`task queue '${taskQueue}'`);
      expect(ready).toContain(`workflows: prebuilt bundle ${BUNDLE}`);
      expect(ready).toContain(`metrics ${w.metrics}`);
    }
  });

  test('when several runs update the same services at once on two worker processes, then the newest model is live and no older one was applied after it', async () => {
    const services = seededServices(env.emu);
    const logsBefore = {
      arm: updateLog(env.emu, services.arm).length,
      classic: updateLog(env.emu, services.classic).length,
    };
    const jobsBefore = new Set(startedJobs(env.emu));
    // Each run writes its model to a path of its own: the runs race only for the scoring services.
    const paths: string[] = [];
    const runs: WorkflowHandle[] = [];
    for (let i = 0; i < 6; i++) {
      const input = env.input({ pipeline: 'ScaleOut' });
      const path = `${env.container}/output/${uniqueId('scale')}/model.ilearner`;
      input.training.webServiceOutputs!.output1.filePath = path;
      input.updates[0].trainedModelFilePath = path;
      paths.push(path);
      runs.push(await startRetrain(env.t.client, input, { taskQueue, workflowId: uniqueId('scale-run') }));
    }
    handles.push(...runs);
    const results = (await Promise.all(runs.map((h) => h.result()))) as RetrainAndUpdateResult[];
    appliedInRuns =
      updateLog(env.emu, services.arm).length -
      logsBefore.arm +
      updateLog(env.emu, services.classic).length -
      logsBefore.classic;
    const jobs = env.emu.inspect().jobs.filter((j) => !jobsBefore.has(j.jobId) && j.metrics !== null);
    expect(results.map((r) => r.jobId).sort()).toEqual(jobs.map((j) => j.jobId).sort());
    // Which model is newer, from storage itself: each model blob's Last-Modified (1 s resolution), which is what
    // orders models on a service. (A job's end time is not it: the blob is written just after, maybe a second later.)
    const blobs = BlobServiceClient.fromConnectionString(env.emu.storage.connectionString);
    const trainedSecond = new Map<string, number>();
    for (const [i, r] of results.entries()) {
      const [container, ...rest] = paths[i].split('/');
      const props = await blobs.getContainerClient(container).getBlobClient(rest.join('/')).getProperties();
      trainedSecond.set(r.jobId, Math.floor(props.lastModified!.getTime() / 1000));
    }
    const newestSecond = Math.max(...trainedSecond.values());
    for (const s of [services.arm, services.classic]) {
      const { live, scored } = await serving(env.emu, s);
      expect(scored).toBe(live);
      // The newest model is live (models written within the same second are equally new).
      expect(trainedSecond.get(live!)).toBe(newestSecond);
      // No model was applied after a newer one.
      const applied = updateLog(env.emu, s)
        .slice(s === services.arm ? logsBefore.arm : logsBefore.classic)
        .map((j) => trainedSecond.get(j!)!);
      expect(applied).toEqual([...applied].sort((a, b) => a - b));
    }
    // Every run succeeded; an update that lost the race says Superseded, never a silent success.
    for (const r of results) {
      for (const u of r.updates) expect(['Deployed', 'Superseded']).toContain(u.outcome);
    }
    const activityWorkers = new Set<string>();
    for (const h of handles) {
      for (const e of (await h.fetchHistory()).events ?? []) {
        const identity = e.activityTaskStartedEventAttributes?.identity;
        if (identity) activityWorkers.add(identity.split('@')[0]);
      }
    }
    expect([...activityWorkers].sort()).toEqual(workers.map((w) => String(w.pid)).sort());
  });

  test('when runs succeed and fail, then the metrics endpoints count jobs, updates and failures by type', async () => {
    env.emu.setJobFaults({ failNext: { count: 1, details: 'Error 0001: Column names not found' } });
    const failing = await startRetrain(env.t.client, env.input({ pipeline: 'ScaleOut' }), {
      taskQueue,
      workflowId: uniqueId('scale-fail'),
    });
    await failing.result().catch(() => undefined);
    const texts = await Promise.all(workers.map(async (w) => (await fetch(w.metrics)).text()));
    const total = (name: string, labels: Record<string, string> = {}) =>
      texts.reduce((sum, t) => sum + sumOf(t, name, { taskQueue, ...labels }), 0);

    expect(total(METRICS.jobsSubmitted, { adopted: 'false' })).toBe(7);
    // Counted by the workers, checked against what the services received.
    expect(
      total(METRICS.modelUpdates, { kind: 'arm', already_applied: 'false' }) +
        total(METRICS.modelUpdates, { kind: 'classic', already_applied: 'false' }),
    ).toBe(appliedInRuns);
    expect(total(METRICS.deployments, { outcome: 'Deployed' })).toBe(appliedInRuns);
    expect(total(METRICS.failures, { failure_type: 'BesJobFailed', retryable: 'false' })).toBe(1);
    // The SDK's own metrics come out of the same endpoints.
    expect(texts.every((t) => /^temporal_worker_task_slots_available\{/m.test(t))).toBe(true);
    // (SDK metrics label the queue `task_queue`, the product's `taskQueue`.)
    expect(
      texts.reduce((n, t) => n + sumOf(t, 'temporal_activity_execution_latency_count', { task_queue: taskQueue }), 0),
    ).toBeGreaterThan(0);
  });

  test('when the retrain CLI has only a profile file, then it connects through it (envconfig)', async () => {
    const r = await cli(['list', '--pipeline', 'ScaleOut', '--json'], {}, { baseEnv: profileEnv });
    expect(r.code).toBe(0);
    expect((JSON.parse(r.out) as unknown[]).length).toBeGreaterThanOrEqual(6);
  });

  test("when the docs' Temporal Cloud profile is loaded, then it yields the address, namespace, API key and TLS", () => {
    const data = Buffer.from(readmeBlock('envconfig-profile'));
    const cloud = loadClientConnectConfig({ profile: 'cloud', configSource: { data }, disableEnv: true });
    expect(cloud.namespace).toBe('my-namespace.a1b2c');
    expect(cloud.connectionOptions).toMatchObject({ address: 'my-namespace.a1b2c.tmprl.cloud:7233', apiKey: '…' });
    // An API key turns TLS on by default, as Temporal Cloud requires.
    expect(cloud.connectionOptions.tls).toBeTruthy();
    const onprem = loadClientConnectConfig({ profile: 'onprem', configSource: { data }, disableEnv: true });
    expect(onprem).toMatchObject({ namespace: 'ml', connectionOptions: { address: 'temporal.internal:7233' } });
  });

  test('when a worker gets SIGTERM, then it finishes and exits 0', async () => {
    const codes = await Promise.all(workers.map((w) => w.proc.stop('SIGTERM')));
    expect(codes).toEqual([0, 0]);
    for (const w of workers) expect(w.proc.output()).toContain('worker stopped');
  });
});
