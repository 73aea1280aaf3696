// Over 450 lines: one corpus of ADF pipelines on one worker; each case is a few lines of pipeline and verdict.
/**
 * The pipeline engine on a real Temporal server with fake activities: a corpus of ADF pipelines (parsed by the real
 * parser) for every dependsOn condition, Skipped propagation, AND/OR, Inactive, the leaf rule (try-catch,
 * do-if-else, do-if-skip-else, generic error handling), policy retry and timeout, Fail/Wait/SetVariable,
 * expressions, secureInput/secureOutput, parameters, recovery (rerun from failure) and cancellation.
 */
import { Context } from '@temporalio/activity';
import { ApplicationFailure } from '@temporalio/common';
import { WorkflowFailedError } from '@temporalio/client';
import type { Activities, PipelineActivities } from '../../activities';
import { FailureType } from '../../common/failures';
import type {
  PipelineDefinition,
  RecoveryView,
  RunPipelineInput,
  RunPipelineResult,
} from '../../common/pipeline-definition';
import type { BatchExecutionStep, ModelRef, RunStatus } from '../../common/types';
import type { LinkedService } from '../../config/linked-services';
import { Diagnostics, formatDiagnostic } from '../../config/diagnostics';
import { parsePipeline } from '../../config/pipeline-parser';
import { Secret } from '../../config/secret';
import { recoveryQuery, statusQuery } from '../../workflows/queries';
import type { TemporalTestContext } from '../helpers/temporal';
import { connectTemporal, uniqueId } from '../helpers/temporal';
import { lifecycleFakes } from '../workflows/lifecycle-fakes';
import type { InProcessWorker } from '../helpers/temporal';
import { startInProcessWorker } from '../helpers/temporal';

interface Scenario {
  calls: string[];
  /** BES activity name → how many attempts fail (BesJobFailed) before one succeeds. */
  besFailures: Record<string, number>;
  /** BES activities whose job never finishes (heartbeats until cancelled). */
  block: string[];
  /** Update activities that fail (non-retryable). */
  failUpdates: string[];
  steps: Record<string, BatchExecutionStep>;
}

const scenarios = new Map<string, Scenario>();
const scenario = () => scenarios.get(Context.current().info.workflowExecution!.workflowId)!;
const definitions = new Map<string, PipelineDefinition>();

const model: ModelRef = {
  source: { kind: 'storage', linkedServiceName: 'Storage', filePath: 'models/m.ilearner' },
  url: 'https://acct.blob.core.windows.net/models/m.ilearner',
  container: 'models',
  blobName: 'm.ilearner',
  etag: '"1"',
  contentLength: 10,
  lastModified: new Date(0).toISOString(),
};

// The model's way to the scoring service: fake prepare, apply and verify around the real scoring-service workflow.
const lifecycle = lifecycleFakes({
  prepare: (workflowId, { source }) => {
    scenarios.get(workflowId)!.calls.push(`prepare:${source.kind === 'storage' ? source.filePath : source.outputName}`);
  },
  apply: (call) => {
    const s = scenarios.get(call.workflowId)!;
    s.calls.push(`update:${call.activityName}:${call.sourcePath}`);
    if (s.failUpdates.includes(call.activityName)) {
      throw ApplicationFailure.create({
        type: FailureType.TrainedModelResourceNotFound,
        nonRetryable: true,
        message: `no resource in ${call.activityName}`,
      });
    }
  },
});

let jobs = 0;
const fakes: Activities & PipelineActivities = {
  loadPipelineDefinition: async ({ pipeline }) => {
    const definition = definitions.get(pipeline);
    if (!definition) {
      throw ApplicationFailure.create({
        type: FailureType.ConfigError,
        nonRetryable: true,
        message: `pipeline '${pipeline}' not found`,
      });
    }
    return { definition };
  },
  submitTrainingJob: async ({ step }) => {
    const s = scenario();
    s.calls.push(`submit:${step.activityName}`);
    const jobId = `${step.activityName}-${++jobs}`;
    s.steps[jobId] = step;
    return { jobId, adopted: false };
  },
  startTrainingJob: async ({ jobId }) => {
    scenario().calls.push(`start:${jobId.split('-')[0]}`);
    return { started: true };
  },
  waitForTrainingJob: async ({ jobId }) => {
    const s = scenario();
    const step = s.steps[jobId];
    const name = step.activityName;
    if (s.block.includes(name)) {
      for (;;) {
        Context.current().heartbeat();
        await Context.current().sleep(50);
      }
    }
    if ((s.besFailures[name] ?? 0) > 0) {
      s.besFailures[name]--;
      s.calls.push(`fail:${name}`);
      throw ApplicationFailure.create({
        type: FailureType.BesJobFailed,
        nonRetryable: true,
        message: `job ${jobId} failed: Error 0001`,
      });
    }
    const outputs: Record<string, string> = {};
    for (const [port, f] of Object.entries(step.webServiceOutputs ?? {})) outputs[port] = f.filePath;
    return { status: 'Finished', outputs };
  },
  cancelTrainingJob: async ({ jobId }) => {
    scenario().calls.push(`cancel:${jobId.split('-')[0]}`);
  },
  locateTrainedModel: async ({ source }) => {
    scenario().calls.push(`locate:${source.kind === 'storage' ? source.filePath : source.outputName}`);
    return { ...model, source };
  },
  updateScoringService: async ({ step }) => {
    // Runs recorded before model identity replay this path; new runs deploy through the scoring service's workflow.
    scenario().calls.push(`legacy-update:${step.activityName}`);
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

const linkedServices = new Map<string, LinkedService>([
  [
    'training',
    {
      kind: 'AzureML',
      name: 'Training',
      file: 'ls/Training.json',
      mlEndpoint: 'https://h/jobs',
      apiKey: new Secret('k1'),
    },
  ],
  [
    'scoring',
    {
      kind: 'AzureML',
      name: 'Scoring',
      file: 'ls/Scoring.json',
      mlEndpoint: 'https://h/jobs',
      apiKey: new Secret('k2'),
      updateResourceEndpoint: 'https://management.azureml.net/workspaces/w/webservices/s/endpoints/e',
    },
  ],
  [
    'storage',
    {
      kind: 'Storage',
      type: 'AzureStorage',
      name: 'Storage',
      file: 'ls/Storage.json',
      connectionString: new Secret('UseDevelopmentStorage=true'),
    },
  ],
]);

// ---- pipeline builders (ADF JSON, as users write it) ----------------------------------------------------------------
type Dep = [string, ...string[]];
const ref = (n: string) => ({ referenceName: n, type: 'LinkedServiceReference' });
const deps = (d: Dep[]) => d.map(([activity, ...dependencyConditions]) => ({ activity, dependencyConditions }));
const bes = (name: string, d: Dep[] = [], extra: Record<string, unknown> = {}) => ({
  name,
  type: 'AzureMLBatchExecution',
  linkedServiceName: ref('Training'),
  dependsOn: deps(d),
  typeProperties: {
    webServiceInputs: { input1: { LinkedServiceName: ref('Storage'), FilePath: 'data/in/train.csv' } },
    webServiceOutputs: { output1: { LinkedServiceName: ref('Storage'), FilePath: `models/${name}.ilearner` } },
  },
  ...extra,
});
const upd = (
  name: string,
  d: Dep[],
  filePath: unknown = 'models/Main.ilearner',
  extra: Record<string, unknown> = {},
) => ({
  name,
  type: 'AzureMLUpdateResource',
  linkedServiceName: ref('Scoring'),
  dependsOn: deps(d),
  typeProperties: {
    trainedModelName: 'M [trained model]',
    trainedModelLinkedServiceName: ref('Storage'),
    trainedModelFilePath: filePath,
  },
  ...extra,
});
const wait = (name: string, d: Dep[] = [], seconds: unknown = 0) => ({
  name,
  type: 'Wait',
  dependsOn: deps(d),
  typeProperties: { waitTimeInSeconds: seconds },
});
const fail = (name: string, d: Dep[] = []) => ({
  name,
  type: 'Fail',
  dependsOn: deps(d),
  typeProperties: { message: "@concat('gave up on ', pipeline().Pipeline)", errorCode: '418' },
});

function define(activities: unknown[], properties: Record<string, unknown> = {}): string {
  const name = uniqueId('P').replace(/-/g, '_');
  const d = new Diagnostics();
  const { definition } = parsePipeline(
    `pipeline/${name}.json`,
    { name, properties: { activities, ...properties } },
    linkedServices,
    d,
  );
  if (!definition) throw new Error(d.errors.map(formatDiagnostic).join('\n'));
  definitions.set(name, definition);
  return name;
}

describe('runPipeline engine (real server, fake activities)', () => {
  let t: TemporalTestContext;
  let worker: InProcessWorker | undefined;
  const taskQueue = uniqueId('engine');

  beforeAll(async () => {
    t = await connectTemporal();
    worker = await startInProcessWorker(t, taskQueue, fakes);
  });

  afterAll(async () => {
    await lifecycle.terminateServices(t.client);
    await worker?.stop();
    await t?.close();
  });

  async function start(pipeline: string, s: Partial<Scenario> = {}, input: Partial<RunPipelineInput> = {}) {
    const id = uniqueId('run');
    const sc: Scenario = { calls: [], besFailures: {}, block: [], failUpdates: [], steps: {}, ...s };
    scenarios.set(id, sc);
    const handle = await t.client.workflow.start('runPipeline', {
      taskQueue,
      workflowId: id,
      args: [{ pipeline, options: { pollIntervalSeconds: 0.05, searchAttributes: false }, ...input }],
    });
    return { handle, sc };
  }

  /** Run to the end: the ADF statuses by activity, the run status, and the failure if the run failed. */
  async function run(pipeline: string, s: Partial<Scenario> = {}, input: Partial<RunPipelineInput> = {}) {
    const { handle, sc } = await start(pipeline, s, input);
    const outcome = await handle.result().then(
      (r: RunPipelineResult) => ({ result: r, error: undefined }),
      (e: unknown) => ({ result: undefined, error: e as WorkflowFailedError }),
    );
    const status: RunStatus = await handle.query(statusQuery);
    const by = Object.fromEntries(status.activityRuns.map((r) => [r.activityName, r.status]));
    return { ...outcome, status, by, calls: sc.calls, handle };
  }

  const innermost = (e: unknown) => {
    let x = e as { cause?: unknown; type?: string; message?: string };
    while (x.cause) x = x.cause;
    return x;
  };

  test('Succeeded: when Main succeeds, then its Succeeded dependent runs and the run succeeds', async () => {
    const p = define([bes('Main'), upd('Update', [['Main', 'Succeeded']])]);
    const r = await run(p);
    expect(r.by).toEqual({ Main: 'Succeeded', Update: 'Succeeded' });
    expect(r.result?.runStatus).toBe('Succeeded');
    expect(r.calls).toEqual([
      'submit:Main',
      'start:Main',
      'prepare:models/Main.ilearner',
      'update:Update:models/Main.ilearner',
    ]);
    expect(r.status).toMatchObject({ phase: 'Succeeded', runStatus: 'Succeeded', besStatus: 'Finished' });
    // Deployed through the scoring service's workflow, verified, and the (fake) service serves Main's model.
    expect(r.status.updates.Update).toMatchObject({ state: 'Succeeded', outcome: 'Deployed' });
    expect(lifecycle.live.get('Scoring')).toBe(r.status.jobId);
  });

  test('Failed + Skipped propagation: when Main fails, then X→Y→Z on Succeeded are all Skipped and the run fails on Main', async () => {
    const p = define([bes('Main'), wait('Y', [['Main', 'Succeeded']]), wait('Z', [['Y', 'Succeeded']])]);
    const r = await run(p, { besFailures: { Main: 1 } });
    expect(r.by).toEqual({ Main: 'Failed', Y: 'Skipped', Z: 'Skipped' });
    expect(r.status.runStatus).toBe('Failed');
    expect(r.error).toBeInstanceOf(WorkflowFailedError);
    expect(r.error?.cause).toMatchObject({ type: FailureType.PipelineFailed });
    expect(r.error?.cause?.message).toMatch(/^Operation on target Main failed: /);
    expect(innermost(r.error)).toMatchObject({ type: FailureType.BesJobFailed });
    const main = r.status.activityRuns[0];
    expect(main.error).toMatchObject({ errorCode: '2600', failureType: 'UserError', target: 'Main' });
    expect(main.error?.message).toContain('Error 0001');
  });

  test('Try-catch: when Main fails and its Failed handler succeeds, then the run succeeds', async () => {
    const p = define([bes('Main'), wait('Handler', [['Main', 'Failed']])]);
    const failed = await run(p, { besFailures: { Main: 1 } });
    expect(failed.by).toEqual({ Main: 'Failed', Handler: 'Succeeded' });
    expect(failed.result?.runStatus).toBe('Succeeded');
    const ok = await run(p);
    expect(ok.by).toEqual({ Main: 'Succeeded', Handler: 'Skipped' });
    expect(ok.result?.runStatus).toBe('Succeeded');
  });

  test('Do-if-else: when Main fails, then OnFail runs, OnOk is Skipped and the run still fails', async () => {
    const p = define([bes('Main'), wait('OnOk', [['Main', 'Succeeded']]), wait('OnFail', [['Main', 'Failed']])]);
    const r = await run(p, { besFailures: { Main: 1 } });
    expect(r.by).toEqual({ Main: 'Failed', OnOk: 'Skipped', OnFail: 'Succeeded' });
    expect(r.status.runStatus).toBe('Failed');
    const ok = await run(p);
    expect(ok.by).toEqual({ Main: 'Succeeded', OnOk: 'Succeeded', OnFail: 'Skipped' });
    expect(ok.result?.runStatus).toBe('Succeeded');
  });

  test('Do-if-skip-else: when Main fails, then OnFail and the Skipped-path Dummy run and the run succeeds', async () => {
    const p = define([
      bes('Main'),
      wait('OnOk', [['Main', 'Succeeded']]),
      wait('OnFail', [['Main', 'Failed']]),
      wait('Dummy', [['OnOk', 'Skipped']]),
    ]);
    const r = await run(p, { besFailures: { Main: 1 } });
    expect(r.by).toEqual({ Main: 'Failed', OnOk: 'Skipped', OnFail: 'Succeeded', Dummy: 'Succeeded' });
    expect(r.result?.runStatus).toBe('Succeeded');
    const ok = await run(p);
    expect(ok.by).toEqual({ Main: 'Succeeded', OnOk: 'Succeeded', OnFail: 'Skipped', Dummy: 'Skipped' });
    expect(ok.result?.runStatus).toBe('Succeeded');
  });

  test('Completed: when Main fails or succeeds, then the Completed dependent runs either way (and not after a skip)', async () => {
    const p = define([
      bes('Main'),
      wait('Always', [['Main', 'Completed']]),
      wait('Skip', [['Main', 'Skipped']]),
      wait('AfterSkip', [['Skip', 'Completed']]),
    ]);
    const r = await run(p, { besFailures: { Main: 1 } });
    expect(r.by).toEqual({ Main: 'Failed', Always: 'Succeeded', Skip: 'Skipped', AfterSkip: 'Skipped' });
    // Leaves: Always (Succeeded) and AfterSkip → Skip → Main (Failed): the run fails.
    expect(r.status.runStatus).toBe('Failed');
    const ok = await run(p);
    expect(ok.by).toEqual({ Main: 'Succeeded', Always: 'Succeeded', Skip: 'Skipped', AfterSkip: 'Skipped' });
    expect(ok.result?.runStatus).toBe('Succeeded');
  });

  test('Generic error handling: when B of A→B→C fails, then the [Failed, Skipped] handler on C runs and the run succeeds', async () => {
    const p = define([
      wait('A'),
      bes('B', [['A', 'Succeeded']]),
      wait('C', [['B', 'Succeeded']]),
      wait('OnError', [['C', 'Failed', 'Skipped']]),
    ]);
    const r = await run(p, { besFailures: { B: 1 } });
    expect(r.by).toEqual({ A: 'Succeeded', B: 'Failed', C: 'Skipped', OnError: 'Succeeded' });
    expect(r.result?.runStatus).toBe('Succeeded');
  });

  test('AND across entries, OR within one: a dependent needs every entry to hold', async () => {
    const p = define([
      bes('A'),
      bes('B'),
      wait('Both', [
        ['A', 'Succeeded'],
        ['B', 'Succeeded'],
      ]),
      wait('AOkBFailed', [
        ['A', 'Succeeded'],
        ['B', 'Failed'],
      ]),
      wait('Either', [['B', 'Failed', 'Succeeded']]),
    ]);
    const r = await run(p, { besFailures: { B: 1 } });
    expect(r.by).toEqual({
      A: 'Succeeded',
      B: 'Failed',
      Both: 'Skipped',
      AOkBFailed: 'Succeeded',
      Either: 'Succeeded',
    });
    // Independent A and B both ran (in parallel: neither depends on the other).
    expect(r.calls.filter((c) => c.startsWith('submit')).sort()).toEqual(['submit:A', 'submit:B']);
    // Leaves: AOkBFailed and Either succeeded, Both skipped → A (ok) and B (failed): the run fails.
    expect(r.status.runStatus).toBe('Failed');
  });

  test('Inactive: it does not run, shows Inactive, and counts as its onInactiveMarkAs for dependents', async () => {
    const p = define([
      { ...bes('Off'), state: 'Inactive', onInactiveMarkAs: 'Failed' },
      wait('OnFail', [['Off', 'Failed']]),
      wait('OnOk', [['Off', 'Succeeded']]),
      { ...upd('Incomplete', []), state: 'Inactive', typeProperties: {} },
    ]);
    const r = await run(p);
    expect(r.by).toEqual({ Off: 'Inactive', OnFail: 'Succeeded', OnOk: 'Skipped', Incomplete: 'Inactive' });
    expect(r.calls).toEqual([]);
    // Leaf OnOk is Skipped, so its parent decides: Off counts as Failed (the do-if-else shape), so the run fails.
    expect(r.status.runStatus).toBe('Failed');
    expect(r.error?.cause?.message).toBe("Operation on target Off failed: activity 'Off' is marked Failed");
  });

  test('policy.retry: when the first attempt fails, then the whole activity runs again (a new BES job) after the interval', async () => {
    const p = define(
      [bes('Main', [], { policy: { retry: 1, retryIntervalInSeconds: '@pipeline().parameters.interval' } })],
      {
        parameters: { interval: { type: 'Int', defaultValue: 1 } },
      },
    );
    const r = await run(p, { besFailures: { Main: 1 } });
    expect(r.calls.filter((c) => c.startsWith('submit'))).toEqual(['submit:Main', 'submit:Main']);
    expect(r.by.Main).toBe('Succeeded');
    expect(r.status.activityRuns[0].attempt).toBe(2);
  });

  test('policy.timeout: when an attempt runs past its timeout, then the BES job is DELETEd and the activity fails as timed out', async () => {
    const p = define([bes('Main', [], { policy: { timeout: '0.00:00:02' } }), wait('After', [['Main', 'Succeeded']])]);
    const r = await run(p, { block: ['Main'] });
    expect(r.calls).toContain('cancel:Main');
    expect(r.by).toEqual({ Main: 'Failed', After: 'Skipped' });
    expect(r.status.activityRuns[0].error).toMatchObject({ errorCode: FailureType.ActivityTimedOut });
    expect(innermost(r.error)).toMatchObject({ type: FailureType.ActivityTimedOut });
  });

  test('Fail: the run fails with the activity’s own errorCode and evaluated message', async () => {
    const p = define([wait('First'), fail('Stop', [['First', 'Succeeded']])]);
    const r = await run(p);
    expect(r.status.activityRuns[1].error).toEqual({
      errorCode: '418',
      message: `gave up on ${p}`,
      failureType: 'UserError',
      target: 'Stop',
    });
    expect(innermost(r.error)).toMatchObject({ type: FailureType.FailActivity, message: `gave up on ${p}` });
  });

  test('expressions: paths built from parameters, RunId and an upstream output are evaluated once, when each activity starts', async () => {
    const p = define(
      [
        {
          ...bes('Main'),
          typeProperties: {
            webServiceInputs: {
              input1: {
                linkedServiceName: ref('Storage'),
                filePath: '@{pipeline().parameters.container}/in/train.csv',
              },
            },
            webServiceOutputs: {
              output1: {
                linkedServiceName: ref('Storage'),
                filePath: {
                  type: 'Expression',
                  value: "@concat(pipeline().parameters.container, '/', pipeline().RunId, '.ilearner')",
                },
              },
            },
            globalParameters: {
              'Run date': "@formatDateTime(utcnow(), 'yyyy-MM-dd')",
              Rows: '@pipeline().parameters.rows',
            },
          },
        },
        upd('Update', [['Main', 'Succeeded']], "@activity('Main').output.outputs.output1.filePath"),
        {
          name: 'Note',
          type: 'SetVariable',
          dependsOn: deps([['Update', 'Succeeded']]),
          typeProperties: { variableName: 'v', value: "@concat('job ', activity('Main').output.jobId)" },
        },
        wait('Echo', [['Note', 'Succeeded']], "@length(variables('v'))"),
      ],
      {
        parameters: { container: { type: 'String', defaultValue: 'models' }, rows: { type: 'Int' } },
        variables: { v: { type: 'String' } },
      },
    );
    const r = await run(p, {}, { parameters: { rows: '12' }, runId: 'run-0001' });
    expect(r.by).toEqual({ Main: 'Succeeded', Update: 'Succeeded', Note: 'Succeeded', Echo: 'Succeeded' });
    const step = Object.values(scenarios.get(r.handle.workflowId)!.steps)[0];
    expect(step.webServiceInputs?.input1.filePath).toBe('models/in/train.csv');
    expect(step.webServiceOutputs?.output1.filePath).toBe('models/run-0001.ilearner');
    expect(step.globalParameters).toEqual({ 'Run date': expect.stringMatching(/^\d{4}-\d{2}-\d{2}$/), Rows: 12 });
    expect(r.calls).toContain('update:Update:models/run-0001.ilearner');
    expect(r.status.activityRuns[2].output).toEqual({ value: expect.stringMatching(/^job Main-\d+$/) });
    expect(r.status.activityRuns[0].input).toMatchObject({
      webServiceOutputs: { output1: { filePath: 'models/run-0001.ilearner' } },
    });
  });

  test('secureInput/secureOutput: the status view masks them, downstream expressions still see the output', async () => {
    const p = define([
      bes('Main', [], { policy: { secureInput: true, secureOutput: true } }),
      upd('Update', [['Main', 'Succeeded']], "@activity('Main').output.outputs.output1.filePath"),
    ]);
    const r = await run(p);
    expect(r.status.activityRuns[0]).toMatchObject({ status: 'Succeeded', input: '**********', output: '**********' });
    expect(r.calls).toContain('update:Update:models/Main.ilearner');
  });

  test('parameters: a required parameter without a value fails the run with ConfigError before any activity', async () => {
    const p = define([wait('W')], { parameters: { needed: { type: 'String' } } });
    const r = await run(p);
    expect(r.error?.cause).toMatchObject({ type: FailureType.ConfigError });
    expect(r.error?.cause?.message).toContain("parameter 'needed' has no defaultValue");
    const undeclared = await run(p, {}, { parameters: { needed: 'x', extra: 1 } });
    expect(undeclared.error?.cause?.message).toContain("parameter 'extra' is not declared");
  });

  test('recovery: a rerun reuses what succeeded (no new BES job) and runs the failed update and its downstream', async () => {
    const p = define([
      bes('Main'),
      upd('Update', [['Main', 'Succeeded']]),
      wait('After', [['Update', 'Succeeded']]),
      wait('OnFail', [['Update', 'Failed']]),
    ]);
    const first = await run(p, { failUpdates: ['Update'] });
    expect(first.by).toEqual({ Main: 'Succeeded', Update: 'Failed', After: 'Skipped', OnFail: 'Succeeded' });
    const view: RecoveryView = await first.handle.query(recoveryQuery);
    const second = await run(
      p,
      {},
      {
        recovery: {
          referenceWorkflowId: first.handle.workflowId,
          referenceRunId: view.runId,
          groupId: view.groupId,
          activities: view.activities,
        },
      },
    );
    expect(second.calls.filter((c) => c.startsWith('submit'))).toEqual([]);
    expect(second.calls).toContain('update:Update:models/Main.ilearner');
    expect(second.by).toEqual({ Main: 'Succeeded', Update: 'Succeeded', After: 'Succeeded', OnFail: 'Skipped' });
    expect(second.status.activityRuns[0].reused).toBe(true);
    expect(second.status.jobId).toBe(first.status.jobId);
    expect(second.result?.groupId).toBe(view.groupId);
  });

  test('cancel: when the run is cancelled while training, then the job is DELETEd, nothing else starts and the run ends Cancelled', async () => {
    const p = define([bes('Main'), upd('Update', [['Main', 'Succeeded']]), wait('Always', [['Main', 'Completed']])]);
    const { handle, sc } = await start(p, { block: ['Main'] });
    for (let i = 0; i < 100 && !sc.calls.includes('start:Main'); i++) await new Promise((r) => setTimeout(r, 50));
    await handle.cancel();
    await handle.result().catch(() => undefined);
    expect((await handle.describe()).status.name).toBe('CANCELLED');
    const status = await handle.query(statusQuery);
    expect(sc.calls).toContain('cancel:Main');
    expect(sc.calls.some((c) => c.startsWith('update'))).toBe(false);
    expect(status.runStatus).toBe('Cancelled');
    expect(Object.fromEntries(status.activityRuns.map((a) => [a.activityName, a.status]))).toEqual({
      Main: 'Cancelled',
      Update: 'Cancelled',
      Always: 'Cancelled',
    });
  });

  test('definition in the input: when the starter passes the parsed definition, then the run uses it and loads nothing', async () => {
    const p = define([bes('Main'), upd('Update', [['Main', 'Succeeded']])]);
    const definition = definitions.get(p)!;
    // Not loadable any more: only the definition in the input can make this run succeed.
    definitions.delete(p);
    const r = await run(p, {}, { definition });
    expect(r.by).toEqual({ Main: 'Succeeded', Update: 'Succeeded' });
    expect(r.result?.pipeline).toBe(p);
    const history = await r.handle.fetchHistory();
    const scheduled = (history.events ?? []).map((e) => e.activityTaskScheduledEventAttributes?.activityType?.name);
    expect(scheduled).not.toContain('loadPipelineDefinition');
    expect(scheduled).toContain('submitTrainingJob');
  });

  test('definition in the input: when it is another pipeline than input.pipeline, then the run fails with ConfigError before any activity', async () => {
    const p = define([wait('W')]);
    const other = define([wait('V')]);
    const r = await run(p, {}, { definition: definitions.get(other)! });
    expect(innermost(r.error)).toMatchObject({ type: FailureType.ConfigError });
    expect(innermost(r.error).message).toContain(
      `input.definition is pipeline '${other}', but input.pipeline is '${p}'`,
    );
    expect(r.status.activityRuns).toEqual([]);
  });

  test('activity runs carry start, end and duration', async () => {
    const p = define([wait('W', [], 1)]);
    const r = await run(p);
    const w = r.status.activityRuns[0];
    expect(w.durationMs).toBeGreaterThanOrEqual(1000);
    expect(Date.parse(w.end!) - Date.parse(w.start!)).toBe(w.durationMs);
  });
});
