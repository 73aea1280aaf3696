import { downstreamOf, findCycle } from '../../common/dag';
import type { DeploymentPolicy } from '../../common/deployment';
import { policyFromAnnotations } from '../../common/deployment';
import type { ActivityDefinition, PipelineDefinition, UpdateResourceActivity } from '../../common/pipeline-definition';
import type { Diagnostics } from '../diagnostics';
import { detectArmTemplate, detectV1Pipeline } from '../formats';
import { isObject, keyOf, prop } from '../json';
import type { LinkedService } from '../linked-services';
import { parseActivity } from './activity';
import { checkExpressions, checkModelPaths } from './checks';
import { resolveDependencies } from './dependencies';
import { parseParameters, parseVariables } from './parameters';
import { adfNameProblem, PipelineReader } from './reader';

/**
 * ADF v2 pipeline JSON → the engine's normalized definition, with every problem reported as file + JSON path.
 * ADF-defined keys match case-insensitively (the docs write `LinkedServiceName`, `FilePath`); user-defined keys
 * (ports, parameters, variables) stay exact.
 */

/**
 * ADF's "Maximum activities per pipeline, which includes inner activities for containers": 80 (Azure subscription
 * limits, Data Factory; 120 only after a support request). A pipeline over it would not deploy to a factory.
 */
export const MAX_ACTIVITIES_PER_PIPELINE = 80;

export function pipelineNameProblem(name: string): string | undefined {
  return adfNameProblem(name, 140);
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
