// Over 450 lines: the operator's lifecycle commands share one stack and one sequence of deployments.
/**
 * The model lifecycle from the operator's side: `retrain models`, `rollback`, `approve`, `reject`, `status` and
 * `list`, each run as a child process against a real Temporal server, a real worker and the emulator. Verdicts come
 * from the world (the emulator's live model and update log, a user's scoring call, BES jobs); the CLI's text is only
 * checked for what it must say (the reason of a refusal, the commands to type) and for what it must never say
 * (secrets).
 */
import { spawn } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { WorkflowHandle } from '@temporalio/client';
import { WorkflowFailedError, WorkflowNotFoundError } from '@temporalio/client';
import { startRetrain } from '../../client/run';
import type { ServiceView } from '../../common/models';
import { scoringServiceWorkflowId } from '../../common/models';
import type { RetrainAndUpdateInput, RunStatus } from '../../common/types';
import { serviceKeyOf } from '../../config/service-key';
import { ensureTemporalCli } from '../../infra/temporal';
import { statusQuery } from '../../workflows/queries';
import { uniqueId } from '../helpers/temporal';
import type { ServiceRef } from '../helpers/world';
import { liveJob, scoredBy, seededServices, serving, startedJobs, updateLog } from '../helpers/world';
import type { CliResult } from '../helpers/cli';
import { CLI, cli } from '../helpers/cli';
import { ROOT, spawnLogged, waitUntil } from '../helpers/processes';
import type { Stack } from '../helpers/stack';
import { startStack } from '../helpers/stack';
import { readmeCommands } from './readme';

jest.setTimeout(240_000);

/** Short verification polls: the emulator serves a new model at once. */
const VERIFY = { timeoutSeconds: 20, intervalSeconds: 0.2 };

describe('the model lifecycle from the retrain CLI', () => {
  let env: Stack;
  let arm: ServiceRef;
  let classic: ServiceRef;
  /** A classic endpoint of its own, created for this file: it gets exactly one model. */
  const lonely = 'lonelyScoringEndpoint';
  let lonelyRef: ServiceRef;
  let lonelyEndpoint: string;
  /** Every CLI output of the file: scanned for secrets at the end. */
  const outputs: CliResult[] = [];
  let secrets: string[] = [];
  // Runs of this file only: `list --pipeline` filters on it.
  const pipeline = uniqueId('LifeCli');

  beforeAll(async () => {
    env = await startStack({
      jobMs: 300,
      configure: async (dir, emu) => {
        const mgmt = emu.urls.classicUpdateResource.replace(/\/[^/]+$/, '/lonely');
        const put = await fetch(mgmt, {
          method: 'PUT',
          headers: { Authorization: `Bearer ${emu.keys.workspaceToken}`, 'Content-Type': 'application/json' },
          body: JSON.stringify({ Description: 'lifecycle-cli: one model only' }),
        });
        if (put.status !== 200) throw new Error(`classic PUT lonely: ${put.status} ${await put.text()}`);
        const ep = (await put.json()) as { PrimaryKey: string; ApiLocation: string };
        const ls = structuredClone(emu.linkedServices.classicScoringEndpoint);
        ls.name = lonely;
        Object.assign(ls.properties.typeProperties, {
          mlEndpoint: `${ep.ApiLocation}/jobs?api-version=2.0`,
          apiKey: { type: 'SecureString', value: ep.PrimaryKey },
          updateResourceEndpoint: mgmt,
        });
        await writeFile(join(dir, 'linkedService', `${lonely}.json`), JSON.stringify(ls), { mode: 0o600 });
        lonelyEndpoint = mgmt;
        lonelyRef = {
          linkedService: lonely,
          target: `${emu.ids.workspaceId}/${emu.ids.classicWebServiceId}/lonely`,
          scoreUrl: `${ep.ApiLocation}/execute?api-version=2.0&details=true`,
          apiKey: ep.PrimaryKey,
        };
        secrets.push(ep.PrimaryKey);
      },
    });
    ({ arm, classic } = seededServices(env.emu));
    const collect = (v: unknown): void => {
      if (typeof v === 'string' && v.length >= 8) secrets.push(v);
      else if (v && typeof v === 'object') Object.values(v).forEach(collect);
    };
    collect(env.emu.keys);
    secrets.push(/AccountKey=([^;]+)/.exec(env.emu.storage.connectionString)![1]);
    secrets = [...new Set(secrets)];
  });
  afterAll(async () => env?.close());
  afterEach(() => env.emu.setJobFaults({}));

  /** `retrain …` as an operator types it, with the worker's task queue and this file's ADF folder. */
  async function retrain(...args: string[]): Promise<CliResult> {
    const r = await cli(args, { TEMPORAL_TASK_QUEUE: env.taskQueue, ML_CONFIG_DIR: env.configDir });
    outputs.push(r);
    return r;
  }

  /**
   * A run updating both seeded services from one model path, as test/lifecycle does: the classic update names the
   * blob too, instead of the BES output (the same blob by another name, which the product prepares and pins twice).
   */
  function input(over: Partial<RetrainAndUpdateInput> = {}): RetrainAndUpdateInput {
    const { deployment, ...rest } = over;
    const i = env.input({ pipeline, ...rest, deployment: { verification: VERIFY, ...deployment } });
    i.updates[1].trainedModelLinkedServiceName = 'StorageLinkedService';
    i.updates[1].trainedModelFilePath = i.updates[0].trainedModelFilePath;
    return i;
  }

  async function start(i: RetrainAndUpdateInput): Promise<WorkflowHandle> {
    return startRetrain(env.t.client, i, { taskQueue: env.taskQueue, workflowId: uniqueId('life-cli') });
  }

  /** Run to the end; the BES job it trained, from the emulator's job list. */
  async function runOnce(i: RetrainAndUpdateInput): Promise<string> {
    const before = startedJobs(env.emu);
    await (await start(i)).result();
    const jobs = startedJobs(env.emu).filter((j) => !before.includes(j));
    expect(jobs).toHaveLength(1);
    return jobs[0];
  }

  async function statusOf(h: WorkflowHandle): Promise<RunStatus> {
    return h.query(statusQuery);
  }

  async function awaitingApproval(h: WorkflowHandle): Promise<void> {
    await waitUntil('the run to await approval', async () => (await statusOf(h)).phase === 'AwaitingApproval', 60_000);
  }

  async function expectServing(s: ServiceRef, job: string): Promise<void> {
    expect(await serving(env.emu, s)).toEqual({ live: job, scored: job });
  }

  async function models(linkedService: string): Promise<ServiceView> {
    const r = await retrain('models', linkedService, '--json');
    expect({ code: r.code, err: r.err }).toEqual({ code: 0, err: '' });
    return JSON.parse(r.out) as ServiceView;
  }

  const approval = { approval: { required: true, timeout: '00:10:00' } };
  const gate = { rules: ['AUC >= 0.80', 'AUC >= live - 0.02'] };
  let first: string;
  let second: string;

  test('when two runs deployed, then `retrain models --json` shows both in the lineage, and the live one is what the emulator serves', async () => {
    first = await runOnce(input());
    second = await runOnce(input());
    await expectServing(arm, second);

    const view = await models(arm.linkedService);
    const jobs = view.lineage.map((e) => e.identity.jobId);
    // The lineage ends with the two runs' models, in the order they went live, as the emulator received them.
    expect(jobs.slice(-2)).toEqual([first, second]);
    expect(updateLog(env.emu, arm).slice(-2)).toEqual([first, second]);
    const live = view.live[env.emu.ids.trainedModelName];
    expect(live?.identity.jobId).toBe(liveJob(env.emu, arm));
    expect(live?.identity.jobId).toBe(await scoredBy(env.emu, arm));
    const last = view.lineage.at(-1)!;
    expect(last).toMatchObject({
      how: 'deploy',
      liveUntil: null,
      run: { activityName: 'amlUpdateResource' },
      verification: { how: 'identity', observed: second },
    });
    expect(last.identity.key).toMatch(new RegExp(`^${second}\\.`));
    expect(last.metrics).toEqual({ AUC: 0.91, Accuracy: 0.87 });
    expect(view.lineage.at(-2)!.liveUntil).toBe(last.liveFrom);

    // The table: newest first, the live model marked, the earlier one with when it stopped serving.
    const table = await retrain('models', arm.linkedService);
    expect(table.code).toBe(0);
    const lines = table.out.split('\n');
    expect(lines.find((l) => l.startsWith('LIVE '))!.split(/\s{2,}/)).toEqual([
      'LIVE',
      'LIVE FROM (UTC)',
      'UNTIL (UTC)',
      'HOW',
      'BES JOB',
      'MODEL',
      'TRAINED AT (UTC)',
      'METRICS',
      'APPROVAL',
      'VERIFICATION',
      'RUN (ACTIVITY)',
    ]);
    const body = lines.slice(lines.findIndex((l) => l.startsWith('LIVE ')) + 2);
    const rows = body.filter((l) => l.includes(first) || l.includes(second));
    expect(rows[0]).toMatch(new RegExp(`^live .* deploy +${second} `));
    expect(rows[1]).toMatch(new RegExp(`^ +\\d{4}-.* deploy +${first} `));
    expect(table.out).toMatch(/live now: +'.+': model \S+ \(BES job \w+, trained \d{4}-/);
  });

  test('when an operator runs `retrain rollback`, then the emulator serves the previous model again and a scoring call says so', async () => {
    const logBefore = updateLog(env.emu, arm).length;
    const r = await retrain('rollback', arm.linkedService, '--by', 'ops-oncall', '--reason', 'worse in production');
    expect({ code: r.code, err: r.code ? r.err : '' }).toEqual({ code: 0, err: '' });
    await expectServing(arm, first);
    // One update was sent, to the service named; the other one still serves the newer model.
    expect(updateLog(env.emu, arm).slice(logBefore)).toEqual([first]);
    await expectServing(classic, second);
    expect(r.out).toMatch(new RegExp(`restored: +model ${first}\\.\\w+ \\(BES job ${first}`));
    expect(r.out).toMatch(new RegExp(`replaced: +model ${second}\\.`));

    const view = await models(arm.linkedService);
    const live = view.live[env.emu.ids.trainedModelName]!;
    expect(live).toMatchObject({
      how: 'rollback',
      identity: { jobId: first },
      approval: { by: 'ops-oncall', reason: 'worse in production' },
      verification: { observed: first },
    });
    expect(view.withdrawn.some((k) => k.startsWith(`${second}.`))).toBe(true);

    // --to brings a named job's model back (the withdrawn one too: the operator vouches for it).
    const to = await retrain('rollback', arm.linkedService, '--to', second, '--by', 'ops-oncall');
    expect({ code: to.code, err: to.code ? to.err : '' }).toEqual({ code: 0, err: '' });
    await expectServing(arm, second);
  });

  test('when a service has no earlier model, then `retrain rollback` exits non-zero naming NoEarlierModel and sends nothing', async () => {
    const key = serviceKeyOf(lonelyEndpoint);
    // Never deployed to: refused without creating the service's workflow.
    const none = await retrain('rollback', lonely);
    expect(none.code).toBe(1);
    expect(none.err).toMatch(/^error: NoEarlierModel: nothing was deployed to 'lonelyScoringEndpoint' by ml-retrain/);
    await expect(env.t.client.workflow.getHandle(scoringServiceWorkflowId(key)).describe()).rejects.toBeInstanceOf(
      WorkflowNotFoundError,
    );
    const noneModels = await retrain('models', lonely);
    expect(noneModels.code).toBe(1);
    expect(noneModels.err).toMatch(/nothing deployed to 'lonelyScoringEndpoint' by ml-retrain yet/);

    // One model deployed: there is still nothing earlier to restore; the workflow refuses, nothing is sent.
    const i = input();
    i.updates = [
      {
        activityName: 'amlUpdateLonely',
        linkedServiceName: lonely,
        trainedModelName: env.emu.ids.trainedModelName,
        trainedModelLinkedServiceName: 'StorageLinkedService',
        trainedModelFilePath: i.updates[0].trainedModelFilePath,
      },
    ];
    const only = await runOnce(i);
    await expectServing(lonelyRef, only);
    const logBefore = env.emu.inspect().updates.length;
    const r = await retrain('rollback', lonely, '--by', 'ops-oncall');
    expect(r.code).toBe(1);
    expect(r.err.trim().split('\n')).toHaveLength(2);
    expect(r.err).toMatch(/\nerror: NoEarlierModel: scoring service \S+ has no earlier model to roll back to/);
    expect(env.emu.inspect().updates.length).toBe(logBefore);
    await expectServing(lonelyRef, only);
  });

  test('when a linked service is unknown or is no scoring service, then `retrain models` says which file and field', async () => {
    const unknown = await retrain('models', 'noSuchService');
    expect(unknown.code).toBe(1);
    expect(unknown.err.trim()).toMatch(
      /^error: linked service 'noSuchService' not found: no file in \S+\/linkedService has "name": "noSuchService" \(scoring services there: .*updatableScoringEndpoint2/,
    );
    const training = await retrain('models', 'trainingEndpoint');
    expect(training.code).toBe(1);
    expect(training.err.trim()).toMatch(
      /^error: \S+trainingEndpoint\.json: properties\.typeProperties\.updateResourceEndpoint is not set/,
    );
  });

  test('when a run waits for approval, then `status` and `list` say so with the commands to type, and `retrain approve` deploys it', async () => {
    const before = startedJobs(env.emu);
    const h = await start(input({ deployment: approval }));
    await awaitingApproval(h);
    const [job] = startedJobs(env.emu).filter((j) => !before.includes(j));
    const logBefore = env.emu.inspect().updates.length;

    const status = await retrain('status', h.workflowId);
    expect(status.code).toBe(0);
    expect(status.out).toMatch(/status: +InProgress · phase AwaitingApproval/);
    expect(status.out).toMatch(new RegExp(`Approval: Waiting \\(model ${job}\\.\\w+, BES job ${job}\\)`));
    expect(status.out).toMatch(/deadline: +\d{4}-\d\d-\d\d \d\d:\d\d:\d\dZ/);
    expect(status.out).toContain(`approve:   retrain approve ${h.workflowId} --by <you> --reason "<why>"`);
    expect(status.out).toContain(`reject:    retrain reject ${h.workflowId} --by <you> --reason "<why>"`);
    const listed = await waitUntil('the run listed as AwaitingApproval', async () => {
      const r = await retrain('list', '--pipeline', pipeline, '--json');
      const runs = JSON.parse(r.out) as { workflowId: string; phase: string | null }[];
      return runs.find((x) => x.workflowId === h.workflowId && x.phase === 'AwaitingApproval');
    });
    expect(listed).toBeDefined();
    expect((await retrain('list', '--pipeline', pipeline)).out).toMatch(
      new RegExp(`${h.workflowId} +${pipeline} +RUNNING +AwaitingApproval`),
    );
    // Nothing went out while it waited.
    expect(env.emu.inspect().updates.length).toBe(logBefore);

    const ok = await retrain('approve', h.workflowId, '--by', 'alice', '--reason', 'AUC fine on holdout');
    expect({ code: ok.code, err: ok.err }).toEqual({ code: 0, err: '' });
    expect(ok.out).toMatch(new RegExp(`model ${job}\\.\\w+ \\(BES job ${job}\\) approved by alice at .*: AUC fine`));
    await h.result();
    await expectServing(arm, job);
    await expectServing(classic, job);
    expect(updateLog(env.emu, arm).at(-1)).toBe(job);

    const after = await retrain('status', h.workflowId);
    expect(after.out).toMatch(/decided: +Approved by alice at .*: AUC fine on holdout/);
    expect(after.out).toMatch(/amlUpdateResource +updatableScoringEndpoint2 +Deployed +model \S+ is live/);
    expect(after.out).toMatch(/amlUpdateClassic +classicScoringEndpoint +Deployed/);
    const view = await models(arm.linkedService);
    expect(view.live[env.emu.ids.trainedModelName]).toMatchObject({
      identity: { jobId: job },
      approval: { decision: 'approved', by: 'alice', reason: 'AUC fine on holdout' },
    });

    // Approving it again, now that it has ended, is refused with the reason, and changes nothing.
    const logAfter = env.emu.inspect().updates.length;
    const late = await retrain('approve', h.workflowId, '--by', 'carol');
    expect(late.code).toBe(1);
    expect(late.err.trim()).toMatch(
      new RegExp(
        `^error: run ${h.workflowId} is not waiting for approval: it has ended \\(COMPLETED\\); Temporal: .*completed`,
      ),
    );
    expect(env.emu.inspect().updates.length).toBe(logAfter);
  });

  test('when an operator rejects a waiting run, then it deploys nothing; approving it while it trains is refused with the reason', async () => {
    const liveBefore = liveJob(env.emu, arm)!;
    const logBefore = env.emu.inspect().updates.length;
    env.emu.setJobFaults({ slowNext: { extraMs: 3000 } });
    const h = await start(input({ deployment: approval }));
    await waitUntil('training', async () => (await statusOf(h)).phase === 'Training', 60_000);
    const early = await retrain('approve', h.workflowId, '--by', 'carol');
    expect(early.code).toBe(1);
    expect(early.err.trim()).toMatch(
      new RegExp(
        `^error: NotAwaitingApproval: run ${h.workflowId} is not waiting for approval: it is in phase Training`,
      ),
    );

    await awaitingApproval(h);
    const no = await retrain('reject', h.workflowId, '--by', 'bob', '--reason', 'trained on a partial day');
    expect({ code: no.code, err: no.err }).toEqual({ code: 0, err: '' });
    expect(no.out).toMatch(/rejected by bob at .*: trained on a partial day/);
    const failure = await h.result().then(
      () => null,
      (e: unknown) => e,
    );
    expect(failure).toBeInstanceOf(WorkflowFailedError);
    expect((failure as WorkflowFailedError).cause).toMatchObject({ type: 'ApprovalRejected' });
    // The world: no update was sent, the model live before still serves.
    expect(env.emu.inspect().updates.length).toBe(logBefore);
    await expectServing(arm, liveBefore);
    await expectServing(classic, liveBefore);
    const status = await retrain('status', h.workflowId);
    expect(status.out).toMatch(/decided: +Rejected by bob/);
  });

  test('when `retrain run` follows a gated run that needs approval, then it prints the gate numbers, what to type, and each service outcome', async () => {
    env.emu.setJobFaults({ metricsNext: { metrics: { AUC: 0.93, Accuracy: 0.9 } } });
    const file = join(env.configDir, 'gated-run.json');
    await writeFile(file, JSON.stringify(input({ deployment: { gate, ...approval } })));
    const before = startedJobs(env.emu);
    const id = uniqueId('life-cli-run');
    const run = spawnLogged(
      process.execPath,
      [CLI, 'run', '--input', file, '--id', id, '--task-queue', env.taskQueue, '--progress-seconds', '1'],
      process.env,
    );
    try {
      const waiting = await run.waitFor(
        /waiting for approval of model (\S+) \(BES job (\w+)\) until \d{4}-\d\d-\d\d \d\d:\d\d:\d\dZ: (.*) {2}\| {2}(.*)/,
      );
      expect(waiting[3]).toBe(`retrain approve ${id} --by <you> --reason "<why>"`);
      expect(waiting[4]).toBe(`retrain reject ${id} --by <you> --reason "<why>"`);
      const [job] = startedJobs(env.emu).filter((j) => !before.includes(j));
      expect(waiting[2]).toBe(job);
      expect(run.output()).toMatch(
        /quality gate passed for model \S+: AUC 0\.93 passes 'AUC >= 0\.80' \(threshold 0\.8\); AUC 0\.93 passes 'AUC >= live - 0\.02' on updatableScoringEndpoint2 \(threshold 0\.\d+, live model \w+\.\w+\)/,
      );
      expect(run.output()).toMatch(/\] AwaitingApproval · BES job \w+ Finished/);

      const ok = await retrain('approve', id, '--by', 'alice', '--reason', 'gate passed, numbers checked');
      expect(ok.code).toBe(0);
      await run.waitFor(/run succeeded/);
      const code = run.child.exitCode ?? (await new Promise<number | null>((r) => run.child.once('exit', r)));
      expect(code).toBe(0);
      const out = run.output();
      outputs.push({ code: code ?? 1, out, err: '', all: out });
      expect(out).toMatch(
        new RegExp(
          `updated: +amlUpdateResource → updatableScoringEndpoint2 \\(arm\\) '.+': Deployed: model ${job}\\.\\w+ is live`,
        ),
      );
      expect(out).toMatch(/updated: +amlUpdateClassic → classicScoringEndpoint \(classic\) '.+': Deployed: /);
      expect(out).toMatch(
        /\napproval: model \S+ \(BES job \w+\) approved by alice at \S+ \S+: gate passed, numbers checked\n/,
      );
      await expectServing(arm, job);
      await expectServing(classic, job);
    } finally {
      await run.stop();
    }
  });

  test('when the gate rejects a model, then `retrain status` shows each check with its numbers, and nothing is sent', async () => {
    env.emu.setJobFaults({ metricsNext: { metrics: { AUC: 0.7, Accuracy: 0.8 } } });
    const logBefore = env.emu.inspect().updates.length;
    const h = await start(input({ deployment: { gate } }));
    await h.result().catch(() => undefined);
    const r = await retrain('status', h.workflowId);
    expect(r.code).toBe(0);
    expect(r.out).toMatch(/status: +Failed · phase Rejected/);
    expect(r.out).toMatch(/Quality gate: FAILED \(model \w+\.\w+\)/);
    expect(r.out).toMatch(/\n {2}FAIL {2}AUC 0\.7 fails 'AUC >= 0\.80' \(threshold 0\.8\)/);
    expect(r.out).toMatch(
      /\n {2}FAIL {2}AUC 0\.7 fails 'AUC >= live - 0\.02' on updatableScoringEndpoint2 \(threshold 0\.\d+, live model/,
    );
    expect(r.out).toMatch(/message: .*QualityGateFailed|message: .*rejected by the quality gate/);
    expect(env.emu.inspect().updates.length).toBe(logBefore);
  });

  /** The CLI binary the project provisions; ensureTemporalCli() returns none while TEMPORAL_ADDRESS is set. */
  async function temporalCli(): Promise<string> {
    const saved = process.env.TEMPORAL_ADDRESS;
    delete process.env.TEMPORAL_ADDRESS;
    try {
      const found = await ensureTemporalCli();
      if (!found) throw new Error('infra/temporal/ could not provide a temporal binary');
      return found;
    } finally {
      process.env.TEMPORAL_ADDRESS = saved;
    }
  }

  test("when the docs' `temporal workflow update execute` approves a waiting run, then it deploys", async () => {
    const bin = await temporalCli();
    const before = startedJobs(env.emu);
    const h = await start(input({ deployment: approval }));
    await awaitingApproval(h);
    const [job] = startedJobs(env.emu).filter((j) => !before.includes(j));
    const [cmd] = readmeCommands('temporal-approve');
    const id = /--workflow-id (\S+)/.exec(cmd)![1];
    const r = await new Promise<{ code: number; out: string }>((resolve) => {
      const child = spawn('bash', ['-c', cmd.replace(id, h.workflowId).replace(/^temporal /, `"${bin}" `)], {
        cwd: ROOT,
        env: { ...process.env, NO_COLOR: '1' },
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      let out = '';
      child.stdout.on('data', (d: Buffer) => (out += d.toString()));
      child.stderr.on('data', (d: Buffer) => (out += d.toString()));
      child.on('exit', (code) => resolve({ code: code ?? 1, out }));
    });
    expect({ code: r.code, out: r.code ? r.out : '' }).toEqual({ code: 0, out: '' });
    await h.result();
    await expectServing(arm, job);
    expect((await statusOf(h)).approval).toMatchObject({ state: 'Approved', by: 'alice' });
  });

  test('when runs and scoring services exist, then `retrain list` shows the runs and never a scoring-service workflow', async () => {
    const entity = await env.t.client.workflow
      .getHandle(scoringServiceWorkflowId(serviceKeyOf(env.emu.urls.armUpdateResource)))
      .describe();
    expect(entity.status.name).toBe('RUNNING');
    await waitUntil('visibility of the entity workflow', async () => {
      const n = await env.t.client.workflow.count(`WorkflowId = "${entity.workflowId}"`);
      return n.count === 1;
    });
    const all = await retrain('list', '--limit', '200', '--json');
    expect(all.code).toBe(0);
    const runs = JSON.parse(all.out) as { workflowId: string; workflowType: string }[];
    expect(runs.length).toBeGreaterThan(0);
    expect(
      runs.filter((x) => x.workflowId.startsWith('scoring-service:') || x.workflowType === 'scoringService'),
    ).toEqual([]);
    // Even when asked for by id: the filter is on the workflow type, and an extra clause only narrows it.
    const asked = await retrain('list', '--query', `WorkflowId = "${entity.workflowId}"`);
    expect(asked.out.trim()).toBe('no runs match');
  });

  test('no CLI output of this file carries a key or a SAS signature', () => {
    expect(outputs.length).toBeGreaterThan(15);
    for (const r of outputs) {
      const text = r.out + r.err;
      expect(text).not.toMatch(/[?&]sig=/);
      const leaked = secrets.filter((s) => text.includes(s));
      expect(leaked.map((s) => `${s.slice(0, 4)}…`)).toEqual([]);
    }
  });
});
