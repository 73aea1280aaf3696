/**
 * Bad input that only the services can judge: a wrong key, a wrong service-principal secret or tenant, a
 * trained-model resource the scoring service does not have, an output path BES refuses, a model blob that is not
 * there, an endpoint that does not exist. `test/durability/bad-input-offline.test.ts` covers everything knowable
 * before running. Here each run must fail at once (the first attempt's failure is final: no retry can fix it), with a
 * message naming the linked service and the field to fix, without a crash of the worker, without training when the
 * fault is in training, and without changing any scoring service. A fault in an update shows in the scoring
 * service's workflow, which applies the update for the run: its first attempt there is final too.
 */
import { randomBytes } from 'node:crypto';
import { readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Client, WorkflowHandle } from '@temporalio/client';
import { scoringServiceWorkflowId } from '../../common/models';
import { FailureType } from '../../common/failures';
import type { RetrainAndUpdateInput } from '../../common/types';
import { serviceKeyOf } from '../../config/service-key';
import type { TemporalTestContext } from '../helpers/temporal';
import { connectTemporal } from '../helpers/temporal';
import { workerEnv } from './campaigns';
import type { DurabilityEnv, RunRecord } from './harness';
import {
  OUTPUT_DIR,
  productBundle,
  scanForSecrets,
  settle,
  startDurabilityEnv,
  startRun,
  writeSummary,
} from './harness';
import { WorkerProcess } from '../helpers/processes';

interface Case {
  /** Linked services to add: copies of an existing one with some typeProperties replaced. */
  linkedServices?: { name: string; from: (env: DurabilityEnv) => string; set: Record<string, unknown> }[];
  input: (i: RetrainAndUpdateInput) => void;
  /** The failure type and what its message must name. */
  type: string;
  names: RegExp[];
  /** Whether the BES job trains before the fault shows (the fault is in the update). */
  trains: boolean;
  /** The fault shows when the scoring service's workflow applies the update (its activity fails, not the run's). */
  inService?: boolean;
}

const wrongKey = randomBytes(24).toString('base64');
const wrongSecret = randomBytes(24).toString('base64');

/** The run updates only this service, with `change` applied to its step. */
const onlyUpdate =
  (which: 'amlUpdateArm' | 'amlUpdateClassic', change: Record<string, unknown> = {}) =>
  (i: RetrainAndUpdateInput) => {
    i.updates = i.updates.filter((u) => u.activityName === which).map((u) => ({ ...u, ...change }));
  };

/** Fields written as SecureString; a function value rewrites the copied field instead. */
const SECRET_FIELDS = new Set(['apiKey', 'servicePrincipalKey']);

const CASES: Record<string, Case> = {
  'training apiKey wrong': {
    linkedServices: [{ name: 'trainingWrongKey', from: (e) => e.lanes[0].training, set: { apiKey: wrongKey } }],
    input: (i) => {
      i.training.linkedServiceName = 'trainingWrongKey';
    },
    type: FailureType.Unauthorized,
    names: [/linked service 'trainingWrongKey'/, /'apiKey'/],
    trains: false,
  },
  'training mlEndpoint names no service': {
    linkedServices: [
      {
        name: 'trainingNoService',
        from: (e) => e.lanes[0].training,
        set: { mlEndpoint: (url: string) => url.replace(/\/services\/[^/]+\//, '/services/0000000000000000/') },
      },
    ],
    input: (i) => {
      i.training.linkedServiceName = 'trainingNoService';
    },
    type: FailureType.NotFound,
    names: [/linked service 'trainingNoService'/, /'mlEndpoint'/],
    trains: false,
  },
  'model output without .ilearner': {
    input: (i) => {
      const out = i.training.webServiceOutputs!.output1;
      out.filePath = out.filePath.replace(/\.ilearner$/, '');
    },
    type: FailureType.BadRequest,
    names: [/InvalidBlobExtension \(output1\)/, /webServiceOutputs\.output1\.filePath/],
    trains: false,
  },
  'classic apiKey wrong': {
    linkedServices: [
      { name: 'classicWrongKey', from: (e) => e.lanes[0].classic.linkedService, set: { apiKey: wrongKey } },
    ],
    input: onlyUpdate('amlUpdateClassic', { linkedServiceName: 'classicWrongKey' }),
    type: FailureType.Unauthorized,
    names: [/linked service 'classicWrongKey'/, /'apiKey'/],
    trains: true,
    inService: true,
  },
  'classic trained-model resource unknown': {
    input: onlyUpdate('amlUpdateClassic', { trainedModelName: 'No such experiment [trained model]' }),
    type: FailureType.TrainedModelResourceNotFound,
    names: [/'No such experiment \[trained model\]'/, /trainedModelName/, /it has: '/],
    trains: true,
    inService: true,
  },
  'ARM servicePrincipalKey wrong': {
    linkedServices: [
      {
        name: 'armWrongSecret',
        from: (e) => e.lanes[0].arm.linkedService,
        set: { servicePrincipalKey: wrongSecret },
      },
    ],
    input: onlyUpdate('amlUpdateArm', { linkedServiceName: 'armWrongSecret' }),
    type: FailureType.AuthenticationFailed,
    names: [/linked service 'armWrongSecret'/, /'servicePrincipalKey'/],
    trains: true,
    inService: true,
  },
  'ARM tenant wrong': {
    linkedServices: [
      { name: 'armWrongTenant', from: (e) => e.lanes[0].arm.linkedService, set: { tenant: 'othercompany.com' } },
    ],
    input: onlyUpdate('amlUpdateArm', { linkedServiceName: 'armWrongTenant' }),
    type: FailureType.AuthenticationFailed,
    names: [/linked service 'armWrongTenant'/, /'tenant'/],
    trains: true,
    inService: true,
  },
  'ARM trained-model resource unknown': {
    input: onlyUpdate('amlUpdateArm', { trainedModelName: 'No such experiment [trained model]' }),
    type: FailureType.TrainedModelResourceNotFound,
    names: [/'No such experiment \[trained model\]'/, /trainedModelName/],
    trains: true,
    inService: true,
  },
  'ARM updateResourceEndpoint names no web service': {
    linkedServices: [
      {
        name: 'armNoService',
        from: (e) => e.lanes[0].arm.linkedService,
        set: { updateResourceEndpoint: (url: string) => url.replace(/\/webServices\/[^?]+/, '/webServices/nothere') },
      },
    ],
    input: onlyUpdate('amlUpdateArm', { linkedServiceName: 'armNoService' }),
    type: FailureType.NotFound,
    names: [/linked service 'armNoService'/, /'updateResourceEndpoint'/],
    trains: true,
    inService: true,
  },
  'model file not there': {
    input: onlyUpdate('amlUpdateArm', { trainedModelFilePath: 'nocontainer/nothere/model.ilearner' }),
    type: FailureType.TrainedModelNotFound,
    names: [/nocontainer\/nothere\/model\.ilearner/, /StorageLinkedService/],
    trains: true,
  },
};

/** A failure as a history event holds it. */
interface HistoryFailure {
  message?: string | null;
  cause?: HistoryFailure | null;
  applicationFailureInfo?: { type?: string | null } | null;
}

/** The innermost cause of a failure in a history event. */
function innermost(f: HistoryFailure | null | undefined) {
  while (f?.cause) f = f.cause;
  return f;
}

/**
 * The failure at the root of a failed run, and the highest attempt any activity working for it reached: the run's
 * own activities, and those its scoring services' workflows ran for its deployments (an update is applied there, and
 * its failure comes back in the run's own failure).
 */
async function rootFailure(
  client: Client,
  h: WorkflowHandle,
  serviceKeys: string[],
): Promise<{ type?: string; message: string; attempts: number; serviceAttempts: number }> {
  const history = await h.fetchHistory();
  let attempts = 0;
  let serviceAttempts = 0;
  let found = { type: undefined as string | undefined, message: '' };
  for (const e of history.events ?? []) {
    // A retried activity records one started event, carrying its last attempt number.
    attempts = Math.max(attempts, e.activityTaskStartedEventAttributes?.attempt ?? 0);
    const f = innermost(
      e.activityTaskFailedEventAttributes?.failure ?? e.workflowExecutionFailedEventAttributes?.failure,
    );
    if (f) found = { type: f.applicationFailureInfo?.type ?? undefined, message: f.message ?? '' };
  }
  for (const key of serviceKeys) {
    const service = await client.workflow
      .getHandle(scoringServiceWorkflowId(key))
      .fetchHistory()
      .catch(() => undefined);
    const ours = new Set<string>();
    for (const e of service?.events ?? []) {
      const scheduled = e.activityTaskScheduledEventAttributes;
      const input = (scheduled?.input?.payloads ?? []).map((p) => Buffer.from(p.data ?? []).toString('utf8')).join();
      if (scheduled && input.includes(h.workflowId)) ours.add(String(e.eventId));
      const started = e.activityTaskStartedEventAttributes;
      if (started && ours.has(String(started.scheduledEventId))) {
        serviceAttempts = Math.max(serviceAttempts, started.attempt ?? 0);
      }
    }
  }
  return { ...found, attempts: Math.max(attempts, serviceAttempts), serviceAttempts };
}

describe('bad input the services refuse', () => {
  let t: TemporalTestContext;
  let env: DurabilityEnv;
  let worker: WorkerProcess;
  let taskQueue: string;
  const runs = new Map<string, RunRecord>();
  const results: Record<string, unknown> = {};
  /** When the runs started: creating the lane's services records their initial model as an update. */
  let runsStarted = 0;
  /** Every scoring service a linked service names: their workflows apply the runs' updates. */
  let serviceKeys: string[] = [];

  beforeAll(async () => {
    t = await connectTemporal();
    env = await startDurabilityEnv({ lanes: 1, emulator: { seed: 6010 } });
    const dir = join(env.configDir, 'linkedService');
    for (const c of Object.values(CASES)) {
      for (const ls of c.linkedServices ?? []) {
        const json = JSON.parse(readFileSync(join(dir, `${ls.from(env)}.json`), 'utf8'));
        json.name = ls.name;
        const tp = json.properties.typeProperties;
        for (const [k, v] of Object.entries(ls.set)) {
          if (typeof v === 'function') tp[k] = (v as (s: string) => string)(tp[k]);
          else tp[k] = SECRET_FIELDS.has(k) ? { type: 'SecureString', value: v } : v;
        }
        writeFileSync(join(dir, `${ls.name}.json`), JSON.stringify(json, null, 2), { mode: 0o600 });
      }
    }
    const endpoints = readdirSync(dir).map(
      (f) =>
        (JSON.parse(readFileSync(join(dir, f), 'utf8')) as { properties: { typeProperties: Record<string, unknown> } })
          .properties.typeProperties.updateResourceEndpoint,
    );
    serviceKeys = [...new Set(endpoints.filter((u): u is string => typeof u === 'string').map(serviceKeyOf))];
    taskQueue = `badrun-${Date.now().toString(36)}`;
    worker = new WorkerProcess({
      configDir: env.configDir,
      taskQueue,
      env: workerEnv(env),
      bundlePath: await productBundle(),
      logFile: join(OUTPUT_DIR, 'durability', 'logs', 'bad-input-runtime-worker.log'),
    });
    await worker.start();
    runsStarted = Date.now();
    // All cases at once, on one worker: one bad run must not disturb the others.
    await Promise.all(
      Object.entries(CASES).map(async ([name, c], n) => {
        const run = await startRun(t.client, env, env.lanes[0], taskQueue, `${taskQueue}-${n}`, {
          input: c.input,
        });
        runs.set(name, run);
        // A run still going after a minute is retrying what it should have refused: that case fails below.
        await Promise.race([settle(run), sleep(60_000, undefined, { ref: false })]);
        run.outcome ??= 'error';
      }),
    );
  }, 150_000);

  afterAll(async () => {
    for (const r of runs.values())
      if (r.outcome === 'error') await r.handle!.terminate('test over').catch(() => undefined);
    const alive = worker?.running ?? false;
    await worker?.stop();
    if (runs.size) {
      const secrets = await scanForSecrets(
        [...env.secrets, wrongKey, wrongSecret],
        [...runs.values()].map((r) => r.handle!),
        [{ name: 'worker output', text: worker.output }],
      );
      writeSummary('bad-input-runtime', {
        cases: runs.size,
        results,
        workerAliveAtEnd: alive,
        secretsScan: { histories: secrets.historiesScanned, bytes: secrets.bytesScanned, leaks: secrets.leaks.length },
      });
      expect(secrets.leaks).toEqual([]);
    }
    await env?.close();
    await t?.close();
  });

  test.each(Object.keys(CASES))(
    '%s: the run fails at once, naming what to fix, trains only when the fault is in the update, changes nothing',
    async (name) => {
      const c = CASES[name];
      const run = runs.get(name)!;
      expect(run.outcome).toBe('failed');
      const f = await rootFailure(t.client, run.handle!, serviceKeys);
      const ins = env.emu.inspect();
      const jobs = ins.jobs.filter((j) =>
        Object.values(j.outputs).some(
          (o) => o.container === env.container && o.blobName.includes(`${run.workflowId}/`),
        ),
      );
      const started = jobs.filter((j) => j.started > 0).length;
      const targets = [env.lanes[0].arm.target, env.lanes[0].classic.target];
      const updates = ins.updates.filter((u) => targets.includes(u.target) && Date.parse(u.at) >= runsStarted);
      results[name] = {
        type: f.type,
        attempts: f.attempts,
        serviceAttempts: f.serviceAttempts,
        ms: run.durationMs,
        startedJobs: started,
        message: f.message,
      };
      expect(f.type).toBe(c.type);
      for (const re of c.names) expect(f.message).toMatch(re);
      // Final on the first attempt: retrying a wrong key 30 times would only hide the problem for half an hour.
      expect(f.attempts).toBe(1);
      // And the attempt that failed was the scoring service workflow's, for this run: it was counted.
      expect(f.serviceAttempts).toBe(c.inService ? 1 : 0);
      expect(started).toBe(c.trains ? 1 : 0);
      expect(updates).toEqual([]);
    },
  );

  test('the worker is still running after all of them', () => {
    expect(worker.running).toBe(true);
  });
});
