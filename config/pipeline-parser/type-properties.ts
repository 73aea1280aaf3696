import type {
  ActivityDefinition,
  BatchExecutionActivity,
  FailActivity,
  PipelineDefinition,
  SetVariableActivity,
  UpdateResourceActivity,
  WaitActivity,
  WebServiceFileDef,
} from '../../common/pipeline-definition';
import { isExpression } from '../../common/expressions';
import { filePathProblem } from '../../common/paths';
import { key } from '../diagnostics';
import { isObject, keyOf, prop, str } from '../json';
import type { Obj, PipelineReader } from './reader';

/** `typeProperties` of each activity type this product runs, checked against ADF's and BES's rules. */

/** What every activity shares, read before its typeProperties. */
export type ActivityBase = Omit<WaitActivity, 'type' | 'typeProperties'>;

/** Where an activity's typeProperties are, and the readers to report with. */
export interface ActivityContext {
  r: PipelineReader;
  /** `r`, or a throwaway reader for an inactive activity (ADF validates only what an inactive one holds). */
  strict: PipelineReader;
  a: Obj;
  path: string;
  tp: Obj;
  tpPath: string;
  variables: PipelineDefinition['variables'];
}

const DATASET_EXTENSIONS = ['csv', 'tsv', 'arff'];
const OUTPUT_EXTENSIONS = ['ilearner', 'csv', 'tsv', 'arff'];

function extension(path: string): string {
  const base = path.split('/').pop() ?? '';
  const dot = base.lastIndexOf('.');
  return dot > 0 ? base.slice(dot + 1).toLowerCase() : '';
}

function checkFilePath(r: PipelineReader, filePath: string, path: string, allowed: string[]): void {
  const bad = filePathProblem(filePath);
  if (bad) {
    r.error(path, `'${filePath}' ${bad}`);
    return;
  }
  const clean = filePath.replace(/^\/+/, '');
  const slash = clean.indexOf('/');
  if (slash <= 0 || slash === clean.length - 1) {
    r.error(path, `'${filePath}' must include the container: container/path/file.ext`);
    return;
  }
  const ext = extension(clean);
  if (!ext) {
    r.warn(
      path,
      `'${filePath}' has no file extension: ML Studio (classic) BES rejects it ("invalid or missing file extension", ` +
        `supported ${allowed.map((e) => `.${e}`).join(', ')}); name the file, e.g. '${clean}/data.${allowed[0]}'`,
    );
  } else if (!allowed.includes(ext)) {
    r.error(path, `'.${ext}' is not a file extension BES accepts here (${allowed.map((e) => `.${e}`).join(', ')})`);
  }
}

function batchExecution(c: ActivityContext, base: ActivityBase): BatchExecutionActivity {
  const { strict, a, path, tp, tpPath } = c;
  const ls = strict.linkedService(a, 'linkedServiceName', path, 'AzureML', 'an AzureML linked service');
  const files = (k: 'webServiceInputs' | 'webServiceOutputs'): Record<string, WebServiceFileDef> => {
    const out: Record<string, WebServiceFileDef> = {};
    const m = prop(tp, k);
    const mp = `${tpPath}.${keyOf(tp, k)}`;
    if (m === undefined || m === null) return out;
    if (!isObject(m))
      return (strict.error(mp, 'must be an object of port name → { linkedServiceName, filePath }'), out);
    for (const [port, f] of Object.entries(m)) {
      const fp = key(mp, port);
      if (!strict.visibleName(port, fp, 'port')) continue;
      if (!isObject(f)) {
        strict.error(fp, 'must be { linkedServiceName, filePath }');
        continue;
      }
      const lsn = strict.linkedService(
        f,
        'linkedServiceName',
        fp,
        'Storage',
        'an AzureStorage/AzureBlobStorage linked service',
      );
      const filePath = prop(f, 'filePath');
      const pathKey = `${fp}.${keyOf(f, 'filePath')}`;
      if (filePath === undefined || filePath === null || filePath === '') {
        strict.error(pathKey, 'is required (container/path/file.ext)');
        continue;
      }
      strict.value(filePath, pathKey);
      if (typeof filePath === 'string' && !isExpression(filePath)) {
        checkFilePath(strict, filePath, pathKey, k === 'webServiceInputs' ? DATASET_EXTENSIONS : OUTPUT_EXTENSIONS);
      } else if (typeof filePath !== 'string' && !isExpression(filePath)) {
        strict.error(pathKey, 'must be a string or an expression');
      }
      if (lsn) out[port] = { linkedServiceName: lsn, filePath };
    }
    return out;
  };
  const globalsRaw = prop(tp, 'globalParameters');
  const globals: Record<string, unknown> = {};
  if (isObject(globalsRaw)) {
    for (const [k, v] of Object.entries(globalsRaw))
      globals[k] = strict.value(v, key(`${tpPath}.${keyOf(tp, 'globalParameters')}`, k));
  } else if (globalsRaw !== undefined && globalsRaw !== null) {
    strict.error(`${tpPath}.${keyOf(tp, 'globalParameters')}`, 'must be an object of name → value');
  }
  return {
    ...base,
    type: 'AzureMLBatchExecution',
    linkedServiceName: ls ?? '',
    typeProperties: {
      webServiceInputs: files('webServiceInputs'),
      webServiceOutputs: files('webServiceOutputs'),
      globalParameters: globals,
    },
  };
}

function updateResource(c: ActivityContext, base: ActivityBase): UpdateResourceActivity {
  const { r, strict, a, path, tp, tpPath } = c;
  const ls = strict.linkedService(a, 'linkedServiceName', path, 'AzureML', 'an AzureML linked service');
  const target = ls ? r.linkedServices.get(ls.toLowerCase()) : undefined;
  if (target?.kind === 'AzureML' && !target.updateResourceEndpoint) {
    strict.error(
      `${path}.${keyOf(a, 'linkedServiceName')}.referenceName`,
      `AzureML linked service '${ls}' (${target.file}) has no updateResourceEndpoint, so it cannot be updated`,
    );
  }
  const tmn = prop(tp, 'trainedModelName');
  if (tmn === undefined || tmn === '' || tmn === null)
    strict.error(`${tpPath}.trainedModelName`, 'is required (e.g. "My Experiment [trained model]")');
  else strict.value(tmn, `${tpPath}.${keyOf(tp, 'trainedModelName')}`);
  const tmls = strict.linkedService(
    tp,
    'trainedModelLinkedServiceName',
    tpPath,
    'Storage',
    'an AzureStorage/AzureBlobStorage linked service',
  );
  const tmfp = prop(tp, 'trainedModelFilePath');
  const tmfpPath = `${tpPath}.${keyOf(tp, 'trainedModelFilePath')}`;
  if (tmfp === undefined || tmfp === '' || tmfp === null)
    strict.error(tmfpPath, 'is required (container/path/model.ilearner)');
  else if (typeof tmfp === 'string' && !isExpression(tmfp)) {
    strict.value(tmfp, tmfpPath);
    checkFilePath(strict, tmfp, tmfpPath, ['ilearner']);
  }
  return {
    ...base,
    type: 'AzureMLUpdateResource',
    linkedServiceName: ls ?? '',
    typeProperties: {
      trainedModelName: tmn,
      ...(tmls ? { trainedModelLinkedServiceName: tmls } : {}),
      ...(tmfp !== undefined ? { trainedModelFilePath: tmfp } : {}),
    },
  };
}

function wait(c: ActivityContext, base: ActivityBase): WaitActivity {
  const { strict, tp, tpPath } = c;
  const w = prop(tp, 'waitTimeInSeconds');
  const wp = `${tpPath}.${keyOf(tp, 'waitTimeInSeconds')}`;
  if (w === undefined) strict.error(wp, 'is required');
  else if (!isExpression(w) && !(typeof w === 'number' && w >= 0)) strict.error(wp, 'must be a number of seconds >= 0');
  return { ...base, type: 'Wait', typeProperties: { waitTimeInSeconds: w } };
}

function fail(c: ActivityContext, base: ActivityBase): FailActivity {
  const { strict, tp, tpPath } = c;
  const message = prop(tp, 'message');
  const errorCode = prop(tp, 'errorCode');
  if (message === undefined || message === '') strict.error(`${tpPath}.message`, 'is required');
  if (errorCode === undefined || errorCode === '') strict.error(`${tpPath}.errorCode`, 'is required');
  return { ...base, type: 'Fail', typeProperties: { message, errorCode } };
}

function setVariable(c: ActivityContext, base: ActivityBase): SetVariableActivity {
  const { strict, tp, tpPath, variables } = c;
  const vn = prop(tp, 'variableName');
  const value = prop(tp, 'value');
  const vp = `${tpPath}.${keyOf(tp, 'variableName')}`;
  if (typeof vn !== 'string' || !vn) strict.error(vp, 'is required');
  else if (!Object.prototype.hasOwnProperty.call(variables, vn)) {
    strict.error(vp, `variable '${vn}' is not declared in properties.variables (names are case-sensitive)`);
  }
  if (value === undefined) strict.error(`${tpPath}.value`, 'is required');
  return { ...base, type: 'SetVariable', typeProperties: { variableName: str(vn), value } };
}

/** The reader of each supported activity type's typeProperties. */
export const typePropertiesOf: {
  [T in ActivityDefinition['type']]: (c: ActivityContext, base: ActivityBase) => ActivityDefinition;
} = {
  AzureMLBatchExecution: batchExecution,
  AzureMLUpdateResource: updateResource,
  Wait: wait,
  Fail: fail,
  SetVariable: setVariable,
};
