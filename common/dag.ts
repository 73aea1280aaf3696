/**
 * ADF's dependency rules (docs/spec/adf-pipeline-semantics.md §3.2, §3.3), pure so the validator, the engine and tests share one reading:
 * conditions OR-ed within a dependsOn entry, entries AND-ed, `Completed` = Succeeded or Failed (not Skipped), an
 * unmet dependency means Skipped, and the run's status comes from the leaves.
 */
import type { DependencyCondition } from './pipeline-definition';

/** Status an activity counts as for its dependents (an Inactive one counts as its `onInactiveMarkAs`). */
export type EffectiveStatus = 'Succeeded' | 'Failed' | 'Skipped' | 'Cancelled';

export interface DagNode {
  name: string;
  dependsOn: { activity: string; conditions: DependencyCondition[] }[];
}

export function conditionHolds(conditions: readonly DependencyCondition[], upstream: EffectiveStatus): boolean {
  return conditions.some((c) =>
    c === 'Completed' ? upstream === 'Succeeded' || upstream === 'Failed' : c === upstream,
  );
}

/** All entries must hold (AND across entries, OR within one). */
export function dependenciesHold(node: DagNode, statusOf: (name: string) => EffectiveStatus): boolean {
  return node.dependsOn.every((d) => conditionHolds(d.conditions, statusOf(d.activity)));
}

export interface LeafRuleResult {
  status: 'Succeeded' | 'Failed' | 'Cancelled';
  /** Nodes whose status decided the run (leaves, or the nearest non-skipped ancestors of skipped leaves). */
  evaluated: string[];
  /** Evaluated nodes that failed, in definition order: the run's error comes from the first. */
  failed: string[];
}

/**
 * docs/spec/adf-pipeline-semantics.md §3.3: take every leaf; a skipped node is replaced by its parents, repeatedly; the run succeeds iff every
 * evaluated node succeeded. A skipped node without parents (an Inactive root marked Skipped) decides nothing.
 */
export function leafRule(nodes: readonly DagNode[], statusOf: (name: string) => EffectiveStatus): LeafRuleResult {
  const hasDependents = new Set(nodes.flatMap((n) => n.dependsOn.map((d) => d.activity)));
  const byName = new Map(nodes.map((n) => [n.name, n]));
  const evaluated = new Set<string>();
  const seen = new Set<string>();
  const visit = (name: string): void => {
    if (seen.has(name)) return;
    seen.add(name);
    if (statusOf(name) === 'Skipped') {
      for (const d of byName.get(name)?.dependsOn ?? []) visit(d.activity);
    } else {
      evaluated.add(name);
    }
  };
  for (const n of nodes) if (!hasDependents.has(n.name)) visit(n.name);
  const order = nodes.map((n) => n.name).filter((n) => evaluated.has(n));
  const failed = order.filter((n) => statusOf(n) === 'Failed');
  const status = order.some((n) => statusOf(n) === 'Cancelled') ? 'Cancelled' : failed.length ? 'Failed' : 'Succeeded';
  return { status, evaluated: order, failed };
}

/** A dependency cycle as a list of names (first repeated at the end), or undefined. */
export function findCycle(nodes: readonly DagNode[]): string[] | undefined {
  const byName = new Map(nodes.map((n) => [n.name, n]));
  const state = new Map<string, 'active' | 'done'>();
  const stack: string[] = [];
  const visit = (name: string): string[] | undefined => {
    const s = state.get(name);
    if (s === 'done') return undefined;
    if (s === 'active') return [...stack.slice(stack.indexOf(name)), name];
    state.set(name, 'active');
    stack.push(name);
    for (const d of byName.get(name)?.dependsOn ?? []) {
      if (!byName.has(d.activity)) continue;
      const c = visit(d.activity);
      if (c) return c;
    }
    stack.pop();
    state.set(name, 'done');
    return undefined;
  };
  for (const n of nodes) {
    const c = visit(n.name);
    if (c) return c;
  }
  return undefined;
}

/** Every node downstream of any of `roots` (the roots included). */
export function downstreamOf(nodes: readonly DagNode[], roots: Iterable<string>): Set<string> {
  const out = new Set<string>(roots);
  let grew = true;
  while (grew) {
    grew = false;
    for (const n of nodes) {
      if (!out.has(n.name) && n.dependsOn.some((d) => out.has(d.activity))) {
        out.add(n.name);
        grew = true;
      }
    }
  }
  return out;
}

/** Every node upstream of `name` (not including it). */
export function ancestorsOf(nodes: readonly DagNode[], name: string): Set<string> {
  const byName = new Map(nodes.map((n) => [n.name, n]));
  const out = new Set<string>();
  const todo = [...(byName.get(name)?.dependsOn.map((d) => d.activity) ?? [])];
  while (todo.length) {
    const n = todo.pop()!;
    if (out.has(n)) continue;
    out.add(n);
    todo.push(...(byName.get(n)?.dependsOn.map((d) => d.activity) ?? []));
  }
  return out;
}
