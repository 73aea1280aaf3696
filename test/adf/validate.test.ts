/**
 * The ADF folder validator: every malformed input under test/fixtures/bad (one folder per case, with the error it
 * must produce in expect.json) names the file and the JSON path; the seed validates with its documented warnings; the
 * parser matches ADF-defined keys case-insensitively. Also `retrain validate` as a user runs it.
 */
import { spawnSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { formatDiagnostic } from '../../config/diagnostics';
import { loadPipelineDefinition, validateFolder } from '../../config/factory';

const fixtures = join(__dirname, '..', 'fixtures');
const badDir = join(fixtures, 'bad');
const cases = readdirSync(badDir).sort();
const cli = join(__dirname, '..', '..', 'dist', 'client', 'cli.js');

describe('malformed ADF inputs', () => {
  test('there are at least 40 cases', () => {
    expect(cases.length).toBeGreaterThanOrEqual(40);
  });

  test.each(cases)('%s: the error names the file and the JSON path', async (name) => {
    const dir = join(badDir, name);
    const expected = JSON.parse(readFileSync(join(dir, 'expect.json'), 'utf8')) as {
      errors: { file: string; path: string; contains: string }[];
    };
    const v = await validateFolder(dir);
    const errors = v.diagnostics.filter((d) => d.severity === 'error');
    for (const e of expected.errors) {
      const file = join(dir, e.file);
      const lines = errors.map(formatDiagnostic);
      // The message as printed starts with file and path, then says what is wrong.
      expect(lines.some((l) => l.startsWith(`${file}: ${e.path}: `) && l.includes(e.contains))).toBe(true);
    }
  });
});

describe('the seed folder', () => {
  const seed = join(fixtures, 'seed');

  test('when the seed is validated, then it is valid, with warnings for the case mismatch and the extension-less paths', async () => {
    const v = await validateFolder(seed);
    expect(v.diagnostics.filter((d) => d.severity === 'error')).toEqual([]);
    const warnings = v.diagnostics.map(formatDiagnostic).join('\n');
    expect(warnings).toContain(
      "$.properties.activities[1].dependsOn[0].activity: 'amlbeGetilearner' matched activity 'amlBEGetilearner' case-insensitively",
    );
    expect(warnings).toContain('webServiceInputs.input1.FilePath');
    expect(warnings).toContain('has no file extension');
  });

  test('when the seed pipeline is loaded, then PascalCase keys are read and the dependency resolves to the real name', async () => {
    const v = await validateFolder(seed);
    const def = await loadPipelineDefinition(seed, 'lookuppipelinedemo', v.linkedServices);
    expect(def.name).toBe('LookupPipelineDemo');
    const [bes, upd] = def.activities;
    expect(bes).toMatchObject({
      type: 'AzureMLBatchExecution',
      linkedServiceName: 'trainingEndpoint',
      typeProperties: {
        webServiceInputs: { input1: { linkedServiceName: 'StorageLinkedService', filePath: 'azuremltesting/input' } },
        webServiceOutputs: {
          output1: { linkedServiceName: 'StorageLinkedService', filePath: 'azuremltesting/output' },
        },
      },
      policy: { timeout: '0.12:00:00', retry: 0, retryIntervalInSeconds: 30 },
    });
    expect(upd.dependsOn).toEqual([{ activity: 'amlBEGetilearner', conditions: ['Succeeded'] }]);
    expect(def.warnings.join()).toContain('case-insensitively');
  });

  test('when a pipeline name does not exist, then the error says where it looked', async () => {
    const v = await validateFolder(seed);
    await expect(loadPipelineDefinition(seed, 'Nope', v.linkedServices)).rejects.toThrow(
      `pipeline 'Nope' not found in ${join(seed, 'pipeline')}`,
    );
  });
});

describe('retrain validate', () => {
  test('when the folder is valid, then it exits 0 and prints the warnings', () => {
    const r = spawnSync(process.execPath, [cli, 'validate', '--config', join(fixtures, 'seed')], { encoding: 'utf8' });
    expect(r.status).toBe(0);
    expect(r.stdout).toContain('valid: 0 error(s), 5 warning(s)');
    expect(r.stderr).toContain('WARN  ');
  });

  test('when the folder has errors, then it exits 1 and lists every error with file and JSON path', () => {
    const dir = join(badDir, 'pl-unknown-activity-type');
    const r = spawnSync(process.execPath, [cli, 'validate', '--config', dir], { encoding: 'utf8' });
    expect(r.status).toBe(1);
    expect(r.stderr).toContain(
      `ERROR ${join(dir, 'pipeline', 'P.json')}: $.properties.activities[1].type: activity type 'Copy' is an ADF activity this product does not run`,
    );
    expect(r.stdout).toMatch(/^invalid: 1 error\(s\)/);
  });

  test('when --json is given, then the findings are machine-readable', () => {
    const r = spawnSync(process.execPath, [cli, 'validate', '--json', '--config', join(badDir, 'ls-masked-apikey')], {
      encoding: 'utf8',
    });
    const out = JSON.parse(r.stdout) as { valid: boolean; errors: { path: string }[] };
    expect(out.valid).toBe(false);
    expect(out.errors.map((e) => e.path)).toContain('$.properties.typeProperties.apiKey.value');
  });
});
