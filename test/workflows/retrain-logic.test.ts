/**
 * Workflow logic against a real Temporal server, with typed fake activities: ordering, cleanup on cancel and failure,
 * retries, the status query. End-to-end behaviour against the emulator lives in test/e2e.
 */
import { Context } from '@temporalio/activity';
import { ApplicationFailure } from '@temporalio/common';
import { WorkflowFailedError } from '@temporalio/client';
import type { Activities } from '../../activities';
import { FailureType } from '../../common/failures';
import type { ModelRef, RetrainAndUpdateInput, RetrainAndUpdateResult, UpdateResult } from '../../common/types';
import { statusQuery } from '../../workflows/queries';
import type { TemporalTestContext } from '../helpers/temporal';
import { connectTemporal, installQuietRuntime, uniqueId } from '../helpers/temporal';
import { lifecycleFakes } from './lifecycle-fakes';
import type { InProcessWorker } from '../helpers/temporal';
import { startInProcessWorker } from '../helpers/temporal';

interface Scenario {
  calls: string[];
  waitStatuses: ('Running' | 'Finished' | 'Failed')[];
  updateFailuresLeft: number;
  blockInTraining?: boolean;
}

const scenarios = new Map<string, Scenario>();
const scenario = () => scenarios.get(Context.current().info.workflowExecution!.workflowId)!;

const model: ModelRef = {
  source: { kind: 'storage', linkedServiceName: 'Storage', filePath: 'models/m.ilearner' },
  url: 'https://acct.blob.core.windows.net/models/m.ilearner',
  container: 'models',
  blobName: 'm.ilearner',
  etag: '"1"',
  contentLength: 10,
  lastModified: new Date(0).toISOString(),
};

// The model's way to the scoring services: fake prepare, apply and verify around the real scoring-service workflow.
const lifecycle = lifecycleFakes({
  prepare: (workflowId, { source }) => {
    scenarios.get(workflowId)!.calls.push(`prepare:${source.kind}`);
  },
  apply: (call) => {
    const s = scenarios.get(call.workflowId)!;
    s.calls.push(`update:${call.linkedServiceName}`);
    if (s.updateFailuresLeft > 0) {
      s.updateFailuresLeft--;
      throw ApplicationFailure.create({ type: FailureType.Throttled, message: 'throttled', nextRetryDelay: 10 });
    }
  },
});

const fakes: Activities = {
  submitTrainingJob: async () => {
    scenario().calls.push('submit');
    return { jobId: 'job1', adopted: false };
  },
  startTrainingJob: async () => {
    scenario().calls.push('start');
    return { started: true };
  },
  waitForTrainingJob: async () => {
    const s = scenario();
    s.calls.push('wait');
    if (s.blockInTraining) {
      // Heartbeat until cancelled, as the real poller does.
      for (;;) {
        Context.current().heartbeat();
        await Context.current().sleep(50);
      }
    }
    const next = s.waitStatuses.shift() ?? 'Finished';
    if (next === 'Failed') {
      throw ApplicationFailure.create({
        type: FailureType.BesJobFailed,
        nonRetryable: true,
        message: 'job1 failed: Module: Reader',
      });
    }
    const outputs: Record<string, string> = next === 'Finished' ? { output1: 'models/m.ilearner' } : {};
    return { status: next, outputs };
  },
  cancelTrainingJob: async ({ jobId }) => {
    scenario().calls.push(`cancel:${jobId}`);
  },
  locateTrainedModel: async ({ source }) => {
    scenario().calls.push(`locate:${source.kind}`);
    return { ...model, source };
  },
  updateScoringService: async ({ step }): Promise<UpdateResult> => {
    // Runs recorded before model identity replay this path; new runs deploy through the scoring service's workflow.
    scenario().calls.push(`legacy-update:${step.linkedServiceName}`);
    return {
      activityName: step.activityName,
      linkedServiceName: step.linkedServiceName,
      kind: 'classic',
      target: 'x',
      trainedModelName: step.trainedModelName,
      modelUrl: model.url,
      alreadyApplied: false,
    };
  },
  ...lifecycle.activities,
};

const input = (over: Partial<RetrainAndUpdateInput> = {}): RetrainAndUpdateInput => ({
  pipeline: 'logic',
  training: {
    activityName: 'train',
    linkedServiceName: 'Training',
    webServiceOutputs: { output1: { linkedServiceName: 'Storage', filePath: 'models/m.ilearner' } },
  },
  updates: [
    {
      activityName: 'updateA',
      linkedServiceName: 'ScoringA',
      trainedModelName: 'M [trained model]',
      trainedModelLinkedServiceName: 'Storage',
      trainedModelFilePath: 'models/m.ilearner',
    },
    { activityName: 'updateB', linkedServiceName: 'ScoringB', trainedModelName: 'M [trained model]' },
  ],
  options: { pollIntervalSeconds: 0.05, searchAttributes: false },
  ...over,
});

describe('retrainAndUpdate workflow logic (real server, fake activities)', () => {
  let t: TemporalTestContext;
  let worker: InProcessWorker | undefined;
  const taskQueue = uniqueId('logic');

  beforeAll(async () => {
    installQuietRuntime();
    t = await connectTemporal();
    worker = await startInProcessWorker(t, taskQueue, fakes);
  });

  afterAll(async () => {
    await lifecycle.terminateServices(t.client);
    await worker?.stop();
    await t?.close();
  });

  async function start(id: string, s: Partial<Scenario>, over?: Partial<RetrainAndUpdateInput>) {
    const sc: Scenario = { calls: [], waitStatuses: ['Running', 'Finished'], updateFailuresLeft: 0, ...s };
    scenarios.set(id, sc);
    const handle = await t.client.workflow.start('retrainAndUpdate', {
      taskQueue,
      workflowId: id,
      args: [input(over)],
    });
    return { handle, sc };
  }

  test('when training finishes, then the model is located once per source and every service is updated', async () => {
    const { handle, sc } = await start(uniqueId('ok'), {});
    const result = (await handle.result()) as RetrainAndUpdateResult;
    expect(result.jobId).toBe('job1');
    expect(result.updates.map((u) => u.linkedServiceName).sort()).toEqual(['ScoringA', 'ScoringB']);
    expect(sc.calls.slice(0, 4)).toEqual(['submit', 'start', 'wait', 'wait']);
    expect(sc.calls.filter((c) => c.startsWith('prepare')).sort()).toEqual(['prepare:besOutput', 'prepare:storage']);
    expect(sc.calls.filter((c) => c.startsWith('update')).sort()).toEqual(['update:ScoringA', 'update:ScoringB']);
    // Each service was deployed through its scoring-service workflow and serves the run's model.
    expect(result.updates.map((u) => u.outcome)).toEqual(['Deployed', 'Deployed']);
    expect(result.updates.map((u) => u.liveModel?.jobId)).toEqual(['job1', 'job1']);
    expect([lifecycle.live.get('ScoringA'), lifecycle.live.get('ScoringB')]).toEqual(['job1', 'job1']);
    const status = await handle.query(statusQuery);
    expect(status).toMatchObject({ phase: 'Succeeded', jobId: 'job1', besStatus: 'Finished' });
    expect(status.updates.updateA).toMatchObject({ state: 'Succeeded', outcome: 'Deployed' });
  });

  test('when the BES job fails, then the run fails with BesJobFailed and nothing is updated', async () => {
    const { handle, sc } = await start(uniqueId('besfail'), { waitStatuses: ['Running', 'Failed'] });
    const err = await handle.result().catch((e: unknown) => e);
    expect(err).toBeInstanceOf(WorkflowFailedError);
    expect((err as WorkflowFailedError).cause?.cause).toMatchObject({ type: FailureType.BesJobFailed });
    expect(sc.calls.some((c) => c.startsWith('update') || c.startsWith('prepare') || c.startsWith('cancel'))).toBe(
      false,
    );
    const status = await handle.query(statusQuery);
    expect(status.phase).toBe('Failed');
    expect(status.besStatus).toBe('Failed');
    expect(status.besDetails).toContain('Module: Reader');
    expect(status.updates.updateA.state).toBe('Skipped');
  });

  test('when the run is cancelled while training, then the BES job is cancelled and nothing is updated', async () => {
    const { handle, sc } = await start(uniqueId('cancel'), { blockInTraining: true });
    for (let i = 0; i < 100 && !sc.calls.includes('wait'); i++) await new Promise((r) => setTimeout(r, 50));
    await handle.cancel();
    const err = await handle.result().catch((e: unknown) => e);
    expect(err).toBeInstanceOf(WorkflowFailedError);
    expect(sc.calls).toContain('cancel:job1');
    expect(sc.calls.some((c) => c.startsWith('update'))).toBe(false);
    expect((await handle.describe()).status.name).toBe('CANCELLED');
    expect((await handle.query(statusQuery)).phase).toBe('Cancelled');
  });

  test('when an update fails once with a retryable failure, then it is retried and the run succeeds', async () => {
    const { handle, sc } = await start(uniqueId('retry'), { updateFailuresLeft: 1 });
    await handle.result();
    expect(sc.calls.filter((c) => c.startsWith('update')).length).toBe(3);
  });

  test('when an update gives only one of trainedModelLinkedServiceName and trainedModelFilePath, then the run fails with ConfigError before any call', async () => {
    const bad = input();
    bad.updates[1] = { ...bad.updates[1], trainedModelFilePath: 'models/m.ilearner' };
    const { handle, sc } = await start(uniqueId('badinput'), {}, { updates: bad.updates });
    const err = await handle.result().catch((e: unknown) => e);
    expect((err as WorkflowFailedError).cause).toMatchObject({ type: FailureType.ConfigError });
    expect((err as WorkflowFailedError).cause?.message).toContain('input.updates[1]');
    expect(sc.calls).toEqual([]);
  });
});
