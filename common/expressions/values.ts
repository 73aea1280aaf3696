/** Runtime values of the expression language: system objects, the evaluation context, and how values print. */

/** An object whose property names match case-insensitively (system objects: `pipeline()`, `trigger()`). */
export class SystemObject {
  constructor(readonly props: Record<string, unknown>) {}
  get(name: string): { found: boolean; value: unknown } {
    // Own properties only: `pipeline().toString` must fail as in ADF, not reach Object.prototype.
    if (Object.prototype.hasOwnProperty.call(this.props, name)) return { found: true, value: this.props[name] };
    const key = Object.keys(this.props).find((k) => k.toLowerCase() === name.toLowerCase());
    return key === undefined ? { found: false, value: undefined } : { found: true, value: this.props[key] };
  }
}

export interface EvalContext {
  /** `pipeline()`: DataFactory, Pipeline, RunId, TriggerType, TriggerName, TriggerTime, GroupId, parameters, ... */
  pipeline: SystemObject;
  /** `activity('X')` → `{ output, status, error }`; throws ExpressionError when X has no result. */
  activity?: (name: string) => unknown;
  variables?: (name: string) => unknown;
  /** `trigger()`: only in a trigger's parameters. */
  trigger?: SystemObject;
  /** Workflow time. */
  now: () => Date;
  /** Deterministic GUID (the workflow's uuid4). */
  guid: () => string;
}

/**
 * `obj[k] = v` that keeps every key as data: a plain assignment to `__proto__` would replace the prototype and the
 * key would vanish from the value.
 */
export function setOwn(obj: Record<string, unknown>, k: string, v: unknown): void {
  if (k === '__proto__')
    Object.defineProperty(obj, k, { value: v, enumerable: true, writable: true, configurable: true });
  else obj[k] = v;
}

/** A value as plain JSON: system objects become ordinary objects. */
export function unwrap(v: unknown): unknown {
  if (v instanceof SystemObject) {
    const out: Record<string, unknown> = {};
    for (const [k, x] of Object.entries(v.props)) setOwn(out, k, unwrap(x));
    return out;
  }
  return v;
}

/** How a value appears inside a string (interpolation, `string()`, `concat()`): .NET-style booleans, JSON objects. */
export function toText(v: unknown): string {
  if (v === null || v === undefined) return '';
  if (typeof v === 'string') return v;
  if (typeof v === 'boolean') return v ? 'True' : 'False';
  if (typeof v === 'number') return String(v);
  return JSON.stringify(unwrap(v));
}

/** A value's kind as messages name it. */
export function kindOf(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'array';
  if (v instanceof SystemObject) return 'object';
  return typeof v;
}
