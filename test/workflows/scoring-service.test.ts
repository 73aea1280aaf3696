/**
 * The scoring-service workflow over many deployments: it continues-as-new before its history grows large and carries
 * the live model, lineage and processed requests across, so that deployments after the boundary (some of them
 * concurrent, arriving while it continues) still leave the newest model live, never re-apply an older one, and a
 * rollback after it restores the model live before. Real Temporal server; the service itself is a fake `applyModel`
 * and `verifyModel` that keep a world of their own (what is live, every apply in order).
 */
import { ApplicationFailure } from '@temporalio/common';
import type { ApplyModelInput } from '../../activities/update';
import { startOperation } from '../../activities/scoring-service';
import { DEFAULT_VERIFICATION } from '../../common/deployment';
import { FailureType } from '../../common/failures';
import { scoringServiceWorkflowId } from '../../common/models';
import type { DeployOutcome, DeployRequest, ServiceView, TrainedModel } from '../../common/models';
import { deployUpdate, rollbackUpdate, serviceQuery } from '../../workflows/queries';
import type { TemporalTestContext } from '../helpers/temporal';
import { connectTemporal, installQuietRuntime, uniqueId } from '../helpers/temporal';
import type { InProcessWorker } from '../helpers/temporal';
import { startInProcessWorker } from '../helpers/temporal';

const MAX_HISTORY_EVENTS = 120;

/** The fake service: the job of the model it serves, and every apply in order. */
const world = { live: null as string | null, applied: [] as string[], broken: new Set<string>() };
const jobOf = (input: ApplyModelInput) =>
  input.location.kind === 'storage' ? input.location.filePath.split('/')[1] : String(input.location.jobId);

const activities = {
  async applyModel(input: ApplyModelInput) {
    world.live = jobOf(input);
    world.applied.push(world.live);
    return {
      kind: 'classic' as const,
      target: 'fake',
      modelUrl: `https://acct.blob.example/${input.location.kind}`,
      alreadyApplied: false,
    };
  },
  async verifyModel(input: { expectJobId: string | null }) {
    if (world.live && world.broken.has(world.live)) {
      throw ApplicationFailure.create({
        type: FailureType.VerificationFailed,
        nonRetryable: true,
        message: `scoring answered 500 with ${world.live} live`,
      });
    }
    if (world.live !== input.expectJobId) {
      throw ApplicationFailure.create({
        type: FailureType.VerificationFailed,
        nonRetryable: true,
        message: `serves ${world.live}, not ${input.expectJobId}`,
      });
    }
    return { how: 'identity' as const, observed: world.live, calls: 1, ms: 0 };
  },
};

/** Model n: trained at second n, so a higher n is newer. */
function model(n: number): TrainedModel {
  const job = `job${String(n).padStart(3, '0')}`;
  const trainedAt = new Date(Date.UTC(2026, 0, 1, 0, 0, n)).toISOString();
  const filePath = `models/${job}/model.ilearner`;
  return {
    source: { kind: 'storage', linkedServiceName: 'Storage', filePath },
    url: `https://acct.blob.example/${filePath}`,
    container: 'models',
    blobName: `${job}/model.ilearner`,
    etag: `"${job}"`,
    contentLength: 10,
    lastModified: trainedAt,
    identity: { key: `${job}.x`, jobId: job, etag: `"${job}"`, contentMd5: null, trainedAt },
    pinned: { linkedServiceName: 'Storage', filePath, url: `https://acct.blob.example/${filePath}`, etag: `"${job}"` },
    metrics: null,
  };
}

describe('scoring-service workflow: continue-as-new keeps the invariant', () => {
  let t: TemporalTestContext;
  let worker: InProcessWorker | undefined;
  const taskQueue = uniqueId('svc');
  const serviceKey = uniqueId('svc-key');
  const workflowId = scoringServiceWorkflowId(serviceKey);
  const orphanedKey = uniqueId('svc-orphaned');
  const freshKey = uniqueId('svc-fresh');

  beforeAll(async () => {
    installQuietRuntime();
    t = await connectTemporal();
    worker = await startInProcessWorker(t, taskQueue, activities);
  });

  afterAll(async () => {
    for (const id of [workflowId, scoringServiceWorkflowId(orphanedKey), scoringServiceWorkflowId(freshKey)]) {
      await t.client.workflow
        .getHandle(id)
        .terminate('test finished')
        .catch(() => undefined);
    }
    await worker?.stop();
    await t?.close();
  });

  /** Request ids by model number, to send one again. */
  const ids: Record<number, string> = {};
  const deploy = (
    n: number,
    requestId = uniqueId(`deploy-${n}`),
    to = { serviceKey, taskQueue, requestStartTimeoutMs: undefined as number | undefined },
  ): Promise<DeployOutcome> => {
    ids[n] ??= requestId;
    const request: DeployRequest = {
      requestId,
      requester: { workflowId: `run-${n}`, runId: 'r', pipeline: 'p', activityName: 'update', taskQueue: to.taskQueue },
      linkedServiceName: 'Scoring',
      trainedModelName: 'M [trained model]',
      model: model(n),
      approval: null,
      relativeRules: [],
      verification: { ...DEFAULT_VERIFICATION, intervalSeconds: 0.05 },
    };
    return t.client.workflow.executeUpdateWithStart(deployUpdate, {
      args: [request],
      updateId: request.requestId,
      startWorkflowOperation: startOperation(to.serviceKey, taskQueue, MAX_HISTORY_EVENTS, to.requestStartTimeoutMs),
    });
  };

  const runsOf = async (): Promise<number> => {
    let n = 0;
    for await (const _ of t.client.workflow.list({ query: `WorkflowId = '${workflowId}'` })) n++;
    return n;
  };

  test('when deployments outlast several histories, then the newest model is live, each applied once, in order, and rollback still works', async () => {
    const outcomes: DeployOutcome[] = [];
    for (let n = 1; n <= 12; n++) outcomes.push(await deploy(n));
    // Some at once, one of them older than the rest: the newer ones win, the older one is Superseded.
    const burst = await Promise.all([deploy(15), deploy(13), deploy(16), deploy(14), deploy(17)]);
    outcomes.push(...burst);

    // The world: the newest model is live; no model was applied after a newer one.
    expect(world.live).toBe('job017');
    const order = world.applied.map((j) => Number(j.slice(3)));
    expect(order).toEqual([...order].sort((a, b) => a - b));
    expect(new Set(order).size).toBe(order.length);
    expect(order.slice(0, 12)).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12]);
    expect(outcomes.slice(0, 12).map((o) => o.outcome)).toEqual(Array(12).fill('Deployed'));
    for (const [i, o] of burst.entries()) {
      const n = [15, 13, 16, 14, 17][i];
      expect([n, o.outcome]).toEqual([n, order.includes(n) ? 'Deployed' : 'Superseded']);
    }

    // It did continue-as-new (more than one run), and the state came along.
    let runs = 0;
    for (let i = 0; i < 100 && runs < 2; i++) {
      runs = await runsOf();
      if (runs < 2) await new Promise((r) => setTimeout(r, 100));
    }
    expect(runs).toBeGreaterThanOrEqual(2);
    const view: ServiceView = await t.client.workflow.getHandle(workflowId).query(serviceQuery);
    expect(view.live['M [trained model]']?.identity.jobId).toBe('job017');
    expect(view.lineage.map((e) => e.identity.jobId)).toEqual(order.map((n) => `job${String(n).padStart(3, '0')}`));

    // After the boundary: a retried request (an id seen before) is answered from memory, and an older model under a
    // new id is Superseded; neither applies anything.
    const applies = world.applied.length;
    const retried = await deploy(12, ids[12]);
    expect(retried.outcome).toBe('Deployed');
    const older = await deploy(2, uniqueId('late'));
    expect(older.outcome).toBe('Superseded');
    expect(world.applied.length).toBe(applies);
    expect(world.live).toBe('job017');

    // Rollback after the boundary restores the model live before the current one.
    const previous = order[order.length - 2];
    const rbId = uniqueId('rb');
    const rb = await t.client.workflow.executeUpdateWithStart(rollbackUpdate, {
      args: [
        {
          requestId: rbId,
          linkedServiceName: 'Scoring',
          by: 'ops',
          reason: 'test',
          taskQueue,
          verification: { ...DEFAULT_VERIFICATION, intervalSeconds: 0.05 },
        },
      ],
      updateId: rbId,
      startWorkflowOperation: startOperation(serviceKey, taskQueue, MAX_HISTORY_EVENTS),
    });
    expect(rb.outcome).toBe('RolledBack');
    expect(world.live).toBe(`job${String(previous).padStart(3, '0')}`);
  });

  test('when a request comes from a task queue no worker polls, then it is given up after its start timeout and the next request deploys', async () => {
    const started = Date.now();
    const orphaned = await deploy(40, uniqueId('orphan'), {
      serviceKey: orphanedKey,
      taskQueue: uniqueId('retired-queue'),
      requestStartTimeoutMs: 1500,
    });
    expect(orphaned.outcome).toBe('Failed');
    expect(orphaned.error?.type).toBe('NoWorker');
    expect(orphaned.message).toMatch(
      /no worker polled task queue 'retired-queue-\w+' for 2 s: the request was given up/,
    );
    expect(Date.now() - started).toBeLessThan(30_000);
    expect(world.applied).not.toContain('job040');

    const next = await deploy(41, uniqueId('next'), {
      serviceKey: orphanedKey,
      taskQueue,
      requestStartTimeoutMs: 1500,
    });
    expect(next.outcome).toBe('Deployed');
    expect(world.live).toBe('job041');
  });

  test('when the first models on a service fail verification, then none of them is restored later; a good one is, after it', async () => {
    const to = { serviceKey: freshKey, taskQueue, requestStartTimeoutMs: undefined };
    world.broken = new Set(['job050', 'job051', 'job053']);
    const applied = world.applied.length;
    const first = await deploy(50, uniqueId('b'), to);
    expect(first.outcome).toBe('Failed');
    expect(first.message).toMatch(/no earlier good model is recorded/);
    const second = await deploy(51, uniqueId('b'), to);
    expect(second.outcome).toBe('Failed');
    // The broken first model was not put back.
    expect(world.applied.slice(applied)).toEqual(['job050', 'job051']);
    expect((await deploy(52, uniqueId('g'), to)).outcome).toBe('Deployed');
    const fourth = await deploy(53, uniqueId('b'), to);
    expect(fourth.outcome).toBe('RolledBack');
    expect(world.applied.slice(applied)).toEqual(['job050', 'job051', 'job052', 'job053', 'job052']);
    expect(world.live).toBe('job052');
  });
});
