import { ancestorsOf } from '../../common/dag';
import { analyze, ExpressionError, isExpression, isSupportedFunction } from '../../common/expressions';
import type { ActivityDefinition, ParameterDef, PipelineDefinition } from '../../common/pipeline-definition';
import { key } from '../diagnostics';
import { isObject } from '../json';
import type { PipelineReader } from './reader';

/** Whole-pipeline checks, run once the activity graph is known to have no cycle. */

/** Every expression parses, uses supported functions, and refers to declared parameters and ancestor activities. */
export function checkExpressions(
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
          r.error(path, `function '${f}' is not supported (see docs/adf-compatibility.md for the supported functions)`);
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
export function checkModelPaths(r: PipelineReader, activities: ActivityDefinition[]): void {
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
