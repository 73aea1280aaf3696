import { ApplicationFailure, CancelledFailure, setHandler, uuid4, workflowInfo } from '@temporalio/workflow';
import { defineSearchAttributeKey, SearchAttributeType } from '@temporalio/common';
import { evaluateValue, ExpressionError, isExpression, SystemObject } from '../common/expressions';
import { FailureType } from '../common/failures';
import { jsonBytes, PAYLOAD_LIMIT_BYTES, payloadTooLargeMessage } from '../common/limits';
import type { PipelineDefinition, RunPipelineInput, RunPipelineResult } from '../common/pipeline-definition';
import { DEFAULT_POLL_SECONDS, newRunStatus, messageOf, PipelineEngine } from './engine';
import { loaderCalls } from './engine/activity-options';
import { configError } from './engine/run-errors';
import { recoveryQuery, statusQuery } from './queries';

/** Set by Temporal on runs a Schedule starts: the nominal fire time, i.e. ADF's `@trigger().scheduledTime`. */
const ScheduledStartTime = defineSearchAttributeKey('TemporalScheduledStartTime', SearchAttributeType.DATETIME);

function coerce(name: string, type: string, v: unknown): unknown {
  const bad = () => configError(`parameter '${name}' is declared ${type}, got ${JSON.stringify(v)}`);
  switch (type.toLowerCase()) {
    case 'string':
    case 'securestring':
      if (typeof v === 'string') return v;
      if (typeof v === 'number' || typeof v === 'boolean') return String(v);
      throw bad();
    case 'int':
      if (typeof v === 'number' && Number.isInteger(v)) return v;
      if (typeof v === 'string' && /^\s*-?\d+\s*$/.test(v)) return Number(v);
      throw bad();
    case 'float':
      if (typeof v === 'number') return v;
      if (typeof v === 'string' && v.trim() !== '' && !Number.isNaN(Number(v))) return Number(v);
      throw bad();
    case 'bool':
      if (typeof v === 'boolean') return v;
      if (typeof v === 'string' && /^(true|false)$/i.test(v.trim())) return v.trim().toLowerCase() === 'true';
      throw bad();
    case 'array':
      if (Array.isArray(v)) return v;
      throw bad();
    case 'object':
      if (typeof v === 'object' && v !== null && !Array.isArray(v)) return v;
      throw bad();
    default:
      return v;
  }
}

/**
 * Parameters as ADF resolves them: supplied values (trigger-scope expressions such as `@trigger().scheduledTime`
 * evaluated now, with the schedule's nominal time), then defaults; undeclared or missing ones are errors.
 */
function resolveParameters(def: PipelineDefinition, input: RunPipelineInput, now: Date): Record<string, unknown> {
  const supplied = input.parameters ?? {};
  const problems: string[] = [];
  const scheduled = workflowInfo().typedSearchAttributes.get(ScheduledStartTime);
  const trigger = new SystemObject({
    scheduledTime: (scheduled instanceof Date ? scheduled : now).toISOString(),
    startTime: now.toISOString(),
    name: input.trigger?.name ?? null,
  });
  const out: Record<string, unknown> = {};
  for (const name of Object.keys(supplied)) {
    if (!Object.prototype.hasOwnProperty.call(def.parameters, name)) {
      problems.push(
        `parameter '${name}' is not declared by pipeline '${def.name}' (declared: ${Object.keys(def.parameters).join(', ') || 'none'}; names are case-sensitive)`,
      );
    }
  }
  for (const [name, p] of Object.entries(def.parameters)) {
    let v = Object.prototype.hasOwnProperty.call(supplied, name) ? supplied[name] : p.defaultValue;
    if (v === undefined) {
      problems.push(`parameter '${name}' has no defaultValue and no value was given`);
      continue;
    }
    try {
      if (isExpression(v)) {
        v = evaluateValue(v, { pipeline: new SystemObject({}), trigger, now: () => now, guid: () => uuid4() });
      }
      out[name] = coerce(name, p.type, v);
    } catch (e) {
      problems.push(e instanceof ExpressionError ? `parameter '${name}': ${e.message}` : (e as Error).message);
    }
  }
  if (problems.length) throw configError(`cannot start pipeline '${def.name}': ${problems.join('; ')}`);
  return out;
}

/**
 * Run an ADF v2 pipeline as ADF would: the definition comes parsed in the input (`retrain run`), or is loaded by an
 * activity from the worker's config folder (`pipeline/<name>.json`); either way it is in the run's history, so the run
 * is reproducible from it. Expressions are evaluated here with workflow time, and the run's status follows ADF's
 * leaf rule. A handled failure (a Failed-path activity that succeeded) ends the run Succeeded; a failed run throws
 * PipelineFailed whose cause is the failed activity's own failure.
 */
export async function runPipeline(input: RunPipelineInput): Promise<RunPipelineResult> {
  const info = workflowInfo();
  const runId = input.runId ?? info.runId;
  const groupId = input.recovery?.groupId ?? runId;
  const status = newRunStatus(input.pipeline);
  setHandler(statusQuery, () => status);
  let parameters: Record<string, unknown> = {};
  const holder: { engine?: PipelineEngine } = {};
  setHandler(recoveryQuery, () => ({
    pipeline: status.pipeline,
    runId,
    groupId,
    parameters,
    activities: Object.fromEntries(
      [...(holder.engine?.states.values() ?? [])].map((s) => [
        s.def.name,
        { status: s.record.status, output: s.output ?? null },
      ]),
    ),
  }));

  const fail = (err: unknown): never => {
    status.error = messageOf(err);
    status.phase = 'Failed';
    status.runStatus = 'Failed';
    throw err;
  };
  let definition: PipelineDefinition;
  try {
    if (!input?.pipeline) throw configError('input.pipeline is required');
    if (input.definition) {
      definition = input.definition;
      if (definition.name?.toLowerCase() !== input.pipeline.toLowerCase()) {
        throw configError(
          `input.definition is pipeline '${definition.name}', but input.pipeline is '${input.pipeline}'`,
        );
      }
    } else {
      ({ definition } = await loaderCalls.loadPipelineDefinition({ pipeline: input.pipeline }));
    }
    status.pipeline = definition.name;
    parameters = resolveParameters(definition, input, new Date());
  } catch (err) {
    return fail(err);
  }
  const triggerType = input.trigger?.type ?? 'Manual';
  const engine = new PipelineEngine(definition, status, {
    pollMs: Math.round((input.options?.pollIntervalSeconds ?? DEFAULT_POLL_SECONDS) * 1000),
    searchAttributes: input.options?.searchAttributes !== false,
    pipelineObject: new SystemObject({
      DataFactory: 'ml-retrain',
      Pipeline: definition.name,
      RunId: runId,
      GroupId: groupId,
      TriggerType: triggerType,
      TriggerId: input.trigger?.id ?? (triggerType === 'Manual' ? runId : null),
      TriggerName: input.trigger?.name ?? (triggerType === 'Manual' ? 'Manual' : null),
      TriggerTime: info.startTime.toISOString(),
      TriggeredByPipelineName: null,
      TriggeredByPipelineRunId: null,
      parameters,
      globalParameters: {},
    }),
    recovery: input.recovery,
  });
  holder.engine = engine;
  const run = await engine.run();
  if (run.runStatus === 'Cancelled')
    throw (run.error as Error | undefined) ?? new CancelledFailure('the run was cancelled');
  if (run.runStatus === 'Failed') {
    const target = run.failedActivity ?? '?';
    // ADF's run message; the cause chain keeps the activity's own failure type (e.g. BesJobFailed) for callers.
    throw ApplicationFailure.create({
      type: FailureType.PipelineFailed,
      nonRetryable: true,
      message: `Operation on target ${target} failed: ${status.error ?? ''}`,
      cause: run.error instanceof Error ? run.error : undefined,
      details: [{ failedActivity: target, runStatus: 'Failed' }],
    });
  }
  const result = {
    pipeline: definition.name,
    runId,
    groupId,
    runStatus: run.runStatus,
    activityRuns: status.activityRuns,
  };
  // Each value fits, but the result carries every activity's input and output: a result over the limit would fail
  // the completing workflow task forever (GRPC_MESSAGE_TOO_LARGE); fail the run with the reason instead.
  if (jsonBytes(result) > PAYLOAD_LIMIT_BYTES) {
    throw ApplicationFailure.create({
      type: FailureType.PayloadTooLarge,
      nonRetryable: true,
      message: payloadTooLargeMessage(`pipeline '${definition.name}'`, 'result', result),
    });
  }
  return result;
}
