import type { ParameterDef, ParameterType, PipelineDefinition } from '../../common/pipeline-definition';
import { isMasked } from '../../common/pipeline-definition';
import { key } from '../diagnostics';
import { isObject, keyOf, prop, str } from '../json';
import type { Obj, PipelineReader } from './reader';

/** `properties.parameters` and `properties.variables`: user-defined names, kept exactly as spelled. */

const PARAMETER_TYPES: ParameterType[] = ['String', 'Int', 'Float', 'Bool', 'Array', 'Object', 'SecureString'];

export function parseParameters(r: PipelineReader, props: Obj, pp: string): Record<string, ParameterDef> {
  const out: Record<string, ParameterDef> = {};
  const raw = prop(props, 'parameters');
  if (raw === undefined || raw === null) return out;
  const p = `${pp}.${keyOf(props, 'parameters')}`;
  if (!isObject(raw)) return (r.error(p, 'must be an object of { type, defaultValue }'), out);
  const seen = new Map<string, string>();
  for (const [name, def] of Object.entries(raw)) {
    const path = key(p, name);
    if (!r.visibleName(name, path, 'parameter')) continue;
    if (seen.has(name.toLowerCase())) {
      r.error(path, `parameter '${name}' clashes with '${seen.get(name.toLowerCase())}' (names are case-insensitive)`);
      continue;
    }
    seen.set(name.toLowerCase(), name);
    if (!isObject(def)) {
      r.error(path, 'must be { type, defaultValue }');
      continue;
    }
    const type = prop(def, 'type');
    const canonical = PARAMETER_TYPES.find((t) => t.toLowerCase() === str(type).toLowerCase());
    if (!canonical) {
      r.error(`${path}.${keyOf(def, 'type')}`, `type '${str(type)}' is not one of ${PARAMETER_TYPES.join(', ')}`);
      continue;
    }
    const dv = prop(def, 'defaultValue');
    if (canonical === 'SecureString' && typeof dv === 'string' && isMasked(dv)) {
      r.error(`${path}.${keyOf(def, 'defaultValue')}`, 'is masked (**********); give the value when starting the run');
    }
    out[name] = dv === undefined ? { type: canonical } : { type: canonical, defaultValue: dv };
  }
  return out;
}

export function parseVariables(r: PipelineReader, props: Obj, pp: string): PipelineDefinition['variables'] {
  const out: PipelineDefinition['variables'] = {};
  const raw = prop(props, 'variables');
  if (raw === undefined || raw === null) return out;
  const p = `${pp}.${keyOf(props, 'variables')}`;
  if (!isObject(raw)) return (r.error(p, 'must be an object of { type, defaultValue }'), out);
  for (const [name, def] of Object.entries(raw)) {
    if (!r.visibleName(name, key(p, name), 'variable')) continue;
    if (!isObject(def)) {
      r.error(key(p, name), 'must be { type, defaultValue }');
      continue;
    }
    const type = str(prop(def, 'type'));
    if (!['string', 'bool', 'boolean', 'array', 'integer'].includes(type.toLowerCase())) {
      r.error(
        key(key(p, name), keyOf(def, 'type')),
        `variable type '${type}' is not one of String, Bool, Array, Integer`,
      );
    }
    const dv = prop(def, 'defaultValue');
    out[name] = dv === undefined ? { type } : { type, defaultValue: dv };
  }
  return out;
}
