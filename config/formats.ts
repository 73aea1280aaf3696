import { isObject, keyOf, prop } from './json';

/**
 * Formats that look like ADF JSON but are not ADF v2 git-folder definitions (docs/spec/adf-pipeline-semantics.md §1.1, §2.3): ADF v1
 * ("dataFactories", API 2015-10-01) and ARM templates that wrap factories. Both are refused with a message that
 * names the format and what to change; converting v1 faithfully needs its slice-window semantics, which we do not
 * emulate.
 */
export interface FormatFinding {
  format: 'ADF v1' | 'ARM template';
  path: string;
  message: string;
}

const V1_FIX =
  'This product runs ADF v2 definitions (the factory git layout): rewrite it as v2 - webServiceInputs/' +
  'webServiceOutputs as { linkedServiceName, filePath } objects instead of dataset names, trainedModelLinkedServiceName ' +
  '+ trainedModelFilePath instead of trainedModelDatasetName, dependsOn instead of dataset slices, and a ' +
  'ScheduleTrigger instead of scheduler/start/end';

function v1(path: string, what: string): FormatFinding {
  return { format: 'ADF v1', path, message: `ADF v1 JSON (dataFactories API 2015-10-01): ${what}. ${V1_FIX}` };
}

/** An ARM deployment template or its parameters file (ARMTemplateForFactory.json, arm_template.json). */
export function detectArmTemplate(raw: unknown): FormatFinding | undefined {
  if (!isObject(raw)) return undefined;
  const schema = raw['$schema'];
  const isArm =
    (typeof schema === 'string' && /deployment(Template|Parameters)/i.test(schema)) ||
    (Array.isArray(raw.resources) && raw.contentVersion !== undefined);
  if (!isArm) return undefined;
  const params = typeof schema === 'string' && /deploymentParameters/i.test(schema);
  return {
    format: 'ARM template',
    path: typeof schema === 'string' ? '$.$schema' : '$.resources',
    message:
      `an ARM ${params ? 'template parameters file' : 'deployment template'} (its values are deployment-time ` +
      `expressions such as [parameters('...')]), not an ADF git folder. Give the factory's git-integration folder ` +
      '(linkedService/, pipeline/, trigger/ with one JSON per resource, as ADF Studio commits them) instead',
  };
}

function str(v: unknown): string | undefined {
  return typeof v === 'string' ? v : undefined;
}

/** v1 markers in a pipeline (docs/spec/adf-pipeline-semantics.md §1.1 detection rule). */
export function detectV1Pipeline(raw: unknown): FormatFinding | undefined {
  if (!isObject(raw)) return undefined;
  const props = prop(raw, 'properties');
  if (!isObject(props)) return undefined;
  const pp = `$.${keyOf(raw, 'properties')}`;
  for (const k of ['start', 'end', 'pipelineMode', 'isPaused']) {
    if (prop(props, k) !== undefined) return v1(`${pp}.${keyOf(props, k)}`, `pipeline '${k}' is a v1 property`);
  }
  const acts = prop(props, 'activities');
  if (!Array.isArray(acts)) return undefined;
  for (let i = 0; i < acts.length; i++) {
    const a: unknown = acts[i];
    if (!isObject(a)) continue;
    const ap = `${pp}.${keyOf(props, 'activities')}[${i}]`;
    if (str(prop(a, 'type')) === 'AzureMLBatchScoring') {
      return v1(
        `${ap}.${keyOf(a, 'type')}`,
        'AzureMLBatchScoring is the pre-2015 predecessor of AzureMLBatchExecution',
      );
    }
    if (prop(a, 'scheduler') !== undefined) return v1(`${ap}.${keyOf(a, 'scheduler')}`, 'activity scheduler is v1');
    if (typeof prop(a, 'linkedServiceName') === 'string') {
      return v1(
        `${ap}.${keyOf(a, 'linkedServiceName')}`,
        'linkedServiceName is a plain string, not a LinkedServiceReference',
      );
    }
    for (const io of ['inputs', 'outputs']) {
      const list = prop(a, io);
      if (
        Array.isArray(list) &&
        list.some((x) => isObject(x) && prop(x, 'name') !== undefined && prop(x, 'referenceName') === undefined)
      ) {
        return v1(`${ap}.${keyOf(a, io)}`, `activity ${io} name v1 datasets ({ name })`);
      }
    }
    const tp = prop(a, 'typeProperties');
    if (!isObject(tp)) continue;
    const tpp = `${ap}.${keyOf(a, 'typeProperties')}`;
    if (prop(tp, 'webServiceInput') !== undefined) {
      return v1(`${tpp}.${keyOf(tp, 'webServiceInput')}`, 'webServiceInput names a v1 dataset');
    }
    if (prop(tp, 'trainedModelDatasetName') !== undefined) {
      return v1(`${tpp}.${keyOf(tp, 'trainedModelDatasetName')}`, 'trainedModelDatasetName names a v1 dataset');
    }
    for (const k of ['webServiceInputs', 'webServiceOutputs']) {
      const m = prop(tp, k);
      if (!isObject(m)) continue;
      const port = Object.keys(m).find((p) => typeof m[p] === 'string');
      if (port !== undefined) {
        return v1(`${tpp}.${keyOf(tp, k)}.${port}`, `${k}.${port} is a dataset name ('${m[port] as string}')`);
      }
    }
    for (const v of Object.values(tp)) {
      if (isObject(v)) {
        for (const [k, x] of Object.entries(v)) {
          if (typeof x === 'string' && x.startsWith('$$')) {
            return v1(`${tpp}`, `'${k}' uses a v1 Data Factory function (${x.slice(0, 30)}...)`);
          }
        }
      }
    }
  }
  return undefined;
}

/** v1 datasets: `availability`, `external`, `AzureBlob` with folderPath/fileName and partitionedBy. */
export function detectV1Dataset(raw: unknown): FormatFinding | undefined {
  if (!isObject(raw)) return undefined;
  const props = prop(raw, 'properties');
  if (!isObject(props)) return undefined;
  const pp = `$.${keyOf(raw, 'properties')}`;
  for (const k of ['availability', 'external']) {
    if (prop(props, k) !== undefined) return v1(`${pp}.${keyOf(props, k)}`, `dataset '${k}' is a v1 property`);
  }
  if (str(prop(props, 'type')) === 'AzureBlob') {
    return v1(
      `${pp}.${keyOf(props, 'type')}`,
      "dataset type 'AzureBlob' is v1 (v2 uses AzureBlob with location or DelimitedText)",
    );
  }
  if (typeof prop(props, 'linkedServiceName') === 'string') {
    return v1(`${pp}.${keyOf(props, 'linkedServiceName')}`, 'linkedServiceName is a plain string');
  }
  return undefined;
}

/** ARM template expressions (`[parameters('x')]`, `[concat(...)]`): deployment-time, not ADF v2 (docs/spec/adf-pipeline-semantics.md §2.3). */
export const ARM_EXPRESSION = /^\[\s*[A-Za-z][A-Za-z0-9]*\s*\(.*\)\s*\]$/s;

export function armExpressionMessage(value: string): string {
  return (
    `holds the ARM template expression '${value.length > 60 ? `${value.slice(0, 57)}...` : value}': this file comes ` +
    `from an ARM template (deployment-time), not an ADF git folder; give the real value, or export the factory's ` +
    `git-integration JSON instead of the ARM template`
  );
}
