/**
 * The ADF expression subset (docs/spec/adf-pipeline-semantics.md §4.1): parsing, typed vs interpolated results, escapes, system variables, the
 * functions retrain pipelines use, and .NET date formats. Pure: no server.
 */
import type { EvalContext } from '../../common/expressions';
import {
  analyze,
  evaluateValue,
  ExpressionError,
  formatInstant,
  isExpression,
  parseTimestamp,
  SUPPORTED_FUNCTIONS,
  SystemObject,
} from '../../common/expressions';

const NOW = new Date('2024-03-05T06:07:08.123Z');
let guids = 0;
const ctx = (over: Partial<EvalContext> = {}): EvalContext => ({
  pipeline: new SystemObject({
    DataFactory: 'f',
    Pipeline: 'RetrainAndUpdate',
    RunId: '11111111-2222-3333-4444-555555555555',
    TriggerTime: '2024-03-05T06:00:00.0000000Z',
    TriggerType: 'Manual',
    TriggeredByPipelineName: null,
    parameters: { n: 42, runDate: '2024-01-31', folder: 'models', flag: true, list: ['a', 'b'], obj: { k: 'v' } },
    globalParameters: {},
  }),
  activity: (name) => {
    if (name === 'Retrain')
      return { output: { jobId: 'job1', outputs: { output1: { filePath: 'm/x.ilearner' } } }, status: 'Succeeded' };
    throw new ExpressionError(`activity '${name}' was skipped, so it has no output`);
  },
  variables: (name) => ({ note: 'hello' })[name],
  now: () => NOW,
  guid: () => `00000000-0000-0000-0000-00000000000${++guids}`,
  ...over,
});
const ev = (v: unknown, c = ctx()) => evaluateValue(v, c);

describe('expression evaluation', () => {
  test.each([
    ['@pipeline().parameters.n', 42],
    ['@{pipeline().parameters.n}', '42'],
    ['file-@{pipeline().RunId}.csv', 'file-11111111-2222-3333-4444-555555555555.csv'],
    ['@pipeline().Pipeline', 'RetrainAndUpdate'],
    ['@pipeline().pipeline', 'RetrainAndUpdate'],
    ['@pipeline().TriggerTime', '2024-03-05T06:00:00.0000000Z'],
    ['@pipeline()?.TriggeredByPipelineName', null],
    ["@concat('models/', pipeline().parameters.runDate, '.ilearner')", 'models/2024-01-31.ilearner'],
    ["@concat('a', 1, true)", 'a1True'],
    ['@@not an expression', '@not an expression'],
    [' @literal with a leading space', ' @literal with a leading space'],
    ['plain text', 'plain text'],
    ['cost: @@{not interpolated}', 'cost: @{not interpolated}'],
    ["@{'it''s'}", "it's"],
    ['@pipeline().parameters.list[1]', 'b'],
    ["@pipeline().parameters.obj['k']", 'v'],
    ["@pipeline().parameters[concat('ru', 'nDate')]", '2024-01-31'],
    ["@activity('Retrain').output.jobId", 'job1'],
    ["@activity('Retrain').output.outputs.output1.filePath", 'm/x.ilearner'],
    ["@variables('note')", 'hello'],
    ['@utcnow()', '2024-03-05T06:07:08.1230000Z'],
    ["@utcNow('yyyyMMddHHmm')", '202403050607'],
    ["@formatDateTime(utcnow(), 'yyyy-MM-dd')", '2024-03-05'],
    ["@adddays(utcnow(), -1, 'yyyy-MM-dd')", '2024-03-04'],
    ["@addDays('2024-01-31T00:00:00Z', 1)", '2024-02-01T00:00:00.0000000Z'],
    ["@addHours('2024-01-31T23:30:00Z', 1, 'o')", '2024-02-01T00:30:00.0000000Z'],
    ["@addMinutes('2024-01-31T23:30:00Z', -31, 's')", '2024-01-31T22:59:00'],
    ["@addSeconds('2024-01-31T23:59:59.5Z', 1, 'HH:mm:ss.fff')", '00:00:00.500'],
    ["@addToTime('2024-01-31T00:00:00Z', 1, 'Month', 'yyyy-MM-dd')", '2024-02-29'],
    ["@subtractFromTime('2024-03-31T00:00:00Z', 1, 'Month', 'yyyy-MM-dd')", '2024-02-29'],
    ["@startOfDay('2024-03-05T06:07:08Z')", '2024-03-05T00:00:00.0000000Z'],
    ["@startOfMonth('2024-03-05T06:07:08Z', 'yyyy-MM-dd')", '2024-03-01'],
    ["@formatDateTime('2017-06-01T22:20:00.4061448Z', 'o')", '2017-06-01T22:20:00.4061448Z'],
    ["@formatDateTime('2024-03-05T14:07:08+02:00', 'HH:mm')", '12:07'],
    ["@formatDateTime('2024-03-05T06:07:08Z', 'dddd, MMMM d, yyyy h:mm tt')", 'Tuesday, March 5, 2024 6:07 AM'],
    ["@formatDateTime('2024-03-05T06:07:08Z', 'ddd dd MMM yy')", 'Tue 05 Mar 24'],
    ["@formatDateTime('2024-03-05T06:07:08.120Z', 'ss.FFF')", '08.12'],
    ["@formatDateTime('2024-03-05T06:07:08Z', 'ss.FFF')", '08'],
    ["@formatDateTime('2024-03-05T06:07:08Z', '''day'' d')", 'day 5'],
    ["@formatDateTime('2024-03-05T06:07:08Z', 'R')", 'Tue, 05 Mar 2024 06:07:08 GMT'],
    ["@formatDateTime('2024-03-05T06:07:08Z', 'u')", '2024-03-05 06:07:08Z'],
    ["@formatDateTime('2024-03-05', 'yyyy/MM/dd')", '2024/03/05'],
    ["@substring('abcdef', 1, 3)", 'bcd'],
    ["@replace('a-b-c', '-', '/')", 'a/b/c'],
    ["@split('a,b', ',')", ['a', 'b']],
    ["@toUpper('abc')", 'ABC'],
    ["@toLower('ABC')", 'abc'],
    ["@trim('  x ')", 'x'],
    ["@indexOf('Hello', 'LL')", 2],
    ["@startsWith('Hello', 'he')", true],
    ["@endsWith('model.ilearner', '.ILEARNER')", true],
    ["@contains('abc', 'b')", true],
    ["@contains(pipeline().parameters.list, 'a')", true],
    ['@empty(pipeline().parameters.list)', false],
    ["@length('abc')", 3],
    ['@first(pipeline().parameters.list)', 'a'],
    ['@last(pipeline().parameters.list)', 'b'],
    ["@join(pipeline().parameters.list, '+')", 'a+b'],
    ['@equals(pipeline().parameters.n, 42)', true],
    ["@if(equals(pipeline().parameters.n, 42), 'yes', 'no')", 'yes'],
    ['@and(true, not(false))', true],
    ['@or(false, greater(2, 1))', true],
    ["@less('a', 'b')", true],
    ['@greaterOrEquals(2, 2)', true],
    ["@coalesce(pipeline()?.TriggeredByPipelineName, 'manual')", 'manual'],
    ["@int('42')", 42],
    ["@float('2.5')", 2.5],
    ["@bool('true')", true],
    ['@string(pipeline().parameters.flag)', 'True'],
    ['@json(\'{"a":1}\')', { a: 1 }],
    ['@add(1, 2)', 3],
    ['@sub(5, 2)', 3],
    ['@mul(3, 4)', 12],
    ['@div(7, 2)', 3],
    ['@mod(7, 2)', 1],
    ['@max(1, 5, 3)', 5],
    ['@createArray(1, 2)', [1, 2]],
    ["@dayOfWeek('2024-03-05T00:00:00Z')", 2],
    ["@dayOfYear('2024-03-05T00:00:00Z')", 65],
    ["@if(true, 'short-circuit', activity('Missing').output)", 'short-circuit'],
  ])('%s → %j', (expr, expected) => {
    expect(ev(expr)).toEqual(expected);
  });

  test('when a value is an Expression object (as ADF Studio saves it), then it is evaluated like an @-string', () => {
    expect(ev({ type: 'Expression', value: "@concat('x', pipeline().parameters.n)" })).toBe('x42');
    expect(ev({ value: 'pipeline().parameters.n', type: 'Expression' })).toBe(42);
  });

  test('when expressions are nested in objects and arrays, then each is evaluated and the shape is kept', () => {
    expect(ev({ a: ['@pipeline().parameters.n', 'lit'], b: { c: '@{pipeline().parameters.flag}' } })).toEqual({
      a: [42, 'lit'],
      b: { c: 'True' },
    });
  });

  test('when guid() is called, then the value comes from the supplied deterministic source', () => {
    expect(ev("@guid('N')", ctx({ guid: () => 'aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee' }))).toBe(
      'aaaaaaaabbbbccccddddeeeeeeeeeeee',
    );
  });

  test.each([
    ["@activity('Skipped').output", 'was skipped'],
    ['@pipeline().parameters.missing', "property 'missing' does not exist"],
    ['@pipeline().parameters.N', 'case-sensitive'],
    ["@base64('x')", "function 'base64' is not supported"],
    ["@substring('abc', 2, 5)", 'out of range'],
    ["@int('4.5')", 'cannot convert'],
    ["@formatDateTime('yesterday')", 'is not an ISO 8601 timestamp'],
    ["@formatDateTime(utcnow(), 'Q')", 'not a .NET standard date format'],
    ['@div(1, 0)', 'division by zero'],
    ["@concat('a'", "expected ')'"],
    ['@trigger().scheduledTime', "trigger() can only be used in a trigger's pipeline parameters"],
  ])('when %s is evaluated, then it fails with "%s"', (expr, message) => {
    expect(() => ev(expr)).toThrow(message);
  });
});

describe('expression analysis (validation)', () => {
  test('when an expression is analyzed, then functions, activities, parameters and variables are listed', () => {
    expect(
      analyze(
        "@concat(activity('A').output.x, pipeline().parameters.p, variables('v'), formatDateTime(utcnow(), 'yyyy'))",
      ),
    ).toEqual({
      functions: ['concat', 'activity', 'pipeline', 'variables', 'formatDateTime', 'utcnow'],
      activities: ['A'],
      parameters: ['p'],
      variables: ['v'],
    });
    expect(analyze('x-@{pipeline().parameters.q}')?.parameters).toEqual(['q']);
    expect(analyze('plain')).toBeUndefined();
    expect(analyze('@@escaped')).toBeUndefined();
  });

  test('when values are checked for expressions, then only @-strings, interpolations and Expression objects count', () => {
    expect(isExpression('@x()')).toBe(true);
    expect(isExpression('a @{x()} b')).toBe(true);
    expect(isExpression({ type: 'Expression', value: '@x()' })).toBe(true);
    expect(isExpression('@@x')).toBe(false);
    expect(isExpression('user@example.com')).toBe(false);
    expect(isExpression(42)).toBe(false);
  });

  test('the supported function list is what the evaluator implements', () => {
    expect(SUPPORTED_FUNCTIONS.length).toBeGreaterThanOrEqual(50);
    for (const f of ['concat', 'formatDateTime', 'utcNow', 'addDays', 'activity', 'pipeline']) {
      expect(SUPPORTED_FUNCTIONS).toContain(f);
    }
  });

  test('timestamps keep 7 fractional digits through parse and format', () => {
    expect(formatInstant(parseTimestamp('2017-06-01T22:20:00.4061448Z', 't'), 'fffffff')).toBe('4061448');
  });
});
