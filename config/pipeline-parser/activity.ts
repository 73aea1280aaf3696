import type { ActivityDefinition, PipelineDefinition } from '../../common/pipeline-definition';
import { SUPPORTED_ACTIVITY_TYPES } from '../../common/pipeline-definition';
import { Diagnostics } from '../diagnostics';
import { isObject, keyOf, prop, str } from '../json';
import { parseDependsOn } from './dependencies';
import { parsePolicy } from './policy';
import type { Obj } from './reader';
import { adfNameProblem, PipelineReader } from './reader';
import type { ActivityBase, ActivityContext } from './type-properties';
import { typePropertiesOf } from './type-properties';

/** ADF types we know but do not run, so the message can say so instead of "unknown". */
const KNOWN_UNSUPPORTED = [
  'Copy', 'ExecutePipeline', 'ForEach', 'IfCondition', 'Until', 'Switch', 'Filter', 'Lookup', 'GetMetadata',
  'WebActivity', 'WebHook', 'AppendVariable', 'Validation', 'Script', 'SqlServerStoredProcedure', 'ExecuteDataFlow',
  'DatabricksNotebook', 'HDInsightHive', 'Custom', 'AzureFunctionActivity', 'AzureMLExecutePipeline', 'Delete',
]; // prettier-ignore

export function activityNameProblem(name: string): string | undefined {
  return adfNameProblem(name, 55);
}

export function parseActivity(
  r: PipelineReader,
  a: unknown,
  path: string,
  variables: PipelineDefinition['variables'],
): ActivityDefinition | undefined {
  if (!isObject(a)) return r.error(path, 'must be an object');
  const name = prop(a, 'name');
  const type = prop(a, 'type');
  let ok = true;
  if (typeof name !== 'string' || !name) ok = !!r.error(`${path}.name`, 'is required');
  else {
    const bad = activityNameProblem(name);
    if (bad) ok = !!r.error(`${path}.${keyOf(a, 'name')}`, `activity name '${name}' ${bad}`);
  }
  const tpath = `${path}.${keyOf(a, 'type')}`;
  if (typeof type !== 'string' || !type) return r.error(tpath, 'is required');
  const canonical = SUPPORTED_ACTIVITY_TYPES.find((t) => t.toLowerCase() === type.toLowerCase());
  if (!canonical) {
    const known = KNOWN_UNSUPPORTED.find((t) => t.toLowerCase() === type.toLowerCase());
    return r.error(
      tpath,
      `activity type '${type}'${known ? ' is an ADF activity this product does not run' : ' is unknown'} ` +
        `(supported: ${SUPPORTED_ACTIVITY_TYPES.join(', ')})`,
    );
  }
  const stateRaw = prop(a, 'state');
  let state: 'Active' | 'Inactive' = 'Active';
  if (stateRaw !== undefined) {
    if (str(stateRaw).toLowerCase() === 'inactive') state = 'Inactive';
    else if (str(stateRaw).toLowerCase() !== 'active') {
      ok = !!r.error(`${path}.${keyOf(a, 'state')}`, `must be Active or Inactive, got ${str(stateRaw)}`);
    }
  }
  const markRaw = prop(a, 'onInactiveMarkAs');
  let onInactiveMarkAs: 'Succeeded' | 'Failed' | 'Skipped' = 'Succeeded';
  if (markRaw !== undefined) {
    const m = (['Succeeded', 'Failed', 'Skipped'] as const).find((x) => x.toLowerCase() === str(markRaw).toLowerCase());
    if (m) onInactiveMarkAs = m;
    else
      ok = !!r.error(
        `${path}.${keyOf(a, 'onInactiveMarkAs')}`,
        `must be Succeeded, Failed or Skipped, got ${str(markRaw)}`,
      );
  }
  const dependsOn = parseDependsOn(r, a, path);
  const userProperties: { name: string; value: unknown }[] = [];
  const up = prop(a, 'userProperties');
  if (Array.isArray(up)) {
    up.forEach((u: unknown) => {
      if (isObject(u)) userProperties.push({ name: str(prop(u, 'name')), value: prop(u, 'value') });
    });
  }
  const execution = canonical === 'AzureMLBatchExecution' || canonical === 'AzureMLUpdateResource';
  const policy = parsePolicy(r, a, path, execution);
  const description = typeof prop(a, 'description') === 'string' ? (prop(a, 'description') as string) : undefined;
  const tpRaw = prop(a, 'typeProperties');
  const tp: Obj = isObject(tpRaw) ? tpRaw : {};
  const tpPath = `${path}.${keyOf(a, 'typeProperties')}`;
  // ADF: an inactive activity need not have all its required fields; validate only what is there.
  const inactive = state === 'Inactive';
  const strict = inactive ? new PipelineReader(r.file, new Diagnostics(), r.linkedServices) : r;
  if (!isObject(tpRaw) && tpRaw !== undefined) ok = !!r.error(tpPath, 'must be an object');
  if (tpRaw === undefined && (canonical === 'AzureMLUpdateResource' || canonical === 'Fail') && !inactive) {
    ok = !!r.error(tpPath, 'is required');
  }
  const base: ActivityBase = {
    name: name as string,
    description,
    dependsOn,
    state,
    onInactiveMarkAs,
    policy,
    userProperties,
    source: { file: r.file, path },
  };
  const errorsBefore = r.d.errors.length;
  const c: ActivityContext = { r, strict, a, path, tp, tpPath, variables };
  const def = typePropertiesOf[canonical](c, base);
  if (!ok || r.d.errors.length > errorsBefore) return undefined;
  return def;
}
