/**
 * Bad input refused early (issue 11, points 4 and 5): each case edits a copy of the seed folder the way a user or an
 * attacker would, and the validator must refuse it naming file and JSON path; `retrain worker` must refuse the same
 * folder at start with the same line, without --verbose. Expressions read own properties only and keep `__proto__`
 * and `constructor` as data or refuse them; dates out of range are errors; triggers refuse impossible dates, intervals
 * Temporal cannot hold, and month steps a schedule cannot express.
 */
import { spawnSync } from 'node:child_process';
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { evaluateValue, ExpressionError, SystemObject } from '../../common/expressions';
import type { EvalContext } from '../../common/expressions';
import { formatDiagnostic } from '../../config/diagnostics';
import { validateFolder } from '../../config/factory';
import { mapScheduleTrigger } from '../../config/triggers';

const seed = join(__dirname, '..', 'fixtures', 'seed');
const cli = join(__dirname, '..', '..', 'dist', 'client', 'cli.js');
const PIPELINE = join('pipeline', 'LookupPipelineDemo.json');
const STORAGE = join('linkedService', 'StorageLinkedService.json');
const TRAINING = join('linkedService', 'trainingEndpoint.json');
const SCORING = join('linkedService', 'updatableScoringEndpoint2.json');

type Json = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

const dirs: string[] = [];
afterAll(() => dirs.forEach((d) => rmSync(d, { recursive: true, force: true })));

/** A copy of the seed with `edit` applied to one file (JSON object, or raw text when edit returns a string). */
function folder(file: string, edit: (j: Json) => Json | string | void): string {
  const dir = mkdtempSync(join(tmpdir(), 'ml-hardening-'));
  dirs.push(dir);
  cpSync(seed, dir, { recursive: true });
  const path = join(dir, file);
  const j = JSON.parse(readFileSync(path, 'utf8')) as Json;
  const out = edit(j);
  writeFileSync(path, typeof out === 'string' ? out : JSON.stringify(out ?? j, null, 2));
  return dir;
}

async function errorsOf(dir: string): Promise<string[]> {
  const v = await validateFolder(dir);
  return v.diagnostics.filter((d) => d.severity === 'error').map(formatDiagnostic);
}

const act = (j: Json, i: number): Json => j.properties.activities[i] as Json;
const tp = (j: Json): Json => j.properties.typeProperties as Json;

interface Case {
  name: string;
  file: string;
  edit: (j: Json) => Json | string | void;
  path: string;
  contains: string;
}

const cases: Case[] = [
  {
    name: 'a model path with ..',
    file: PIPELINE,
    edit: (j) => void (act(j, 1).typeProperties.trainedModelFilePath = 'azuremltesting/../other/model.ilearner'),
    path: '$.properties.activities[1].typeProperties.trainedModelFilePath',
    contains: "'..' segment",
  },
  {
    name: 'a data path that is a URL on another host',
    file: PIPELINE,
    edit: (j) => void (act(j, 0).typeProperties.webServiceInputs.input1.FilePath = 'https://evil.example/c/x.csv'),
    path: '$.properties.activities[0].typeProperties.webServiceInputs.input1.FilePath',
    contains: 'is a URL or has a scheme',
  },
  {
    name: 'a data path starting with //host',
    file: PIPELINE,
    edit: (j) => void (act(j, 0).typeProperties.webServiceOutputs.output1.FilePath = '//evil.example/c/x.csv'),
    path: '$.properties.activities[0].typeProperties.webServiceOutputs.output1.FilePath',
    contains: 'starts with // (a host)',
  },
  {
    name: 'a file: model path',
    file: PIPELINE,
    edit: (j) => void (act(j, 1).typeProperties.trainedModelFilePath = 'file:///etc/passwd.ilearner'),
    path: '$.properties.activities[1].typeProperties.trainedModelFilePath',
    contains: 'is a URL or has a scheme',
  },
  {
    name: 'an http:// BES endpoint on a public host',
    file: TRAINING,
    edit: (j) =>
      void (tp(j).mlEndpoint =
        'http://ussouthcentral.services.azureml.net/workspaces/x/services/y/jobs?api-version=2.0'),
    path: '$.properties.typeProperties.mlEndpoint',
    contains: 'http:// mlEndpoint would send keys in clear text',
  },
  {
    name: 'a BES api-version other than 2.0',
    file: TRAINING,
    edit: (j) =>
      void (tp(j).mlEndpoint =
        'https://ussouthcentral.services.azureml.net/workspaces/x/services/y/jobs?api-version=2.1'),
    path: '$.properties.typeProperties.mlEndpoint',
    contains: "api-version '2.1' is not the BES version",
  },
  {
    name: 'an ARM api-version the RP does not serve',
    file: SCORING,
    edit: (j) =>
      void (tp(j).updateResourceEndpoint = tp(j).updateResourceEndpoint.replace('2016-05-01-preview', '2015-01-01')),
    path: '$.properties.typeProperties.updateResourceEndpoint',
    contains: "api-version '2015-01-01' is not a Microsoft.MachineLearning webServices version",
  },
  {
    name: 'bracket placeholders inside a connection string',
    file: STORAGE,
    edit: (j) => void (tp(j).connectionString = 'DefaultEndpointsProtocol=https;AccountName=[unique];AccountKey=[key]'),
    path: '$.properties.typeProperties.connectionString',
    contains: 'holds a placeholder in AccountName ([unique])',
  },
  {
    name: 'a NUL in an activity name',
    file: PIPELINE,
    edit: (j) => void (act(j, 0).name = 'amlBEGet\u0000ilearner'),
    path: '$.properties.activities[0].name',
    contains: 'U+0000 (NUL)',
  },
  {
    name: 'a zero-width space in an activity name',
    file: PIPELINE,
    edit: (j) => void (act(j, 1).name = 'aml\u200bUpdateResource'),
    path: '$.properties.activities[1].name',
    contains: 'U+200B (zero-width space)',
  },
  {
    name: 'a TAB in a port name',
    file: PIPELINE,
    edit: (j) => {
      const ins = act(j, 0).typeProperties.webServiceInputs;
      ins['in\tput1'] = ins.input1;
      delete ins.input1;
    },
    path: "$.properties.activities[0].typeProperties.webServiceInputs['in\tput1']",
    contains: 'U+0009 (TAB)',
  },
  {
    name: 'a newline in a linked service name',
    file: STORAGE,
    edit: (j) => void (j.name = 'Storage\nLinkedService'),
    path: '$.name',
    contains: 'U+000A (newline)',
  },
  {
    name: 'more activities than ADF allows in one pipeline',
    file: PIPELINE,
    edit: (j) => {
      const waits = Array.from({ length: 80 }, (_, i) => ({
        name: `w${i}`,
        type: 'Wait',
        typeProperties: { waitTimeInSeconds: 1 },
      }));
      j.properties.activities.push(...waits);
    },
    path: '$.properties.activities',
    contains: 'has 82 activities; ADF allows at most 80 per pipeline',
  },
  {
    name: 'JSON nested 10,000 levels deep',
    file: PIPELINE,
    edit: () => `{"name":"LookupPipelineDemo","properties":{"annotations":${'['.repeat(10_000)}${']'.repeat(10_000)}}}`,
    path: `$.properties.annotations${'[0]'.repeat(62)}`,
    contains: 'nests deeper than 64 levels',
  },
  {
    name: 'an expression nested 10,000 levels deep',
    file: PIPELINE,
    edit: (j) =>
      void (act(j, 1).typeProperties.trainedModelName = `@${'concat('.repeat(10_000)}'x'${')'.repeat(10_000)}`),
    path: '$.properties.activities[1].typeProperties.trainedModelName',
    contains: 'characters long; ADF allows at most 8192',
  },
  {
    name: 'an expression nested deeper than the parser allows',
    file: PIPELINE,
    edit: (j) => void (act(j, 1).typeProperties.trainedModelName = `@${'concat('.repeat(100)}'x'${')'.repeat(100)}`),
    path: '$.properties.activities[1].typeProperties.trainedModelName',
    contains: 'nests deeper than 64 levels',
  },
  {
    name: 'a __proto__ pipeline parameter',
    file: PIPELINE,
    edit: (j) => `${JSON.stringify(j).slice(0, -2)},"parameters":{"__proto__":{"type":"String"}}}}`,
    path: '$.properties.parameters.__proto__',
    contains: "the key '__proto__' is reserved",
  },
];

describe('validation refuses early, naming file and JSON path', () => {
  test.each(cases.map((c) => [c.name, c] as const))('%s', async (_name, c) => {
    const dir = folder(c.file, c.edit);
    const errors = await errorsOf(dir);
    const file = join(dir, c.file);
    const hit = errors.find((l) => l.startsWith(`${file}: ${c.path}: `) && l.includes(c.contains));
    if (!hit) throw new Error(`expected ${file}: ${c.path}: …${c.contains}…, got:\n${errors.join('\n')}`);
  });

  test('when an endpoint is plain http on loopback (Azurite, an emulator), then it is a warning, not an error', async () => {
    const dir = folder(STORAGE, (j) => {
      tp(j).connectionString =
        'DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;AccountKey=a2V5;BlobEndpoint=http://127.0.0.1:10000/devstoreaccount1';
    });
    const v = await validateFolder(dir);
    expect(v.diagnostics.filter((d) => d.severity === 'error')).toEqual([]);
    expect(v.diagnostics.map(formatDiagnostic).join('\n')).toContain('plain http to 127.0.0.1:10000 (loopback)');
  });

  test('when a pipeline has 1,000 activities, then validation refuses it in under a second', async () => {
    const dir = folder(PIPELINE, (j) => {
      const chain = Array.from({ length: 998 }, (_, i) => ({
        name: `w${i}`,
        type: 'Wait',
        dependsOn: i ? [{ activity: `w${i - 1}`, dependencyConditions: ['Succeeded'] }] : [],
        typeProperties: { waitTimeInSeconds: '@pipeline().RunId' },
      }));
      j.properties.activities.push(...chain);
    });
    const t0 = performance.now();
    const errors = await errorsOf(dir);
    const ms = performance.now() - t0;
    console.log(`[hardening] 1,000 activities validated in ${ms.toFixed(0)} ms`);
    expect(errors.join('\n')).toContain('has 1000 activities; ADF allows at most 80');
    expect(ms).toBeLessThan(1000);
  });

  test('when the worker starts on a refused folder, then it exits 1 printing the same lines as the validator, without --verbose', async () => {
    const c = cases[0];
    const dir = folder(c.file, c.edit);
    const expected = (await errorsOf(dir)).find((l) => l.includes(c.contains))!;
    // No Temporal connection is needed: the folder is refused before the worker connects.
    const r = spawnSync(process.execPath, [cli, 'worker', '--config', dir], {
      encoding: 'utf8',
      timeout: 60_000,
      env: { ...process.env, TEMPORAL_ADDRESS: '127.0.0.1:1' },
    });
    expect(r.status).toBe(1);
    expect(r.stderr).toContain(`error: invalid ADF config in ${dir}:`);
    expect(r.stderr).toContain(expected);
    expect(r.stderr).not.toMatch(/\n\s+at /); // no stack trace
  });
});

const NOW = new Date('2024-03-05T06:07:08.123Z');
const ctx = (parameters: Record<string, unknown> = {}): EvalContext => ({
  pipeline: new SystemObject({ DataFactory: 'f', Pipeline: 'P', RunId: 'r', parameters, globalParameters: {} }),
  now: () => NOW,
  guid: () => '00000000-0000-0000-0000-000000000001',
});

describe('expressions reach data only', () => {
  test('when an expression reads a prototype member of pipeline(), then it fails as in ADF', () => {
    expect(() => evaluateValue('@{pipeline().toString}', ctx())).toThrow(
      new ExpressionError(
        "property 'toString' does not exist; available: DataFactory, Pipeline, RunId, parameters, globalParameters",
      ),
    );
    expect(() => evaluateValue('@pipeline().parameters.hasOwnProperty', ctx({ a: 1 }))).toThrow(ExpressionError);
    expect(() => evaluateValue("@pipeline()['constructor']", ctx())).toThrow(ExpressionError);
  });

  test('when data has constructor or __proto__ keys, then they stay data through evaluation', () => {
    expect(evaluateValue('@pipeline().parameters.constructor', ctx({ constructor: 'c' }))).toBe('c');
    const v = JSON.parse('{"__proto__": "@pipeline().Pipeline", "constructor": 1}') as unknown;
    const out = evaluateValue(v, ctx()) as Record<string, unknown>;
    expect(Object.keys(out)).toEqual(['__proto__', 'constructor']);
    expect(Object.getOwnPropertyDescriptor(out, '__proto__')?.value).toBe('P');
    expect(Object.getPrototypeOf(out)).toBe(Object.prototype);
  });

  test('when date arithmetic leaves the calendar, then it is an error, not 0NaN-NaN', () => {
    expect(() => evaluateValue('@addDays(utcNow(), 999999999999)', ctx())).toThrow(
      'addDays: the result is outside the range of dates (0001-01-01 to 9999-12-31)',
    );
    expect(() => evaluateValue("@addToTime(utcNow(), 99999, 'Year')", ctx())).toThrow('outside the range of dates');
    expect(() => evaluateValue("@formatDateTime('2024-02-30T00:00:00Z')", ctx())).toThrow('is not a valid date');
    expect(evaluateValue("@addDays('2024-02-28T00:00:00Z', 1, 'yyyy-MM-dd')", ctx())).toBe('2024-02-29');
  });
});

const trigger = (recurrence: Record<string, unknown>) => ({
  name: 'Nightly',
  properties: {
    type: 'ScheduleTrigger',
    typeProperties: { recurrence },
    pipelines: [{ pipelineReference: { referenceName: 'P', type: 'PipelineReference' } }],
  },
});
const problemsOf = (recurrence: Record<string, unknown>): string => {
  try {
    mapScheduleTrigger('trigger/Nightly.json', trigger(recurrence));
    return '';
  } catch (e) {
    return (e as Error).message;
  }
};

describe('triggers refuse what Temporal cannot run exactly', () => {
  test('when startTime is an impossible date, then the trigger is refused', () => {
    expect(problemsOf({ frequency: 'Day', interval: 1, startTime: '2024-02-30T02:00:00Z' })).toContain(
      "$.properties.typeProperties.recurrence.startTime: '2024-02-30T02:00:00Z' is not a date (2024-02 has no day 30)",
    );
    expect(problemsOf({ frequency: 'Day', interval: 1, startTime: '2024-02-29T02:00:00Z' })).toBe('');
  });

  test('when the interval is longer than a Temporal interval can be, then it is refused', () => {
    expect(problemsOf({ frequency: 'Minute', interval: 1e15, startTime: '2024-01-01T00:00:00Z' })).toContain(
      '$.properties.typeProperties.recurrence.interval: every 1000000000000000 minute(s) is out of range',
    );
  });

  test('when a month step does not divide 12, then it is refused with the reason, not run monthly', () => {
    expect(problemsOf({ frequency: 'Month', interval: 5, startTime: '2024-01-01T00:00:00Z' })).toContain(
      'every 5 months cannot be expressed exactly as a Temporal schedule (month steps must divide 12',
    );
    expect(problemsOf({ frequency: 'Month', interval: 6, startTime: '2024-01-01T00:00:00Z' })).toBe('');
  });
});
