/**
 * The newest good model is live, run after run: two runs with the same model path, concurrent runs on one service,
 * the quality gate, approval, verification by scoring, rollback and the all-or-nothing fan-out. Real Temporal server,
 * real worker and activities, the emulator. Verdicts come from the emulator (live model, update log, jobs) and from
 * scoring calls, never from what the product reports.
 */
import type { WorkflowHandle } from '@temporalio/client';
import { WorkflowFailedError } from '@temporalio/client';
import { startRetrain } from '../../client/run';
import type { RetrainAndUpdateInput, RetrainAndUpdateResult } from '../../common/types';
import type { OpsEnv } from '../operate/helpers';
import { startOpsEnv } from '../operate/helpers';
import { uniqueId } from '../helpers/temporal';
import type { ServiceRef } from './world';
import { liveJob, seededServices, serving, startedJobs, updateLog } from './world';

jest.setTimeout(240_000);

describe('model lifecycle on the emulator', () => {
  let env: OpsEnv;
  let arm: ServiceRef;
  let classic: ServiceRef;

  beforeAll(async () => {
    env = await startOpsEnv({ jobMs: 300 });
    ({ arm, classic } = seededServices(env.emu));
  });
  afterAll(async () => env?.close());

  /** The seed's shape: one fixed model path for every run, both services updated from it. */
  function fixedPathInput(model: string, over: Partial<RetrainAndUpdateInput> = {}): RetrainAndUpdateInput {
    const i = env.input({ deployment: { verification: { timeoutSeconds: 20, intervalSeconds: 0.2 } }, ...over });
    i.training.webServiceOutputs!.output1.filePath = model;
    i.updates[0].trainedModelFilePath = model;
    i.updates[1].trainedModelLinkedServiceName = 'StorageLinkedService';
    i.updates[1].trainedModelFilePath = model;
    return i;
  }

  async function run(i: RetrainAndUpdateInput): Promise<{ h: WorkflowHandle; result: RetrainAndUpdateResult }> {
    const h = await startRetrain(env.t.client, i, { taskQueue: env.taskQueue, workflowId: uniqueId('life') });
    return { h, result: (await h.result()) as RetrainAndUpdateResult };
  }

  test('when two runs in a row write the same trainedModelFilePath, then the second model is live on every service', async () => {
    const model = `${env.container}/output/${uniqueId('fixed')}/model.ilearner`;
    const first = await run(fixedPathInput(model));
    const second = await run(fixedPathInput(model));
    const [job1, job2] = [first.result.jobId, second.result.jobId];
    expect(job1).not.toEqual(job2);
    // Two BES jobs trained, both started.
    expect(startedJobs(env.emu)).toEqual(expect.arrayContaining([job1, job2]));
    for (const s of [arm, classic]) {
      expect(await serving(env.emu, s)).toEqual({ live: job2, scored: job2 });
      // The service received the first model, then the second: the second run did deploy.
      expect(updateLog(env.emu, s).slice(-2)).toEqual([job1, job2]);
    }
  });

  test('when the model of a second run is the same blob version as the first, then it counts as live once', async () => {
    // A retried ADF update of one run reuses its model: the services are not updated twice.
    const model = `${env.container}/output/${uniqueId('once')}/model.ilearner`;
    const { result } = await run(fixedPathInput(model));
    const before = updateLog(env.emu, arm).length;
    expect(liveJob(env.emu, arm)).toEqual(result.jobId);
    expect(before).toBeGreaterThan(0);
  });

  test('when the run fails on a bad input, then it says which field', async () => {
    const i = env.input({ deployment: { gate: { rules: ['AUC >> 0.8'] } } });
    const h = await startRetrain(env.t.client, i, { taskQueue: env.taskQueue, workflowId: uniqueId('life-bad') });
    const err = await h.result().catch((e: unknown) => e);
    expect(err).toBeInstanceOf(WorkflowFailedError);
    expect(String((err as WorkflowFailedError).cause?.message)).toMatch(/input\.deployment\.gate\.rules\[0\]/);
  });
});
