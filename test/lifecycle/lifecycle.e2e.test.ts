/**
 * The newest good model is live, run after run: two runs with the same model path, concurrent runs on one service,
 * the quality gate, approval, verification by scoring, rollback and the all-or-nothing fan-out. Real Temporal server,
 * real worker and activities, the emulator. Verdicts come from the emulator (live model, update log, jobs) and from
 * scoring calls, never from what the product reports: its report is a claim, checked against the world.
 *
 * The tests share one emulator and its two seeded scoring services, in order: each judges the world relative to what
 * the one before it left live.
 */
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { WorkflowHandle } from '@temporalio/client';
import { WorkflowFailedError, WorkflowUpdateFailedError } from '@temporalio/client';
import { startRetrain } from '../../client/run';
import type { RollbackOutcome, RollbackRequest } from '../../common/models';
import { DEFAULT_VERIFICATION } from '../../common/deployment';
import type { RetrainAndUpdateInput, RetrainAndUpdateResult, RunStatus } from '../../common/types';
import { serviceKeyOf } from '../../config/service-key';
import { startOperation } from '../../activities/scoring-service';
import { approveUpdate, rejectUpdate, rollbackUpdate, statusQuery } from '../../workflows/queries';
import { waitUntil } from '../helpers/processes';
import type { Stack } from '../helpers/stack';
import { startStack } from '../helpers/stack';
import { uniqueId } from '../helpers/temporal';
import type { ServiceRef } from '../helpers/world';
import { liveJob, scoredBy, seededServices, serving, startedJobs, updateLog } from '../helpers/world';

jest.setTimeout(240_000);

const VERIFY = { timeoutSeconds: 20, intervalSeconds: 0.2 };

describe('model lifecycle on the emulator', () => {
  let env: Stack;
  let arm: ServiceRef;
  let classic: ServiceRef;
  /** A third linked service: the classic web service's *default* endpoint, which ML Studio refuses to update. */
  const refusing = 'defaultScoringEndpoint';

  beforeAll(async () => {
    env = await startStack({
      jobMs: 300,
      configure: async (dir, emu) => {
        const ls = {
          name: refusing,
          properties: {
            type: 'AzureML',
            typeProperties: {
              mlEndpoint: `${emu.urls.classicDefaultBes}/jobs?api-version=2.0`,
              apiKey: { type: 'SecureString', value: emu.keys.classicDefault.primary },
              updateResourceEndpoint: emu.urls.classicDefaultUpdateResource,
            },
          },
        };
        await writeFile(join(dir, 'linkedService', `${refusing}.json`), JSON.stringify(ls), { mode: 0o600 });
      },
    });
    ({ arm, classic } = seededServices(env.emu));
  });
  afterAll(async () => env?.close());
  afterEach(() => env.emu.setJobFaults({}));

  /** The seed's shape: one fixed model path for every run, both services updated from it. */
  function fixedPathInput(model: string, over: Partial<RetrainAndUpdateInput> = {}): RetrainAndUpdateInput {
    const { deployment, ...rest } = over;
    const i = env.input({ ...rest, deployment: { verification: VERIFY, ...deployment } });
    i.training.webServiceOutputs!.output1.filePath = model;
    i.updates[0].trainedModelFilePath = model;
    i.updates[1].trainedModelLinkedServiceName = 'StorageLinkedService';
    i.updates[1].trainedModelFilePath = model;
    return i;
  }

  const modelPath = (tag: string) => `${env.container}/output/${uniqueId(tag)}/model.ilearner`;

  async function start(i: RetrainAndUpdateInput, tag = 'life'): Promise<WorkflowHandle> {
    return startRetrain(env.t.client, i, { taskQueue: env.taskQueue, workflowId: uniqueId(tag) });
  }

  async function run(i: RetrainAndUpdateInput): Promise<{ h: WorkflowHandle; result: RetrainAndUpdateResult }> {
    const h = await start(i);
    return { h, result: (await h.result()) as RetrainAndUpdateResult };
  }

  /** The run's failure: its type and message (the run must fail). */
  async function failureOf(h: WorkflowHandle): Promise<{ type: string | undefined; message: string }> {
    const err = await h.result().then(
      () => null,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(WorkflowFailedError);
    // The innermost failure: an activity's ApplicationFailure arrives wrapped in an ActivityFailure.
    let cause = (err as WorkflowFailedError).cause as { type?: string; message: string; cause?: unknown } | undefined;
    while (cause?.cause) cause = cause.cause as typeof cause;
    return { type: cause?.type, message: String(cause?.message) };
  }

  async function statusOf(h: WorkflowHandle): Promise<RunStatus> {
    return h.query(statusQuery);
  }

  /** Training jobs the emulator ran for a run: its own BES job id, from the emulator's job list. */
  function jobsSince(before: string[]): string[] {
    return startedJobs(env.emu).filter((j) => !before.includes(j));
  }

  async function expectServing(s: ServiceRef, job: string): Promise<void> {
    expect(await serving(env.emu, s)).toEqual({ live: job, scored: job });
  }

  test('when two runs in a row write the same trainedModelFilePath, then the second model is live on every service', async () => {
    const model = modelPath('fixed');
    const before = startedJobs(env.emu);
    await run(fixedPathInput(model));
    await run(fixedPathInput(model));
    const [job1, job2] = jobsSince(before);
    expect(job1).toBeDefined();
    expect(job2).toBeDefined();
    for (const s of [arm, classic]) {
      await expectServing(s, job2);
      // The service received the first model, then the second: the second run did deploy.
      expect(updateLog(env.emu, s).slice(-2)).toEqual([job1, job2]);
    }
  });

  test('when one run reaches its model by a storage path and by the BES output at once, then both services serve it, run after run', async () => {
    const model = modelPath('two-routes');
    for (let n = 0; n < 3; n++) {
      const i = env.input({ deployment: { verification: VERIFY } });
      i.training.webServiceOutputs!.output1.filePath = model;
      i.updates[0].trainedModelFilePath = model;
      // updates[1] takes the model from the BES job's output: the same blob, reached another way.
      expect(i.updates[1].trainedModelFilePath).toBeUndefined();
      const before = startedJobs(env.emu);
      const logs = { arm: updateLog(env.emu, arm).length, classic: updateLog(env.emu, classic).length };
      const { result } = await run(i);
      const [job] = jobsSince(before);
      await expectServing(arm, job);
      await expectServing(classic, job);
      expect(updateLog(env.emu, arm).slice(logs.arm)).toEqual([job]);
      expect(updateLog(env.emu, classic).slice(logs.classic)).toEqual([job]);
      // And the run says so (before the fix, one service kept the old model while the run reported Superseded).
      expect(result.updates.map((u) => u.outcome)).toEqual(['Deployed', 'Deployed']);
    }
  });

  test('when a third and a fourth run follow, then each one’s model is live after it, and each was sent once', async () => {
    const model = modelPath('fixed4');
    for (let n = 0; n < 2; n++) {
      const before = startedJobs(env.emu);
      const logBefore = updateLog(env.emu, arm).length;
      await run(fixedPathInput(model));
      const [job] = jobsSince(before);
      await expectServing(arm, job);
      await expectServing(classic, job);
      expect(updateLog(env.emu, arm).slice(logBefore)).toEqual([job]);
    }
  });

  test('when two runs on one service start at once, then the newer model is live, and no older model is applied after it', async () => {
    const before = startedJobs(env.emu);
    // Different model paths, so neither run overwrites the other's blob: the services must order them. One job runs
    // 1.5 s longer, so the two completions differ at Last-Modified's one-second resolution (equal times are ordered
    // by arrival, which the test could not judge).
    env.emu.setJobFaults({ slowNext: { extraMs: 1500 } });
    const [a, b] = await Promise.all([
      start(fixedPathInput(modelPath('conc-a'))),
      start(fixedPathInput(modelPath('conc-b'))),
    ]);
    const results = (await Promise.all([a.result(), b.result()])) as RetrainAndUpdateResult[];
    const jobs = jobsSince(before);
    expect(jobs).toHaveLength(2);
    // Newer = the later training completion, from the emulator's own record of each job.
    const finished = env.emu
      .inspect()
      .jobs.filter((j) => jobs.includes(j.jobId))
      .sort((x, y) => String(x.endedAt).localeCompare(String(y.endedAt)));
    const [older, newer] = finished.map((j) => j.jobId);
    for (const s of [arm, classic]) {
      await expectServing(s, newer);
      // Whatever order the requests arrived in, once the newer model went out the older one never followed.
      const log = updateLog(env.emu, s);
      const newerAt = log.lastIndexOf(newer);
      expect(log.slice(newerAt + 1)).not.toContain(older);
    }
    // A run whose model reached the service after the newer one says so: Superseded, not Deployed.
    const olderRun = results.find((r) => r.jobId === older)!;
    const olderSentAfterNewer = updateLog(env.emu, arm).indexOf(older) > updateLog(env.emu, arm).indexOf(newer);
    expect(olderSentAfterNewer).toBe(false);
    for (const u of olderRun.updates) expect(['Deployed', 'Superseded']).toContain(u.outcome);
  });

  test('when an older model asks to deploy after a newer one is live, then it is Superseded and never applied', async () => {
    // The older run trains first and waits for approval; the newer run trains and deploys; then the older is approved.
    const beforeOld = startedJobs(env.emu);
    const older = await start(
      fixedPathInput(modelPath('old'), { deployment: { approval: { required: true, timeout: '00:10:00' } } }),
    );
    await waitUntil(
      'older run awaiting approval',
      async () => (await statusOf(older)).phase === 'AwaitingApproval',
      60_000,
    );
    const [olderJob] = jobsSince(beforeOld);
    // Models are ordered by their blob's Last-Modified, which has 1 s resolution (docs/operating.md: equal times are ordered by
    // arrival). Make the newer model newer in storage's own terms: written in a later second than the older one.
    await new Promise((r) => setTimeout(r, 1100));
    const beforeNew = startedJobs(env.emu);
    await run(fixedPathInput(modelPath('new')));
    const [newerJob] = jobsSince(beforeNew);
    const logBefore = updateLog(env.emu, arm).length;

    await older.executeUpdate(approveUpdate, { args: [{ by: 'alice', reason: 'looks fine' }] });
    const result = (await older.result()) as RetrainAndUpdateResult;
    expect(result.updates.map((u) => u.outcome)).toEqual(['Superseded', 'Superseded']);
    // The world: nothing was sent, the newer model still serves.
    expect(updateLog(env.emu, arm).slice(logBefore)).toEqual([]);
    expect(updateLog(env.emu, classic)).not.toContain(olderJob);
    await expectServing(arm, newerJob);
    await expectServing(classic, newerJob);
    // And `retrain status` (the status query) shows it per service.
    const status = await statusOf(older);
    expect(Object.values(status.updates).map((u) => u.outcome)).toEqual(['Superseded', 'Superseded']);
  });

  test('when the model passes the gate, then it is deployed; when it fails, then the run is Rejected with the numbers and nothing is sent', async () => {
    const gate = { rules: ['AUC >= 0.80', 'AUC >= live - 0.02'] };
    const beforePass = startedJobs(env.emu);
    env.emu.setJobFaults({ metricsNext: { metrics: { AUC: 0.9, Accuracy: 0.86 } } });
    await run(fixedPathInput(modelPath('gate-pass'), { deployment: { gate } }));
    const [passed] = jobsSince(beforePass);
    await expectServing(arm, passed);

    for (const [AUC, why] of [
      [0.7, /AUC 0\.7 fails 'AUC >= 0\.80' \(threshold 0\.8\)/],
      // Above the absolute threshold, but more than 0.02 below the live model's recorded 0.9.
      [0.85, /AUC 0\.85 fails 'AUC >= live - 0\.02' on \w+ \(threshold 0\.88, live model [\w.]+\)/],
    ] as const) {
      env.emu.setJobFaults({ metricsNext: { metrics: { AUC, Accuracy: 0.8 } } });
      const logBefore = env.emu.inspect().updates.length;
      const h = await start(fixedPathInput(modelPath('gate-fail'), { deployment: { gate } }));
      const failure = await failureOf(h);
      expect(failure.type).toBe('QualityGateFailed');
      expect(failure.message).toMatch(why);
      expect((await statusOf(h)).phase).toBe('Rejected');
      expect(env.emu.inspect().updates.length).toBe(logBefore);
      await expectServing(arm, passed);
      await expectServing(classic, passed);
    }
  });

  test('when a gate names a metric the evaluation output lacks, then the run fails naming it and the columns found, and nothing is sent', async () => {
    const logBefore = env.emu.inspect().updates.length;
    const h = await start(
      fixedPathInput(modelPath('gate-missing'), { deployment: { gate: { rules: ['F1 >= 0.5'] } } }),
    );
    const failure = await failureOf(h);
    expect(failure.type).toBe('MetricsUnavailable');
    expect(failure.message).toMatch(/F1/);
    expect(failure.message).toMatch(/AUC/);
    expect(env.emu.inspect().updates.length).toBe(logBefore);

    // An empty evaluation output: the same, naming the pipeline and the output.
    const beforeEmpty = startedJobs(env.emu);
    env.emu.setJobFaults({ metricsNext: { metrics: {} } });
    const empty = await start(
      fixedPathInput(modelPath('gate-empty'), { deployment: { gate: { rules: ['AUC >= 0.5'] } } }),
    );
    const emptyFailure = await failureOf(empty);
    expect(emptyFailure.type).toBe('MetricsUnavailable');
    expect(emptyFailure.message).toMatch(/^pipeline '\w+': evaluation output .* has no metrics: the file is empty/);
    expect(jobsSince(beforeEmpty)).toHaveLength(1);
    expect(env.emu.inspect().updates.length).toBe(logBefore);
  });

  test('when approval is required, then the run waits; approved it deploys, rejected or timed out it deploys nothing', async () => {
    const approval = (timeout = '00:10:00') => ({ deployment: { approval: { required: true, timeout } } });
    const liveBefore = liveJob(env.emu, arm)!;

    // Rejected.
    let logBefore = env.emu.inspect().updates.length;
    const rejected = await start(fixedPathInput(modelPath('rej'), approval()));
    await waitUntil('awaiting approval', async () => (await statusOf(rejected)).phase === 'AwaitingApproval', 60_000);
    await rejected.executeUpdate(rejectUpdate, { args: [{ by: 'bob', reason: 'AUC dropped on holdout' }] });
    let failure = await failureOf(rejected);
    expect(failure.type).toBe('ApprovalRejected');
    expect(failure.message).toMatch(/bob/);
    expect(env.emu.inspect().updates.length).toBe(logBefore);
    await expectServing(arm, liveBefore);

    // Approving a run that has ended is refused by Temporal itself.
    const late = await rejected.executeUpdate(approveUpdate, { args: [{ by: 'carol' }] }).then(
      () => null,
      (e: unknown) => e,
    );
    expect(late).toBeInstanceOf(Error);
    expect(String((late as Error).message)).toMatch(/completed/i);
    expect(env.emu.inspect().updates.length).toBe(logBefore);

    // Approving a running run that is not waiting for approval (still training) is refused with the reason.
    env.emu.setJobFaults({ slowNext: { extraMs: 4000 } });
    const training = await start(fixedPathInput(modelPath('early'), approval()));
    await waitUntil('training', async () => (await statusOf(training)).phase === 'Training', 60_000);
    const early = await training.executeUpdate(approveUpdate, { args: [{ by: 'carol' }] }).then(
      () => null,
      (e: unknown) => e,
    );
    expect(early).toBeInstanceOf(WorkflowUpdateFailedError);
    expect((early as WorkflowUpdateFailedError).cause).toMatchObject({ type: 'NotAwaitingApproval' });
    expect(String((early as WorkflowUpdateFailedError).cause?.message)).toMatch(/not waiting for approval/);
    await training.terminate('test: refusal checked');

    // Timed out.
    logBefore = env.emu.inspect().updates.length;
    const timedOut = await start(fixedPathInput(modelPath('tmo'), approval('00:00:03')));
    failure = await failureOf(timedOut);
    expect(failure.type).toBe('ApprovalTimedOut');
    expect(env.emu.inspect().updates.length).toBe(logBefore);
    await expectServing(arm, liveBefore);

    // Approved.
    const before = startedJobs(env.emu);
    const approved = await start(fixedPathInput(modelPath('ok'), approval()));
    await waitUntil('awaiting approval', async () => (await statusOf(approved)).phase === 'AwaitingApproval', 60_000);
    expect(env.emu.inspect().updates.length).toBe(logBefore);
    await approved.executeUpdate(approveUpdate, { args: [{ by: 'alice', reason: 'checked' }] });
    await approved.result();
    const [job] = jobsSince(before);
    await expectServing(arm, job);
    await expectServing(classic, job);
  });

  test('when the new model fails verification by scoring, then the previous model is restored and serves', async () => {
    const previous = liveJob(env.emu, arm)!;
    const before = startedJobs(env.emu);
    env.emu.setJobFaults({ brokenNext: {} });
    const h = await start(
      fixedPathInput(modelPath('broken'), {
        deployment: { verification: { timeoutSeconds: 3, intervalSeconds: 0.2 } },
      }),
    );
    const failure = await failureOf(h);
    expect(failure.type).toBe('VerificationFailed');
    const [broken] = jobsSince(before);
    for (const s of [arm, classic]) {
      // The broken model did go out (the world saw it), and then the previous one came back.
      const log = updateLog(env.emu, s);
      expect(log.slice(-2)).toEqual([broken, previous]);
      await expectServing(s, previous);
    }
    // A later run does not bring the rolled-back model back, and its own model goes live.
    const beforeNext = startedJobs(env.emu);
    await run(fixedPathInput(modelPath('after-broken')));
    const [next] = jobsSince(beforeNext);
    await expectServing(arm, next);
  });

  function rollback(s: ServiceRef, updateResourceEndpoint: string, toJobId?: string): Promise<RollbackOutcome> {
    const key = serviceKeyOf(updateResourceEndpoint);
    const request: RollbackRequest = {
      requestId: uniqueId('rb'),
      linkedServiceName: s.linkedService,
      trainedModelName: env.emu.ids.trainedModelName,
      toJobId,
      by: 'ops',
      reason: 'test',
      taskQueue: env.taskQueue,
      verification: { ...DEFAULT_VERIFICATION, ...VERIFY },
    };
    return env.t.client.workflow.executeUpdateWithStart(rollbackUpdate, {
      args: [request],
      updateId: request.requestId,
      startWorkflowOperation: startOperation(key, env.taskQueue),
    });
  }

  test('when an operator rolls back, then the previous model serves again; --to restores a named job; no earlier model is refused', async () => {
    const before = startedJobs(env.emu);
    await run(fixedPathInput(modelPath('rb1')));
    await run(fixedPathInput(modelPath('rb2')));
    const [first, second] = jobsSince(before);
    await expectServing(arm, second);

    await rollback(arm, env.emu.urls.armUpdateResource);
    await expectServing(arm, first);
    // Only the service rolled back changed.
    await expectServing(classic, second);

    await rollback(arm, env.emu.urls.armUpdateResource, second);
    await expectServing(arm, second);

    const missing = await rollback(arm, env.emu.urls.armUpdateResource, 'no-such-job').then(
      () => null,
      (e: unknown) => e,
    );
    expect(missing).toBeInstanceOf(WorkflowUpdateFailedError);
    expect(String((missing as WorkflowUpdateFailedError).cause?.message)).toMatch(/no-such-job/);
    await expectServing(arm, second);
  });

  test('when one service of an all-or-nothing fan-out fails, then every service is back on its previous model', async () => {
    const previous = { arm: liveJob(env.emu, arm)!, classic: liveJob(env.emu, classic)! };
    const before = startedJobs(env.emu);
    const model = modelPath('aon');
    const i = fixedPathInput(model, { deployment: { fanOut: { mode: 'all-or-nothing', parallel: 1 } } });
    // Updated after the two that succeed: ML Studio refuses an update of a default endpoint.
    i.updates.push({
      activityName: 'amlUpdateDefault',
      linkedServiceName: refusing,
      trainedModelName: env.emu.ids.trainedModelName,
      trainedModelLinkedServiceName: 'StorageLinkedService',
      trainedModelFilePath: model,
    });
    const h = await start(i);
    const failure = await failureOf(h);
    expect(failure.message).toMatch(/default/i);
    const [job] = jobsSince(before);
    // The new model went out to both good services, then they were restored.
    expect(updateLog(env.emu, arm).slice(-2)).toEqual([job, previous.arm]);
    expect(updateLog(env.emu, classic).slice(-2)).toEqual([job, previous.classic]);
    await expectServing(arm, previous.arm);
    await expectServing(classic, previous.classic);
    const status = await statusOf(h);
    expect(status.updates.amlUpdateResource.outcome).toBe('FanOutRolledBack');
    expect(status.updates.amlUpdateClassic.outcome).toBe('FanOutRolledBack');
  });

  test('when the input declares a bad gate rule, then the run fails naming the field and nothing runs', async () => {
    const before = startedJobs(env.emu);
    const h = await start(env.input({ deployment: { gate: { rules: ['AUC >> 0.8'] } } }));
    const failure = await failureOf(h);
    expect(failure.message).toMatch(/input\.deployment\.gate\.rules\[0\]/);
    expect(jobsSince(before)).toEqual([]);
  });

  test('a scoring call and the live model agree after everything above', async () => {
    for (const s of [arm, classic]) expect(await scoredBy(env.emu, s)).toBe(liveJob(env.emu, s));
  });
});
