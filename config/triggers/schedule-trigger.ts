import type { ScheduleSpec } from '@temporalio/client';
import { analyze, ExpressionError, isSupportedFunction } from '../../common/expressions';
import { hiddenCharacterProblem } from '../../common/paths';
import { Diagnostics, formatDiagnostic } from '../diagnostics';
import { ConfigError } from '../errors';
import { isObject, keyOf, prop, str } from '../json';
import { TriggerReader } from './reader';
import { readRecurrence } from './recurrence';
import { buildSpec } from './spec';

/** One ADF ScheduleTrigger mapped onto Temporal: one Schedule per trigger × pipeline (docs/spec/adf-pipeline-semantics.md §5.1). */
export interface TriggerMapping {
  triggerName: string;
  /** Base id; the schedule of each pipeline is `${scheduleId}` when there is one pipeline, else suffixed with its name. */
  scheduleId: string;
  pipelines: { pipelineName: string; parameters: Record<string, unknown> }[];
  spec: ScheduleSpec;
  runtimeState: 'Started' | 'Stopped';
  warnings: string[];
  /** What the spec could not express (e.g. `monthDays: [-1]`); those fire times are missing from `spec`. */
  unmapped: string[];
}

type Obj = Record<string, unknown>;

/**
 * Map a ScheduleTrigger JSON file onto a Temporal ScheduleSpec (docs/spec/adf-pipeline-semantics.md §5.1). Throws a
 * ConfigError naming file and JSON path for anything malformed; what is valid ADF but not expressible goes to
 * `unmapped`, approximations to `warnings`.
 */
export function mapScheduleTrigger(file: string, json: unknown): TriggerMapping {
  const d = new Diagnostics();
  const mapping = readScheduleTrigger(file, json, d);
  if (mapping) return mapping;
  const problems = d.errors.map(formatDiagnostic);
  throw new ConfigError(`invalid trigger ${file}:\n  ${problems.join('\n  ')}`, problems);
}

/**
 * Map a ScheduleTrigger JSON file, reporting every problem into `d` with the file and its JSON path. Returns the
 * mapping only when the file has no error.
 */
export function readScheduleTrigger(file: string, json: unknown, d: Diagnostics): TriggerMapping | undefined {
  const r = new TriggerReader(file, d);
  if (!isObject(json)) return r.fail('$', 'must be a JSON object');
  const triggerName = readName(r, json);
  const props = prop(json, 'properties');
  if (!isObject(props)) {
    return r.fail('$.properties', 'is required ({ type: ScheduleTrigger, typeProperties: { recurrence }, pipelines })');
  }
  const pp = `$.${keyOf(json, 'properties')}`;
  if (!isScheduleTrigger(r, props, pp)) return undefined;
  const runtimeState = readRuntimeState(r, props, pp);
  const pipelines = readPipelines(r, props, pp);
  const rc = readRecurrence(r, props, pp);
  if (!rc) return undefined;
  const { frequency, start } = rc;
  if (r.failed || !frequency || !start || !triggerName) return undefined;
  const spec = buildSpec(r, { ...rc, frequency, start }, triggerName);
  if (!spec) return undefined;
  return {
    triggerName,
    scheduleId: `adf-trigger-${triggerName}`,
    pipelines,
    spec,
    runtimeState,
    warnings: r.warnings,
    unmapped: r.unmapped,
  };
}

function readName(r: TriggerReader, json: Obj): string {
  const nameRaw = prop(json, 'name');
  const triggerName = typeof nameRaw === 'string' ? nameRaw : '';
  if (!triggerName) r.fail('$.name', 'is required');
  else if (hiddenCharacterProblem(triggerName)) r.fail('$.name', `trigger name ${hiddenCharacterProblem(triggerName)}`);
  return triggerName;
}

function isScheduleTrigger(r: TriggerReader, props: Obj, pp: string): boolean {
  const type = str(prop(props, 'type'));
  if (type === 'ScheduleTrigger') return true;
  r.fail(
    `${pp}.${keyOf(props, 'type')}`,
    `trigger type '${type}' is not mapped: only ScheduleTrigger becomes a Temporal Schedule` +
      (type === 'TumblingWindowTrigger'
        ? ' (tumbling windows need per-window state, backfill and maxConcurrency: start runs with `retrain run` per window instead)'
        : ''),
  );
  return false;
}

/** ADF creates triggers stopped; Disabled becomes a paused schedule too. */
function readRuntimeState(r: TriggerReader, props: Obj, pp: string): TriggerMapping['runtimeState'] {
  const stateRaw = prop(props, 'runtimeState');
  let runtimeState: 'Started' | 'Stopped' = 'Stopped';
  if (stateRaw !== undefined) {
    const s = str(stateRaw).toLowerCase();
    if (s === 'started') runtimeState = 'Started';
    else if (s === 'disabled') r.warnings.push(`${pp}.runtimeState: Disabled is mapped to a paused schedule`);
    else if (s !== 'stopped')
      r.fail(`${pp}.${keyOf(props, 'runtimeState')}`, `must be Started, Stopped or Disabled, got ${str(stateRaw)}`);
  }
  return runtimeState;
}

/** pipelines: many-to-many, parameters may be trigger-scope expressions (evaluated when the run starts). */
function readPipelines(r: TriggerReader, props: Obj, pp: string): TriggerMapping['pipelines'] {
  const pipelines: TriggerMapping['pipelines'] = [];
  const pl = prop(props, 'pipelines');
  const plp = `${pp}.${keyOf(props, 'pipelines')}`;
  if (!Array.isArray(pl) || pl.length === 0) r.fail(plp, 'must list at least one { pipelineReference, parameters }');
  else {
    pl.forEach((p: unknown, i) => {
      const path = `${plp}[${i}]`;
      if (!isObject(p)) return r.fail(path, 'must be { pipelineReference, parameters }');
      const ref = prop(p, 'pipelineReference');
      const name = isObject(ref) ? prop(ref, 'referenceName') : undefined;
      if (typeof name !== 'string' || !name) return r.fail(`${path}.pipelineReference.referenceName`, 'is required');
      const params = prop(p, 'parameters') ?? {};
      if (!isObject(params)) return r.fail(`${path}.${keyOf(p, 'parameters')}`, 'must be an object');
      for (const [k, v] of Object.entries(params)) checkParameter(r, v, `${path}.parameters.${k}`);
      pipelines.push({ pipelineName: name, parameters: params });
      return undefined;
    });
  }
  return pipelines;
}

/** A trigger parameter may use trigger() but nothing of a pipeline's scope. */
function checkParameter(r: TriggerReader, v: unknown, path: string): void {
  try {
    const refs = analyze(v);
    for (const f of refs?.functions ?? []) {
      if (!isSupportedFunction(f)) r.fail(path, `function '${f}' is not supported`);
      else if (['pipeline', 'activity', 'variables'].includes(f.toLowerCase())) {
        r.fail(path, `${f}() cannot be used in trigger parameters (trigger scope: trigger())`);
      }
    }
  } catch (e) {
    if (e instanceof ExpressionError) r.fail(path, `expression does not parse: ${e.message}`);
    else throw e;
  }
}
