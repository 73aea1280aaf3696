import { identityKey, parseMetricsCsv } from '../../activities/model';
import {
  checkDeploymentPolicy,
  describeGate,
  evaluateGate,
  normalizeDeploymentPolicy,
  parseGateRule,
  policyFromAnnotations,
} from '../../common/deployment';
import type { GateRule } from '../../common/deployment';

const rule = (text: string): GateRule => {
  const r = parseGateRule(text);
  if (typeof r === 'string') throw new Error(r);
  return r;
};

describe('quality gate rules', () => {
  test.each([
    ['AUC >= 0.80', { metric: 'AUC', op: '>=', threshold: 0.8 }],
    ['  Log Loss <= .5 ', { metric: 'Log Loss', op: '<=', threshold: 0.5 }],
    ['AUC >= live - 0.02', { metric: 'AUC', op: '>=', threshold: { live: true, offset: -0.02 } }],
    ['RMSE < live', { metric: 'RMSE', op: '<', threshold: { live: true, offset: 0 } }],
    ['Accuracy > live + 0.01', { metric: 'Accuracy', op: '>', threshold: { live: true, offset: 0.01 } }],
  ])('%s parses', (text, expected) => {
    expect(parseGateRule(text)).toMatchObject(expected);
  });

  test.each(['AUC >> 0.8', 'AUC', '>= 0.8', 'AUC >= live * 2', 'AUC = 0.8'])(
    '%s is refused with how to write it',
    (t) => {
      expect(parseGateRule(t)).toMatch(/is not a threshold: write 'METRIC >= 0\.80'/);
    },
  );

  test('absolute and relative rules: numbers in, the failing ones described with their thresholds', () => {
    const rules = [rule('AUC >= 0.80'), rule('AUC >= live - 0.02'), rule('LogLoss <= live')];
    const checks = evaluateGate(rules, { AUC: 0.85, LogLoss: 0.3 }, { AUC: 0.9, LogLoss: 0.31 });
    expect(checks.map((c) => [c.rule, c.threshold, c.passed])).toEqual([
      ['AUC >= 0.80', 0.8, true],
      // 0.9 - 0.02 = 0.88 exactly, not 0.8800000000000001.
      ['AUC >= live - 0.02', 0.88, false],
      ['LogLoss <= live', 0.31, true],
    ]);
    expect(describeGate(checks.filter((c) => !c.passed))).toBe("AUC 0.85 fails 'AUC >= live - 0.02' (threshold 0.88)");
  });

  test('a relative rule with no live model passes and says why; a metric the model lacks fails', () => {
    const [relative] = evaluateGate([rule('AUC >= live - 0.02')], { AUC: 0.5 }, null);
    expect(relative).toMatchObject({ passed: true, threshold: null, note: 'no live model to compare with' });
    const [missing] = evaluateGate([rule('F1 >= 0.5')], { AUC: 0.9 }, null);
    expect(missing).toMatchObject({ passed: false, value: null, note: 'metric missing' });
  });

  test('a boundary value passes >= and fails >', () => {
    expect(evaluateGate([rule('AUC >= 0.8')], { AUC: 0.8 }, null)[0].passed).toBe(true);
    expect(evaluateGate([rule('AUC > 0.8')], { AUC: 0.8 }, null)[0].passed).toBe(false);
  });
});

describe('deployment policy from pipeline annotations', () => {
  test('our annotations become a policy; plain tags are left alone', () => {
    const { policy, problems } = policyFromAnnotations([
      'nightly',
      'retrain:gate AUC >= 0.80',
      'retrain:gate AUC >= live - 0.02',
      'retrain:metrics output2',
      'retrain:approval required timeout=2.00:00:00',
      'retrain:fanout all-or-nothing parallel=2',
      'retrain:verify timeout=60 interval=2 column=Model input={"input1": {"ColumnNames": ["age"], "Values": [["42"]]}}',
    ]);
    expect(problems).toEqual([]);
    expect(policy).toMatchObject({
      gate: { metricsOutput: 'output2', rules: [{ text: 'AUC >= 0.80' }, { text: 'AUC >= live - 0.02' }] },
      approval: { required: true, timeout: '2.00:00:00' },
      fanOut: { mode: 'all-or-nothing', parallel: 2 },
      verification: {
        enabled: true,
        timeoutSeconds: 60,
        intervalSeconds: 2,
        modelColumn: 'Model',
        input: { input1: { ColumnNames: ['age'], Values: [['42']] } },
      },
    });
  });

  test('no annotation of ours: no policy (ADF behaviour)', () => {
    expect(policyFromAnnotations(['tag', 42, null])).toEqual({ policy: undefined, problems: [] });
  });

  test.each([
    ['retrain:gate AUC >> 1', /'retrain:gate AUC >> 1': 'AUC >> 1' is not a threshold/],
    ['retrain:approval maybe', /write 'retrain:approval required/],
    ['retrain:approval required timeout=soon', /timeout 'soon' is not \[d\.\]hh:mm:ss/],
    ['retrain:approval required wait=1', /unknown option 'wait' \(known: timeout\)/],
    ['retrain:fanout all-or-nothing parallel=1.5', /parallel must be a whole number/],
    ['retrain:fanout some', /best-effort\|all-or-nothing/],
    ['retrain:verify timeout=-1', /timeout must be a positive number, got '-1'/],
    ['retrain:verify input={nope', /input must be a JSON object of RRS Inputs/],
    ['retrain:metrics ../x', /name the output port/],
    ['retrain:deploy now', /unknown directive 'deploy' \(known: gate, metrics, approval, fanout, verify\)/],
  ])('%s is a problem at its index, with the annotation quoted', (annotation, message) => {
    const { problems } = policyFromAnnotations(['tag', annotation]);
    expect(problems).toHaveLength(1);
    expect(problems[0].index).toBe(1);
    expect(problems[0].message).toMatch(message);
  });
});

describe('deployment policy in the retrainAndUpdate input', () => {
  test('a good policy has no problems and its rules are parsed', () => {
    const p = {
      gate: { rules: ['AUC >= 0.80', 'AUC >= live - 0.02'] },
      approval: { required: true, timeout: '00:30:00' },
      verification: { timeoutSeconds: 30, intervalSeconds: 1 },
      fanOut: { mode: 'all-or-nothing' as const, parallel: 2 },
    };
    expect(checkDeploymentPolicy(p, 'input.deployment')).toEqual([]);
    expect(normalizeDeploymentPolicy(p)?.gate?.rules.map((r) => r.threshold)).toEqual([
      0.8,
      { live: true, offset: -0.02 },
    ]);
  });

  test('every bad field is named by its path', () => {
    const problems = checkDeploymentPolicy(
      {
        gate: { rules: ['AUC >> 0.8', 7] },
        approval: { required: 'yes', timeout: 30 },
        verification: { timeoutSeconds: 0, input: [] },
        fanOut: { mode: 'some', parallel: 0 },
        rollout: {},
      },
      'input.deployment',
    );
    expect(problems).toEqual([
      'input.deployment.rollout is not a deployment setting (gate, approval, verification, fanOut)',
      expect.stringMatching(/^input\.deployment\.gate\.rules\[0\]: 'AUC >> 0\.8' is not a threshold/),
      'input.deployment.gate.rules[1]: give the rule as a string, e.g. "AUC >= 0.80"',
      'input.deployment.approval.required must be true or false',
      "input.deployment.approval.timeout '30' is not [d.]hh:mm:ss",
      'input.deployment.verification.timeoutSeconds must be a positive number',
      'input.deployment.verification.input must be an object of RRS Inputs',
      "input.deployment.fanOut.mode must be 'best-effort' or 'all-or-nothing'",
      'input.deployment.fanOut.parallel must be a whole number > 0',
    ]);
    expect(checkDeploymentPolicy([], 'input.deployment')).toEqual(['input.deployment must be an object']);
  });
});

describe('evaluation output (metrics CSV)', () => {
  test('the first row of numbers is read; text columns are listed without a value', () => {
    expect(parseMetricsCsv('\uFEFF"AUC","Accuracy","Model"\r\n0.91,0.87,"two-class"\r\n')).toEqual({
      columns: ['AUC', 'Accuracy', 'Model'],
      values: { AUC: 0.91, Accuracy: 0.87 },
    });
  });

  test.each([
    ['', 'the file is empty'],
    ['\n\n', 'the file is empty'],
    ['AUC,Accuracy\n', 'the file has a header (AUC, Accuracy) but no row of values'],
    ['Model,Kind\nx,y\n', 'no numeric value in its first row (columns: Model, Kind)'],
  ])('%j: %s', (csv, why) => {
    expect(parseMetricsCsv(csv)).toBe(why);
  });
});

describe('model identity', () => {
  test('a new blob version at the same path is another model; the same version is the same model', () => {
    expect(identityKey('job1', '"0x1"')).toBe(identityKey('job1', '"0x1"'));
    expect(identityKey('job1', '"0x1"')).not.toBe(identityKey('job1', '"0x2"'));
    expect(identityKey('job1', '"0x1"')).not.toBe(identityKey('job2', '"0x1"'));
    expect(identityKey(null, '"0x1"')).toMatch(/^external\.[0-9a-f]{12}$/);
  });
});
