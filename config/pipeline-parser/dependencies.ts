import type { ActivityDefinition, ActivityDependency, DependencyCondition } from '../../common/pipeline-definition';
import { isObject, keyOf, prop, str } from '../json';
import type { Obj, PipelineReader } from './reader';

const CONDITIONS: DependencyCondition[] = ['Succeeded', 'Failed', 'Skipped', 'Completed'];

/** An activity's `dependsOn`, each condition matched case-insensitively. */
export function parseDependsOn(r: PipelineReader, a: Obj, path: string): ActivityDependency[] {
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
export function resolveDependencies(
  r: PipelineReader,
  activities: ActivityDefinition[],
  paths: Map<string, string>,
): void {
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
