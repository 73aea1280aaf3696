import { ancestorsOf, downstreamOf, findCycle } from '../common/dag';
import type { DeploymentPolicy } from '../common/deployment';
import { policyFromAnnotations } from '../common/deployment';
import { analyze, ExpressionError, isExpression, isSupportedFunction } from '../common/expressions';
import type {
  ActivityDefinition,
  ActivityDependency,
  ActivityPolicyDef,
  DependencyCondition,
  ParameterDef,
  ParameterType,
  PipelineDefinition,
  UpdateResourceActivity,
  WebServiceFileDef,
} from '../common/pipeline-definition';
import { DEFAULT_ACTIVITY_TIMEOUT, isMasked, SUPPORTED_ACTIVITY_TYPES } from '../common/pipeline-definition';
import { parseAdfTimespan } from '../common/duration';
import { filePathProblem, hiddenCharacterProblem } from '../common/paths';
import { Diagnostics, key } from './diagnostics';
import { ARM_EXPRESSION, armExpressionMessage, detectArmTemplate, detectV1Pipeline } from './formats';
import { isObject, keyOf, prop, str } from './json';
import type { LinkedService } from './linked-services';

/**
 * ADF v2 pipeline JSON → the engine's normalized definition, with every problem reported as file + JSON path.
 * ADF-defined keys match case-insensitively (the docs write `LinkedServiceName`, `FilePath`); user-defined keys
 * (ports, parameters, variables) stay exact.
 */

type Obj = Record<string, unknown>;

const CONDITIONS: DependencyCondition[] = ['Succeeded', 'Failed', 'Skipped', 'Completed'];
const PARAMETER_TYPES: ParameterType[] = ['String', 'Int', 'Float', 'Bool', 'Array', 'Object', 'SecureString'];
/** ADF types we know but do not run, so the message can say so instead of "unknown". */
const KNOWN_UNSUPPORTED = [
  'Copy', 'ExecutePipeline', 'ForEach', 'IfCondition', 'Until', 'Switch', 'Filter', 'Lookup', 'GetMetadata',
  'WebActivity', 'WebHook', 'AppendVariable', 'Validation', 'Script', 'SqlServerStoredProcedure', 'ExecuteDataFlow',
  'DatabricksNotebook', 'HDInsightHive', 'Custom', 'AzureFunctionActivity', 'AzureMLExecutePipeline', 'Delete',
]; // prettier-ignore
const DATASET_EXTENSIONS = ['csv', 'tsv', 'arff'];
const OUTPUT_EXTENSIONS = ['ilearner', 'csv', 'tsv', 'arff'];

/**
 * ADF's "Maximum activities per pipeline, which includes inner activities for containers": 80 (Azure subscription
 * limits, Data Factory; 120 only after a support request). A pipeline over it would not deploy to a factory.
 */
export const MAX_ACTIVITIES_PER_PIPELINE = 80;

export function activityNameProblem(name: string): string | undefined {
  const hidden = hiddenCharacterProblem(name);
  if (hidden) return hidden;
  if (name.length > 55) return `is ${name.length} characters long; ADF allows at most 55`;
  if (!/^[A-Za-z0-9_]/.test(name)) return 'must start with a letter, a digit or an underscore';
  if (/[.+?/<>*%&:\\]/.test(name)) return 'must not contain any of . + ? / < > * % & : \\ (ADF naming rules)';
  return undefined;
}

export function pipelineNameProblem(name: string): string | undefined {
  const hidden = hiddenCharacterProblem(name);
  if (hidden) return hidden;
  if (name.length > 140) return `is ${name.length} characters long; ADF allows at most 140`;
  if (!/^[A-Za-z0-9_]/.test(name)) return 'must start with a letter, a digit or an underscore';
  if (/[.+?/<>*%&:\\]/.test(name)) return 'must not contain any of . + ? / < > * % & : \\ (ADF naming rules)';
  return undefined;
}

function refName(v: unknown): string | undefined {
  if (isObject(v)) {
    const n = prop(v, 'referenceName');
    return typeof n === 'string' && n ? n : undefined;
  }
  return undefined;
}

function extension(path: string): string {
  const base = path.split('/').pop() ?? '';
  const dot = base.lastIndexOf('.');
  return dot > 0 ? base.slice(dot + 1).toLowerCase() : '';
}

class PipelineReader {
  constructor(
    readonly file: string,
    readonly d: Diagnostics,
    readonly linkedServices: Map<string, LinkedService>,
  ) {}

  error(path: string, message: string): undefined {
    return this.d.error(this.file, path, message);
  }

  warn(path: string, message: string): void {
    this.d.warn(this.file, path, message);
  }

  /** A user-defined name (parameter, variable, port): false, with an error, when it hides invisible characters. */
  visibleName(name: string, path: string, what: string): boolean {
    const hidden = hiddenCharacterProblem(name);
    if (hidden) this.error(path, `${what} name ${JSON.stringify(name)} ${hidden}`);
    return !hidden;
  }

  /** A LinkedServiceReference that must name a linked service of one kind. */
  linkedService(obj: Obj, name: string, path: string, kind: LinkedService['kind'], what: string): string | undefined {
    const v = prop(obj, name);
    const p = key(path, keyOf(obj, name));
    if (v === undefined || v === null) return this.error(p, `is required (a LinkedServiceReference to ${what})`);
    if (typeof v === 'string') {
      return this.error(p, 'must be { referenceName, type: LinkedServiceReference } (a plain string is ADF v1)');
    }
    const ref = refName(v);
    if (!ref) return this.error(`${p}.referenceName`, 'is required');
    if (isObject(v) && prop(v, 'parameters') !== undefined) {
      this.error(key(p, keyOf(v, 'parameters')), 'parameterized linked services are not supported');
    }
    const ls = this.linkedServices.get(ref.toLowerCase());
    if (!ls) {
      const known = [...this.linkedServices.values()].map((l) => l.name).join(', ') || 'none';
      return this.error(
        `${p}.referenceName`,
        `linked service '${ref}' is not defined in linkedService/ (known: ${known})`,
      );
    }
    if (ls.kind !== kind) {
      return this.error(`${p}.referenceName`, `'${ref}' (${ls.file}) is not ${what}`);
    }
    if (ls.name !== ref)
      this.warn(`${p}.referenceName`, `'${ref}' matched linked service '${ls.name}' case-insensitively`);
    return ls.name;
  }

  /** A value that may be a literal or an expression; ARM expressions and masked values are refused. */
  value(v: unknown, path: string): unknown {
    if (typeof v === 'string') {
      if (ARM_EXPRESSION.test(v.trim())) this.error(path, armExpressionMessage(v.trim()));
      else if (isMasked(v)) this.error(path, 'is masked (**********), as ADF exports secure values; give the value');
      else if (v.startsWith('$$'))
        this.error(path, `'${v.slice(0, 30)}' is an ADF v1 Data Factory function, not a v2 expression`);
    }
    return v;
  }
}

export interface ParsePipelineResult {
  definition?: PipelineDefinition;
}

/** Parse and validate one pipeline. Errors and warnings go into `d`; the definition is returned only when valid. */
export function parsePipeline(
  file: string,
  raw: unknown,
  linkedServices: Map<string, LinkedService>,
  d: Diagnostics,
): ParsePipelineResult {
  const before = d.errors.length;
  const r = new PipelineReader(file, d, linkedServices);
  if (!isObject(raw)) {
    r.error('$', 'must be a JSON object');
    return {};
  }
  const arm = detectArmTemplate(raw);
  if (arm) {
    r.error(arm.path, arm.message);
    return {};
  }
  const v1 = detectV1Pipeline(raw);
  if (v1) {
    r.error(v1.path, v1.message);
    return {};
  }
  const name = prop(raw, 'name');
  if (typeof name !== 'string' || !name) {
    r.error('$.name', 'is required (ADF v2 pipeline: { name, properties: { activities: [...] } })');
  } else {
    const bad = pipelineNameProblem(name);
    if (bad) r.error(`$.${keyOf(raw, 'name')}`, `pipeline name '${name}' ${bad}`);
  }
  const props = prop(raw, 'properties');
  if (!isObject(props)) {
    r.error('$.properties', 'is required (ADF v2 pipeline: { name, properties: { activities: [...] } })');
    return {};
  }
  const pp = `$.${keyOf(raw, 'properties')}`;
  const parameters = parseParameters(r, props, pp);
  const variables = parseVariables(r, props, pp);
  const actsRaw = prop(props, 'activities');
  const ap = `${pp}.${keyOf(props, 'activities')}`;
  if (!Array.isArray(actsRaw)) {
    r.error(ap, 'is required and must be an array of activities');
    return {};
  }
  if (actsRaw.length === 0) r.error(ap, 'has no activities');
  // Over the limit, each activity is still checked, but not the whole-graph analyses (cycles, ancestors), which grow
  // faster than the number of activities: validation stays linear whatever the file holds.
  const overLimit = actsRaw.length > MAX_ACTIVITIES_PER_PIPELINE;
  if (overLimit) {
    r.error(
      ap,
      `has ${actsRaw.length} activities; ADF allows at most ${MAX_ACTIVITIES_PER_PIPELINE} per pipeline ` +
        '(Azure Data Factory limits); split it into several pipelines',
    );
  }
  const concurrency = prop(props, 'concurrency');
  if (concurrency !== undefined && !(Number.isInteger(concurrency) && (concurrency as number) >= 1)) {
    r.error(`${pp}.${keyOf(props, 'concurrency')}`, 'must be an integer >= 1');
  }

  const activities: ActivityDefinition[] = [];
  const paths = new Map<string, string>();
  const byLowerName = new Map<string, ActivityDefinition>();
  actsRaw.forEach((a: unknown, i) => {
    const path = `${ap}[${i}]`;
    const def = parseActivity(r, a, path, variables);
    if (!def) return;
    const dup = byLowerName.get(def.name.toLowerCase());
    if (dup) {
      r.error(
        `${path}.name`,
        `activity name '${def.name}' is already used at ${paths.get(dup.name)} (names are unique within a pipeline)`,
      );
      return;
    }
    paths.set(def.name, path);
    byLowerName.set(def.name.toLowerCase(), def);
    activities.push(def);
  });

  resolveDependencies(r, activities, paths);
  const cycle = overLimit ? undefined : findCycle(activities);
  if (overLimit) {
    // Reported above; the graph is too large to analyse.
  } else if (cycle) {
    r.error(`${paths.get(cycle[0])}.dependsOn`, `dependency cycle: ${cycle.join(' → ')}`);
  } else {
    for (const a of activities) checkExpressions(r, a, activities, parameters, variables);
    checkModelPaths(r, activities);
  }

  const annotations = Array.isArray(prop(props, 'annotations')) ? (prop(props, 'annotations') as unknown[]) : [];
  const deployment = parseDeployment(r, annotations, `${pp}.${keyOf(props, 'annotations')}`, activities);

  if (d.errors.length > before || typeof name !== 'string') return {};
  return {
    definition: {
      name,
      file,
      parameters,
      variables,
      activities,
      concurrency: typeof concurrency === 'number' ? concurrency : undefined,
      annotations,
      warnings: [],
      ...(deployment && { deployment }),
    },
  };
}

/** Our `retrain:` annotations (common/deployment.ts), checked against the activities they govern. */
function parseDeployment(
  r: PipelineReader,
  annotations: unknown[],
  path: string,
  activities: ActivityDefinition[],
): DeploymentPolicy | undefined {
  const { policy, problems } = policyFromAnnotations(annotations);
  for (const p of problems) r.error(`${path}[${p.index}]`, p.message);
  if (!policy) return undefined;
  const updates = activities.filter((a): a is UpdateResourceActivity => a.type === 'AzureMLUpdateResource');
  if (updates.length === 0) {
    r.warn(path, 'retrain: annotations apply to AzureMLUpdateResource activities, and this pipeline has none');
  }
  if (policy.fanOut?.mode === 'all-or-nothing') {
    // Updates that depend on each other cannot wait for each other: all-or-nothing covers updates side by side.
    const names = new Set(updates.map((u) => u.name));
    for (const u of updates) {
      const chained = [...downstreamOf(activities, [u.name])].filter((n) => n !== u.name && names.has(n));
      if (chained.length) {
        r.error(
          path,
          `retrain:fanout all-or-nothing needs updates that run side by side, but '${chained[0]}' depends on '${u.name}'`,
        );
        break;
      }
    }
  }
  return policy;
}

function parseParameters(r: PipelineReader, props: Obj, pp: string): Record<string, ParameterDef> {
  const out: Record<string, ParameterDef> = {};
  const raw = prop(props, 'parameters');
  if (raw === undefined || raw === null) return out;
  const p = `${pp}.${keyOf(props, 'parameters')}`;
  if (!isObject(raw)) return (r.error(p, 'must be an object of { type, defaultValue }'), out);
  const seen = new Map<string, string>();
  for (const [name, def] of Object.entries(raw)) {
    const path = key(p, name);
    if (!r.visibleName(name, path, 'parameter')) continue;
    if (seen.has(name.toLowerCase())) {
      r.error(path, `parameter '${name}' clashes with '${seen.get(name.toLowerCase())}' (names are case-insensitive)`);
      continue;
    }
    seen.set(name.toLowerCase(), name);
    if (!isObject(def)) {
      r.error(path, 'must be { type, defaultValue }');
      continue;
    }
    const type = prop(def, 'type');
    const canonical = PARAMETER_TYPES.find((t) => t.toLowerCase() === str(type).toLowerCase());
    if (!canonical) {
      r.error(`${path}.${keyOf(def, 'type')}`, `type '${str(type)}' is not one of ${PARAMETER_TYPES.join(', ')}`);
      continue;
    }
    const dv = prop(def, 'defaultValue');
    if (canonical === 'SecureString' && typeof dv === 'string' && isMasked(dv)) {
      r.error(`${path}.${keyOf(def, 'defaultValue')}`, 'is masked (**********); give the value when starting the run');
    }
    out[name] = dv === undefined ? { type: canonical } : { type: canonical, defaultValue: dv };
  }
  return out;
}

function parseVariables(r: PipelineReader, props: Obj, pp: string): PipelineDefinition['variables'] {
  const out: PipelineDefinition['variables'] = {};
  const raw = prop(props, 'variables');
  if (raw === undefined || raw === null) return out;
  const p = `${pp}.${keyOf(props, 'variables')}`;
  if (!isObject(raw)) return (r.error(p, 'must be an object of { type, defaultValue }'), out);
  for (const [name, def] of Object.entries(raw)) {
    if (!r.visibleName(name, key(p, name), 'variable')) continue;
    if (!isObject(def)) {
      r.error(key(p, name), 'must be { type, defaultValue }');
      continue;
    }
    const type = str(prop(def, 'type'));
    if (!['string', 'bool', 'boolean', 'array', 'integer'].includes(type.toLowerCase())) {
      r.error(
        key(key(p, name), keyOf(def, 'type')),
        `variable type '${type}' is not one of String, Bool, Array, Integer`,
      );
    }
    const dv = prop(def, 'defaultValue');
    out[name] = dv === undefined ? { type } : { type, defaultValue: dv };
  }
  return out;
}

function parsePolicy(r: PipelineReader, a: Obj, path: string, execution: boolean): ActivityPolicyDef {
  const policy: ActivityPolicyDef = {
    timeout: DEFAULT_ACTIVITY_TIMEOUT,
    retry: 0,
    retryIntervalInSeconds: 30,
    secureInput: false,
    secureOutput: false,
  };
  const raw = prop(a, 'policy');
  if (raw === undefined || raw === null) return policy;
  const p = `${path}.${keyOf(a, 'policy')}`;
  if (!isObject(raw)) return (r.error(p, 'must be an object'), policy);
  if (!execution) r.warn(p, 'policy applies to execution activities only; ignored');
  const timeout = prop(raw, 'timeout');
  if (timeout !== undefined) {
    if (typeof timeout === 'string' && !isExpression(timeout)) {
      if (parseAdfTimespan(timeout) === undefined) {
        r.error(`${p}.${keyOf(raw, 'timeout')}`, `'${timeout}' is not an ADF timespan [d.]hh:mm:ss (e.g. 0.12:00:00)`);
      }
      policy.timeout = timeout;
    } else if (isExpression(timeout)) policy.timeout = timeout;
    else r.error(`${p}.${keyOf(raw, 'timeout')}`, 'must be a [d.]hh:mm:ss string');
  }
  const retry = prop(raw, 'retry');
  if (retry !== undefined) {
    if (isExpression(retry)) policy.retry = retry;
    else if (Number.isInteger(retry) && (retry as number) >= 0) policy.retry = retry;
    else r.error(`${p}.${keyOf(raw, 'retry')}`, `must be an integer >= 0, got ${str(retry)}`);
  }
  const interval = prop(raw, 'retryIntervalInSeconds');
  if (interval !== undefined) {
    if (isExpression(interval)) policy.retryIntervalInSeconds = interval;
    else if (Number.isInteger(interval) && (interval as number) >= 30 && (interval as number) <= 86400) {
      policy.retryIntervalInSeconds = interval;
    } else {
      r.error(
        `${p}.${keyOf(raw, 'retryIntervalInSeconds')}`,
        `must be an integer from 30 to 86400, got ${str(interval)}`,
      );
    }
  }
  for (const k of ['secureInput', 'secureOutput'] as const) {
    const v = prop(raw, k);
    if (v === undefined) continue;
    if (typeof v === 'boolean') policy[k] = v;
    else r.error(`${p}.${keyOf(raw, k)}`, 'must be true or false');
  }
  return policy;
}

function parseActivity(
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
  const base = {
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
  let def: ActivityDefinition | undefined;
  switch (canonical) {
    case 'AzureMLBatchExecution': {
      const ls = strict.linkedService(a, 'linkedServiceName', path, 'AzureML', 'an AzureML linked service');
      const files = (k: 'webServiceInputs' | 'webServiceOutputs'): Record<string, WebServiceFileDef> => {
        const out: Record<string, WebServiceFileDef> = {};
        const m = prop(tp, k);
        const mp = `${tpPath}.${keyOf(tp, k)}`;
        if (m === undefined || m === null) return out;
        if (!isObject(m))
          return (strict.error(mp, 'must be an object of port name → { linkedServiceName, filePath }'), out);
        for (const [port, f] of Object.entries(m)) {
          const fp = key(mp, port);
          if (!strict.visibleName(port, fp, 'port')) continue;
          if (!isObject(f)) {
            strict.error(fp, 'must be { linkedServiceName, filePath }');
            continue;
          }
          const lsn = strict.linkedService(
            f,
            'linkedServiceName',
            fp,
            'Storage',
            'an AzureStorage/AzureBlobStorage linked service',
          );
          const filePath = prop(f, 'filePath');
          const pathKey = `${fp}.${keyOf(f, 'filePath')}`;
          if (filePath === undefined || filePath === null || filePath === '') {
            strict.error(pathKey, 'is required (container/path/file.ext)');
            continue;
          }
          strict.value(filePath, pathKey);
          if (typeof filePath === 'string' && !isExpression(filePath)) {
            checkFilePath(strict, filePath, pathKey, k === 'webServiceInputs' ? DATASET_EXTENSIONS : OUTPUT_EXTENSIONS);
          } else if (typeof filePath !== 'string' && !isExpression(filePath)) {
            strict.error(pathKey, 'must be a string or an expression');
          }
          if (lsn) out[port] = { linkedServiceName: lsn, filePath };
        }
        return out;
      };
      const globalsRaw = prop(tp, 'globalParameters');
      const globals: Record<string, unknown> = {};
      if (isObject(globalsRaw)) {
        for (const [k, v] of Object.entries(globalsRaw))
          globals[k] = strict.value(v, key(`${tpPath}.${keyOf(tp, 'globalParameters')}`, k));
      } else if (globalsRaw !== undefined && globalsRaw !== null) {
        strict.error(`${tpPath}.${keyOf(tp, 'globalParameters')}`, 'must be an object of name → value');
      }
      def = {
        ...base,
        type: 'AzureMLBatchExecution',
        linkedServiceName: ls ?? '',
        typeProperties: {
          webServiceInputs: files('webServiceInputs'),
          webServiceOutputs: files('webServiceOutputs'),
          globalParameters: globals,
        },
      };
      break;
    }
    case 'AzureMLUpdateResource': {
      const ls = strict.linkedService(a, 'linkedServiceName', path, 'AzureML', 'an AzureML linked service');
      const target = ls ? r.linkedServices.get(ls.toLowerCase()) : undefined;
      if (target?.kind === 'AzureML' && !target.updateResourceEndpoint) {
        strict.error(
          `${path}.${keyOf(a, 'linkedServiceName')}.referenceName`,
          `AzureML linked service '${ls}' (${target.file}) has no updateResourceEndpoint, so it cannot be updated`,
        );
      }
      const tmn = prop(tp, 'trainedModelName');
      if (tmn === undefined || tmn === '' || tmn === null)
        strict.error(`${tpPath}.trainedModelName`, 'is required (e.g. "My Experiment [trained model]")');
      else strict.value(tmn, `${tpPath}.${keyOf(tp, 'trainedModelName')}`);
      const tmls = strict.linkedService(
        tp,
        'trainedModelLinkedServiceName',
        tpPath,
        'Storage',
        'an AzureStorage/AzureBlobStorage linked service',
      );
      const tmfp = prop(tp, 'trainedModelFilePath');
      const tmfpPath = `${tpPath}.${keyOf(tp, 'trainedModelFilePath')}`;
      if (tmfp === undefined || tmfp === '' || tmfp === null)
        strict.error(tmfpPath, 'is required (container/path/model.ilearner)');
      else if (typeof tmfp === 'string' && !isExpression(tmfp)) {
        strict.value(tmfp, tmfpPath);
        checkFilePath(strict, tmfp, tmfpPath, ['ilearner']);
      }
      def = {
        ...base,
        type: 'AzureMLUpdateResource',
        linkedServiceName: ls ?? '',
        typeProperties: {
          trainedModelName: tmn,
          ...(tmls ? { trainedModelLinkedServiceName: tmls } : {}),
          ...(tmfp !== undefined ? { trainedModelFilePath: tmfp } : {}),
        },
      };
      break;
    }
    case 'Wait': {
      const w = prop(tp, 'waitTimeInSeconds');
      const wp = `${tpPath}.${keyOf(tp, 'waitTimeInSeconds')}`;
      if (w === undefined) strict.error(wp, 'is required');
      else if (!isExpression(w) && !(typeof w === 'number' && w >= 0))
        strict.error(wp, 'must be a number of seconds >= 0');
      def = { ...base, type: 'Wait', typeProperties: { waitTimeInSeconds: w } };
      break;
    }
    case 'Fail': {
      const message = prop(tp, 'message');
      const errorCode = prop(tp, 'errorCode');
      if (message === undefined || message === '') strict.error(`${tpPath}.message`, 'is required');
      if (errorCode === undefined || errorCode === '') strict.error(`${tpPath}.errorCode`, 'is required');
      def = { ...base, type: 'Fail', typeProperties: { message, errorCode } };
      break;
    }
    case 'SetVariable': {
      const vn = prop(tp, 'variableName');
      const value = prop(tp, 'value');
      const vp = `${tpPath}.${keyOf(tp, 'variableName')}`;
      if (typeof vn !== 'string' || !vn) strict.error(vp, 'is required');
      else if (!Object.prototype.hasOwnProperty.call(variables, vn)) {
        strict.error(vp, `variable '${vn}' is not declared in properties.variables (names are case-sensitive)`);
      }
      if (value === undefined) strict.error(`${tpPath}.value`, 'is required');
      def = { ...base, type: 'SetVariable', typeProperties: { variableName: str(vn), value } };
      break;
    }
  }
  if (!ok || r.d.errors.length > errorsBefore) return undefined;
  return def;
}

function checkFilePath(r: PipelineReader, filePath: string, path: string, allowed: string[]): void {
  const bad = filePathProblem(filePath);
  if (bad) {
    r.error(path, `'${filePath}' ${bad}`);
    return;
  }
  const clean = filePath.replace(/^\/+/, '');
  const slash = clean.indexOf('/');
  if (slash <= 0 || slash === clean.length - 1) {
    r.error(path, `'${filePath}' must include the container: container/path/file.ext`);
    return;
  }
  const ext = extension(clean);
  if (!ext) {
    r.warn(
      path,
      `'${filePath}' has no file extension: ML Studio (classic) BES rejects it ("invalid or missing file extension", ` +
        `supported ${allowed.map((e) => `.${e}`).join(', ')}); name the file, e.g. '${clean}/data.${allowed[0]}'`,
    );
  } else if (!allowed.includes(ext)) {
    r.error(path, `'.${ext}' is not a file extension BES accepts here (${allowed.map((e) => `.${e}`).join(', ')})`);
  }
}

function parseDependsOn(r: PipelineReader, a: Obj, path: string): ActivityDependency[] {
  const raw = prop(a, 'dependsOn');
  const out: ActivityDependency[] = [];
  if (raw === undefined || raw === null) return out;
  const p = `${path}.${keyOf(a, 'dependsOn')}`;
  if (!Array.isArray(raw)) return (r.error(p, 'must be an array of { activity, dependencyConditions }'), out);
  raw.forEach((dep: unknown, i) => {
    const dp = `${p}[${i}]`;
    if (!isObject(dep)) return r.error(dp, 'must be { activity, dependencyConditions }');
    const activity = prop(dep, 'activity');
    const conds = prop(dep, 'dependencyConditions');
    if (typeof activity !== 'string' || !activity) return r.error(`${dp}.activity`, 'is required');
    const cp = `${dp}.${keyOf(dep, 'dependencyConditions')}`;
    if (!Array.isArray(conds) || conds.length === 0) {
      return r.error(cp, 'is required: a non-empty array of Succeeded, Failed, Skipped, Completed');
    }
    const conditions: DependencyCondition[] = [];
    conds.forEach((c: unknown, j) => {
      const m = CONDITIONS.find((x) => x.toLowerCase() === str(c).toLowerCase());
      if (!m) r.error(`${cp}[${j}]`, `'${str(c)}' is not a dependency condition (${CONDITIONS.join(', ')})`);
      else if (!conditions.includes(m)) conditions.push(m);
    });
    if (conditions.includes('Completed') && (conditions.includes('Succeeded') || conditions.includes('Failed'))) {
      r.warn(
        cp,
        `'Completed' already includes Succeeded and Failed; [${conditions.join(', ')}] acts as Completed${conditions.includes('Skipped') ? ' or Skipped' : ''}`,
      );
    }
    out.push({ activity, conditions });
    return undefined;
  });
  return out;
}

/** dependsOn names: exact first, then a unique case-insensitive match with a warning (the seed's own case). */
function resolveDependencies(r: PipelineReader, activities: ActivityDefinition[], paths: Map<string, string>): void {
  const names = activities.map((a) => a.name);
  const exact = new Set(names);
  const byLower = new Map<string, string[]>();
  for (const n of names) byLower.set(n.toLowerCase(), [...(byLower.get(n.toLowerCase()) ?? []), n]);
  for (const a of activities) {
    a.dependsOn.forEach((dep, i) => {
      const where = `${paths.get(a.name)}.dependsOn[${i}].activity`;
      if (exact.has(dep.activity)) {
        if (dep.activity === a.name) r.error(where, `activity '${a.name}' depends on itself`);
        return;
      }
      const matches = byLower.get(dep.activity.toLowerCase()) ?? [];
      if (matches.length === 1) {
        r.warn(
          where,
          `'${dep.activity}' matched activity '${matches[0]}' case-insensitively (ADF accepts it; consider fixing the case)`,
        );
        dep.activity = matches[0];
      } else {
        r.error(
          where,
          `'${dep.activity}' is not an activity of this pipeline (activities: ${names.length > 20 ? `${names.slice(0, 20).join(', ')}, …` : names.join(', ')}); ADF would fail the run with InvalidTemplate`,
        );
      }
    });
  }
}

/** Every expression parses, uses supported functions, and refers to declared parameters and ancestor activities. */
function checkExpressions(
  r: PipelineReader,
  a: ActivityDefinition,
  all: ActivityDefinition[],
  parameters: Record<string, ParameterDef>,
  variables: PipelineDefinition['variables'],
): void {
  const base = a.source.path;
  const ancestors = ancestorsOf(all, a.name);
  const names = all.map((x) => x.name);
  const visit = (v: unknown, path: string): void => {
    let refs;
    try {
      refs = analyze(v);
    } catch (e) {
      if (e instanceof ExpressionError) r.error(path, `expression does not parse: ${e.message}`);
      else throw e;
      return;
    }
    if (refs) {
      for (const f of refs.functions) {
        if (!isSupportedFunction(f)) {
          r.error(
            path,
            `function '${f}' is not supported (see README "ADF compatibility" for the supported functions)`,
          );
        } else if (f.toLowerCase() === 'trigger') {
          r.error(
            path,
            "trigger() can only be used in a trigger's pipeline parameters; pass the value as a pipeline parameter",
          );
        }
      }
      for (const act of refs.activities) {
        if (!names.includes(act)) r.error(path, `activity('${act}') names no activity of this pipeline`);
        else if (!ancestors.has(act)) {
          r.error(
            path,
            `activity('${act}') can't be referenced since it is not an ancestor of '${a.name}' (add a dependsOn)`,
          );
        }
      }
      for (const p of refs.parameters) {
        if (!Object.prototype.hasOwnProperty.call(parameters, p)) {
          const ci = Object.keys(parameters).find((k) => k.toLowerCase() === p.toLowerCase());
          r.error(
            path,
            `pipeline parameter '${p}' is not declared${ci ? ` (did you mean '${ci}'? names are case-sensitive here)` : ''}`,
          );
        }
      }
      for (const v2 of refs.variables) {
        if (!Object.prototype.hasOwnProperty.call(variables, v2)) r.error(path, `variable '${v2}' is not declared`);
      }
      return;
    }
    if (Array.isArray(v)) v.forEach((x, i) => visit(x, `${path}[${i}]`));
    else if (isObject(v)) for (const [k, x] of Object.entries(v)) visit(x, key(path, k));
  };
  visit(a.typeProperties, `${base}.typeProperties`);
  visit(a.policy.timeout, `${base}.policy.timeout`);
  visit(a.policy.retry, `${base}.policy.retry`);
  visit(a.policy.retryIntervalInSeconds, `${base}.policy.retryIntervalInSeconds`);
  a.userProperties.forEach((u, i) => visit(u.value, `${base}.userProperties[${i}].value`));
}

/** The seed's trap: the update reads a path no upstream BES output writes. Legal, so only a warning. */
function checkModelPaths(r: PipelineReader, activities: ActivityDefinition[]): void {
  for (const a of activities) {
    if (a.type !== 'AzureMLUpdateResource' || a.state === 'Inactive') continue;
    const fp = a.typeProperties.trainedModelFilePath;
    if (typeof fp !== 'string' || isExpression(fp)) continue;
    const ancestors = ancestorsOf(activities, a.name);
    const written = activities
      .filter(
        (b): b is Extract<ActivityDefinition, { type: 'AzureMLBatchExecution' }> =>
          b.type === 'AzureMLBatchExecution' && ancestors.has(b.name),
      )
      .flatMap((b) => Object.values(b.typeProperties.webServiceOutputs).map((f) => f.filePath));
    if (written.length && !written.includes(fp)) {
      r.warn(
        `${a.source.path}.typeProperties.trainedModelFilePath`,
        `'${fp}' is not written by the webServiceOutputs of an upstream AzureMLBatchExecution (${written.map(String).join(', ')}); the update deploys whatever blob is there`,
      );
    }
  }
}
