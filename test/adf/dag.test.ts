/** ADF's dependency and leaf rules (docs/spec/adf-pipeline-semantics.md §3.2, §3.3), pure. The engine corpus runs the same shapes on Temporal. */
import type { DagNode, EffectiveStatus } from '../../common/dag';
import { conditionHolds, dependenciesHold, findCycle, leafRule } from '../../common/dag';
import type { DependencyCondition } from '../../common/pipeline-definition';

const on = (activity: string, ...conditions: DependencyCondition[]) => ({ activity, conditions });
const statuses = (m: Record<string, EffectiveStatus>) => (n: string) => m[n];

describe('dependency conditions', () => {
  test.each<[DependencyCondition[], EffectiveStatus, boolean]>([
    [['Succeeded'], 'Succeeded', true],
    [['Succeeded'], 'Failed', false],
    [['Succeeded'], 'Skipped', false],
    [['Failed'], 'Failed', true],
    [['Skipped'], 'Skipped', true],
    [['Completed'], 'Succeeded', true],
    [['Completed'], 'Failed', true],
    [['Completed'], 'Skipped', false],
    [['Failed', 'Skipped'], 'Skipped', true],
    [['Completed', 'Skipped'], 'Skipped', true],
  ])('when the conditions are %j and upstream is %s, then the entry holds: %s', (c, s, expected) => {
    expect(conditionHolds(c, s)).toBe(expected);
  });

  test('when there are several entries, then all must hold (AND across entries)', () => {
    const node: DagNode = { name: 'C', dependsOn: [on('A', 'Succeeded'), on('B', 'Failed', 'Skipped')] };
    expect(dependenciesHold(node, statuses({ A: 'Succeeded', B: 'Skipped' }))).toBe(true);
    expect(dependenciesHold(node, statuses({ A: 'Succeeded', B: 'Succeeded' }))).toBe(false);
  });
});

describe('leaf rule', () => {
  const main = { name: 'Main', dependsOn: [] };
  test('try-catch: a handled failure is green, an unhandled success too', () => {
    const nodes = [main, { name: 'Handler', dependsOn: [on('Main', 'Failed')] }];
    expect(leafRule(nodes, statuses({ Main: 'Failed', Handler: 'Succeeded' })).status).toBe('Succeeded');
    expect(leafRule(nodes, statuses({ Main: 'Succeeded', Handler: 'Skipped' })).status).toBe('Succeeded');
    expect(leafRule(nodes, statuses({ Main: 'Failed', Handler: 'Failed' })).status).toBe('Failed');
  });

  test('do-if-else: Main failing fails the run even when OnFail succeeds', () => {
    const nodes = [
      main,
      { name: 'OnOk', dependsOn: [on('Main', 'Succeeded')] },
      { name: 'OnFail', dependsOn: [on('Main', 'Failed')] },
    ];
    const r = leafRule(nodes, statuses({ Main: 'Failed', OnOk: 'Skipped', OnFail: 'Succeeded' }));
    expect(r).toEqual({ status: 'Failed', evaluated: ['Main', 'OnFail'], failed: ['Main'] });
  });

  test('do-if-skip-else: Main failing is green when OnFail and Dummy succeed', () => {
    const nodes = [
      main,
      { name: 'OnOk', dependsOn: [on('Main', 'Succeeded')] },
      { name: 'OnFail', dependsOn: [on('Main', 'Failed')] },
      { name: 'Dummy', dependsOn: [on('OnOk', 'Skipped')] },
    ];
    expect(
      leafRule(nodes, statuses({ Main: 'Failed', OnOk: 'Skipped', OnFail: 'Succeeded', Dummy: 'Succeeded' })).status,
    ).toBe('Succeeded');
    expect(
      leafRule(nodes, statuses({ Main: 'Succeeded', OnOk: 'Succeeded', OnFail: 'Skipped', Dummy: 'Skipped' })).status,
    ).toBe('Succeeded');
  });

  test('a cycle is found and named', () => {
    expect(
      findCycle([
        { name: 'A', dependsOn: [on('B', 'Succeeded')] },
        { name: 'B', dependsOn: [on('A', 'Succeeded')] },
      ]),
    ).toEqual(['A', 'B', 'A']);
  });
});
