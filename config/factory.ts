import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import type { PipelineDefinition } from '../common/pipeline-definition';
import { ConfigError } from './errors';
import { isObject, listJson, prop, readJsonFile, reportReadError } from './json';
import type { LinkedService } from './linked-services';
import { readLinkedServices } from './linked-services';
import type { Diagnostic } from './diagnostics';
import { Diagnostics, formatDiagnostic } from './diagnostics';
import { detectArmTemplate, detectV1Dataset } from './formats';
import { parsePipeline } from './pipeline-parser';
import type { TriggerMapping } from './triggers';
import { readScheduleTrigger } from './triggers';

/**
 * The whole ADF folder (git layout: linkedService/, pipeline/, trigger/, dataset/), checked without any remote call.
 * `retrain validate` prints this; the worker's pipeline loader uses the same parser for one pipeline.
 */
export interface FolderValidation {
  dir: string;
  diagnostics: Diagnostic[];
  linkedServices: Map<string, LinkedService>;
  pipelines: Map<string, PipelineDefinition>;
  triggers: TriggerMapping[];
}

async function readAll(dir: string, sub: string, d: Diagnostics): Promise<{ path: string; raw: unknown }[]> {
  const out: { path: string; raw: unknown }[] = [];
  const folder = join(dir, sub);
  let entries: string[] = [];
  try {
    entries = await readdir(folder);
  } catch {
    return out;
  }
  for (const f of entries.sort()) {
    const path = join(folder, f);
    if (!f.toLowerCase().endsWith('.json')) {
      if (!f.startsWith('.')) d.warn(path, '$', 'not a .json file; ignored');
      continue;
    }
    try {
      out.push({ path, raw: await readJsonFile(path) });
    } catch (e) {
      reportReadError(d, path, e);
    }
  }
  return out;
}

function nameOf(raw: unknown): string | undefined {
  const n = isObject(raw) ? prop(raw, 'name') : undefined;
  return typeof n === 'string' ? n : undefined;
}

export async function validateFolder(dir: string): Promise<FolderValidation> {
  const d = new Diagnostics();
  // ARM templates at the top (ARMTemplateForFactory.json, arm_template.json) or anywhere we read.
  for (const f of await listJson(dir)) {
    const path = join(dir, f);
    try {
      const arm = detectArmTemplate(await readJsonFile(path));
      if (arm) d.error(path, arm.path, arm.message);
    } catch {
      // Not ours to judge: only the ADF folders are read.
    }
  }
  const lsFiles = await listJson(join(dir, 'linkedService'));
  const linkedServices = await readLinkedServicesChecked(dir, lsFiles, d);

  const pipelines = new Map<string, PipelineDefinition>();
  const pipelineFiles = await readAll(dir, 'pipeline', d);
  for (const { path, raw } of pipelineFiles) {
    const { definition } = parsePipeline(path, raw, linkedServices, d);
    if (!definition) continue;
    const prior = pipelines.get(definition.name.toLowerCase());
    if (prior)
      d.error(
        path,
        '$.name',
        `pipeline '${definition.name}' is also defined in ${prior.file} (names are case-insensitive)`,
      );
    pipelines.set(definition.name.toLowerCase(), definition);
  }
  const pipelineNames = new Set(pipelineFiles.map((p) => nameOf(p.raw)?.toLowerCase()).filter(Boolean));

  const triggers: TriggerMapping[] = [];
  for (const { path, raw } of await readAll(dir, 'trigger', d)) {
    const arm = detectArmTemplate(raw);
    if (arm) {
      d.error(path, arm.path, arm.message);
      continue;
    }
    const m = readScheduleTrigger(path, raw, d);
    if (!m) continue;
    for (const w of m.warnings) d.warn(path, '$', w);
    for (const u of m.unmapped) d.warn(path, '$', `not mapped: ${u}`);
    m.pipelines.forEach((p, i) => {
      if (!pipelineNames.has(p.pipelineName.toLowerCase())) {
        d.error(
          path,
          `$.properties.pipelines[${i}].pipelineReference.referenceName`,
          `pipeline '${p.pipelineName}' is not defined in pipeline/`,
        );
      }
    });
    triggers.push(m);
  }
  for (const { path, raw } of await readAll(dir, 'dataset', d)) {
    const found = detectArmTemplate(raw) ?? detectV1Dataset(raw);
    if (found) d.error(path, found.path, found.message);
  }
  if (lsFiles.length === 0 && pipelineFiles.length === 0) {
    d.error(
      join(dir, 'linkedService'),
      '$',
      'no linked services or pipelines found (expected ADF git layout: linkedService/<name>.json, pipeline/<name>.json)',
    );
  }
  return { dir, diagnostics: d.list, linkedServices, pipelines, triggers };
}

async function readLinkedServicesChecked(
  dir: string,
  files: string[],
  d: Diagnostics,
): Promise<Map<string, LinkedService>> {
  for (const f of files) {
    const path = join(dir, 'linkedService', f);
    try {
      const arm = detectArmTemplate(await readJsonFile(path));
      if (arm) d.error(path, arm.path, arm.message);
    } catch {
      // Reported by readLinkedServices.
    }
  }
  return readLinkedServices(dir, d);
}

/**
 * Load one pipeline by name (case-insensitive) from `<dir>/pipeline`, validated against the given linked services.
 * Throws a ConfigError listing every problem of that pipeline.
 */
export async function loadPipelineDefinition(
  dir: string,
  name: string,
  linkedServices: Map<string, LinkedService>,
): Promise<PipelineDefinition> {
  const folder = join(dir, 'pipeline');
  const files = await listJson(folder);
  if (files.length === 0)
    throw new ConfigError(`${folder}: no pipeline folder (expected ADF git layout: pipeline/<name>.json)`);
  for (const f of files) {
    const path = join(folder, f);
    let raw: unknown;
    try {
      raw = await readJsonFile(path);
    } catch {
      continue;
    }
    if (nameOf(raw)?.toLowerCase() !== name.toLowerCase()) continue;
    const d = new Diagnostics();
    const { definition } = parsePipeline(path, raw, linkedServices, d);
    if (!definition) {
      const problems = d.errors.map(formatDiagnostic);
      throw new ConfigError(`invalid pipeline ${path}:\n  ${problems.join('\n  ')}`, problems);
    }
    definition.warnings = d.warnings.map(formatDiagnostic);
    return definition;
  }
  throw new ConfigError(`pipeline '${name}' not found in ${folder}`);
}
