import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import type { RetrainAndUpdateInput, UpdateResourceStep, WebServiceFile } from '../common/types';
import { ConfigError } from './errors';
import { prop, readJsonFile, str } from './json';

/**
 * Turns an ADF v2 pipeline with one AzureMLBatchExecution and the AzureMLUpdateResource activities that depend on
 * it into a retrainAndUpdate input. ADF-defined keys match case-insensitively; user-defined keys (input/output
 * names, parameters) stay exact.
 */

type Obj = Record<string, unknown>;
const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);

function refName(v: unknown): string | undefined {
  if (typeof v === 'string') return v;
  if (isObj(v)) {
    const n = prop(v, 'referenceName');
    return typeof n === 'string' ? n : undefined;
  }
  return undefined;
}

function literal(v: unknown, where: string, problems: string[]): string | undefined {
  if (typeof v === 'string' && !v.startsWith('@')) return v;
  if (v === undefined) return undefined;
  problems.push(`${where}: expressions are not supported by this command yet; use a literal value`);
  return undefined;
}

export interface PipelineMapping {
  input: RetrainAndUpdateInput;
  warnings: string[];
}

export function mapPipeline(file: string, raw: unknown): PipelineMapping {
  const problems: string[] = [];
  const warnings: string[] = [];
  if (!isObj(raw)) throw new ConfigError(`${file}: $: must be a JSON object`);
  const name = prop(raw, 'name');
  const props = prop(raw, 'properties');
  const activities = isObj(props) ? prop(props, 'activities') : undefined;
  if (typeof name !== 'string' || !Array.isArray(activities)) {
    throw new ConfigError(`${file}: $: an ADF v2 pipeline needs 'name' and 'properties.activities'`);
  }
  const batch: { idx: number; a: Obj }[] = [];
  const upd: { idx: number; a: Obj }[] = [];
  activities.forEach((a: unknown, idx) => {
    if (!isObj(a)) return problems.push(`${file}: $.properties.activities[${idx}]: must be an object`);
    const type = prop(a, 'type');
    if (type === 'AzureMLBatchExecution') batch.push({ idx, a });
    else if (type === 'AzureMLUpdateResource') upd.push({ idx, a });
    else
      problems.push(
        `${file}: $.properties.activities[${idx}].type: '${str(type)}' is not supported by retrainAndUpdate`,
      );
    return undefined;
  });
  if (batch.length !== 1) {
    problems.push(`${file}: $.properties.activities: needs exactly one AzureMLBatchExecution, found ${batch.length}`);
    throw new ConfigError(problems.join('\n  '), problems);
  }
  const b = batch[0];
  const bPath = `${file}: $.properties.activities[${b.idx}]`;
  const bName = str(prop(b.a, 'name'));
  const bTp = (prop(b.a, 'typeProperties') ?? {}) as Obj;
  const files = (key: string): Record<string, WebServiceFile> | undefined => {
    const m = prop(bTp, key);
    if (m === undefined) return undefined;
    if (!isObj(m)) {
      problems.push(`${bPath}.typeProperties.${key}: must be an object (a string value means ADF v1 JSON)`);
      return undefined;
    }
    const out: Record<string, WebServiceFile> = {};
    for (const [port, f] of Object.entries(m)) {
      const where = `${bPath}.typeProperties.${key}.${port}`;
      if (!isObj(f)) {
        problems.push(`${where}: must be { linkedServiceName, filePath } (a dataset name means ADF v1 JSON)`);
        continue;
      }
      const ls = refName(prop(f, 'linkedServiceName'));
      const fp = literal(prop(f, 'filePath'), `${where}.filePath`, problems);
      if (!ls) problems.push(`${where}.linkedServiceName: is required`);
      if (fp === undefined) problems.push(`${where}.filePath: is required`);
      if (ls && fp) out[port] = { linkedServiceName: ls, filePath: fp };
    }
    return out;
  };
  const training = {
    activityName: bName,
    linkedServiceName: refName(prop(b.a, 'linkedServiceName')) ?? '',
    webServiceInputs: files('webServiceInputs'),
    webServiceOutputs: files('webServiceOutputs'),
    globalParameters: (prop(bTp, 'globalParameters') as Record<string, string>) ?? undefined,
  };
  if (!training.linkedServiceName) problems.push(`${bPath}.linkedServiceName: is required`);

  const updates: UpdateResourceStep[] = upd.map(({ idx, a }) => {
    const path = `${file}: $.properties.activities[${idx}]`;
    const tp = (prop(a, 'typeProperties') ?? {}) as Obj;
    const deps = prop(a, 'dependsOn');
    const names = Array.isArray(deps) ? deps.map((d) => (isObj(d) ? str(prop(d, 'activity')) : '')) : [];
    const onBatch = names.find((n) => n === bName) ?? names.find((n) => n.toLowerCase() === bName.toLowerCase());
    if (!onBatch) problems.push(`${path}.dependsOn: must depend on '${bName}' (Succeeded)`);
    else if (onBatch !== bName) {
      warnings.push(`${path}.dependsOn: '${onBatch}' matched activity '${bName}' case-insensitively`);
    }
    const step: UpdateResourceStep = {
      activityName: str(prop(a, 'name')),
      linkedServiceName: refName(prop(a, 'linkedServiceName')) ?? '',
      trainedModelName:
        literal(prop(tp, 'trainedModelName'), `${path}.typeProperties.trainedModelName`, problems) ?? '',
      trainedModelLinkedServiceName: refName(prop(tp, 'trainedModelLinkedServiceName')),
      trainedModelFilePath: literal(
        prop(tp, 'trainedModelFilePath'),
        `${path}.typeProperties.trainedModelFilePath`,
        problems,
      ),
    };
    if (!step.linkedServiceName) problems.push(`${path}.linkedServiceName: is required`);
    if (!step.trainedModelName) problems.push(`${path}.typeProperties.trainedModelName: is required`);
    return step;
  });
  if (problems.length) throw new ConfigError(`invalid pipeline ${file}:\n  ${problems.join('\n  ')}`, problems);
  return { input: { pipeline: name, training, updates }, warnings };
}

/** Find `pipeline/<name>.json` (names are case-insensitive in ADF) and map it. */
export async function loadPipeline(configDir: string, name: string): Promise<PipelineMapping> {
  const dir = join(configDir, 'pipeline');
  let files: string[] = [];
  try {
    files = (await readdir(dir)).filter((f) => f.toLowerCase().endsWith('.json'));
  } catch {
    throw new ConfigError(`${dir}: no pipeline folder (expected ADF git layout: pipeline/<name>.json)`);
  }
  for (const f of files) {
    const raw = await readJsonFile(join(dir, f));
    const n = isObj(raw) ? prop(raw, 'name') : undefined;
    if (typeof n === 'string' && n.toLowerCase() === name.toLowerCase()) return mapPipeline(join(dir, f), raw);
  }
  throw new ConfigError(`pipeline '${name}' not found in ${dir}`);
}
