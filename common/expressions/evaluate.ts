/**
 * Evaluation of ADF expressions. Pure and deterministic: "now" comes from workflow time and GUIDs from the
 * workflow's seeded generator (both through the context), so a replay computes the same values.
 */
import { functionNamed } from './functions';
import { expressionObjectText, parseTemplate } from './parse';
import type { ExprNode } from './syntax';
import { ExpressionError } from './syntax';
import type { EvalContext } from './values';
import { kindOf, setOwn, SystemObject, toText, unwrap } from './values';

/** Evaluate a JSON value: expressions are replaced by their values, recursively through objects and arrays. */
export function evaluateValue(v: unknown, ctx: EvalContext): unknown {
  const text = expressionObjectText(v);
  if (text !== undefined) return evaluateString(text.startsWith('@') ? text : `@${text}`, ctx);
  if (typeof v === 'string') return evaluateString(v, ctx);
  if (Array.isArray(v)) return v.map((x) => evaluateValue(x, ctx));
  if (typeof v === 'object' && v !== null) {
    const out: Record<string, unknown> = {};
    for (const [k, x] of Object.entries(v)) setOwn(out, k, evaluateValue(x, ctx));
    return out;
  }
  return v;
}

export function evaluateString(s: string, ctx: EvalContext): unknown {
  const t = parseTemplate(s);
  if (t.kind === 'literal') return t.value;
  if (t.kind === 'expr') return unwrap(evalNode(t.node, ctx));
  return t.parts.map((p) => (typeof p === 'string' ? p : toText(evalNode(p.node, ctx)))).join('');
}

function evalNode(node: ExprNode, ctx: EvalContext): unknown {
  switch (node.k) {
    case 'lit':
      return node.v;
    case 'member': {
      const obj = evalNode(node.obj, ctx);
      return access(obj, node.name, node.safe);
    }
    case 'index': {
      const obj = evalNode(node.obj, ctx);
      const idx = evalNode(node.index, ctx);
      if (typeof idx !== 'string' && typeof idx !== 'number') {
        throw new ExpressionError(`an index must be a string or an integer, got ${kindOf(idx)}`);
      }
      return access(obj, idx, node.safe);
    }
    case 'call':
      return call(node.name, node.args, ctx);
  }
}

function access(obj: unknown, key: string | number, safe: boolean): unknown {
  if (obj === null || obj === undefined) {
    if (safe) return null;
    throw new ExpressionError(`cannot read property '${key}' of null (use '?.' for optional values)`);
  }
  if (obj instanceof SystemObject) {
    const r = obj.get(String(key));
    if (r.found) return r.value;
    if (safe) return null;
    throw new ExpressionError(`property '${key}' does not exist; available: ${Object.keys(obj.props).join(', ')}`);
  }
  if (Array.isArray(obj)) {
    const n = typeof key === 'number' ? key : Number(key);
    if (!Number.isInteger(n)) throw new ExpressionError(`an array index must be an integer, got '${key}'`);
    if (n < 0 || n >= obj.length) {
      if (safe) return null;
      throw new ExpressionError(`index ${n} is out of range (array of ${obj.length})`);
    }
    return obj[n];
  }
  if (typeof obj === 'object') {
    const o = obj as Record<string, unknown>;
    if (Object.prototype.hasOwnProperty.call(o, key)) return o[key];
    if (safe) return null;
    throw new ExpressionError(
      `property '${key}' does not exist; available: ${Object.keys(o).join(', ') || '(none)'} (user-defined names are case-sensitive)`,
    );
  }
  if (safe) return null;
  throw new ExpressionError(`cannot read property '${key}' of a ${kindOf(obj)}`);
}

/** Lazy functions: `if`, `and`, `or`, `coalesce` evaluate only what they need, as ADF short-circuits. */
function call(name: string, argNodes: ExprNode[], ctx: EvalContext): unknown {
  const lower = name.toLowerCase();
  const fn = functionNamed(lower);
  if (!fn) throw new ExpressionError(`function '${name}' is not supported`);
  if (lower === 'if' && argNodes.length === 3) {
    const cond = evalNode(argNodes[0], ctx);
    if (typeof cond !== 'boolean')
      throw new ExpressionError(`if: the condition must be a boolean, got ${kindOf(cond)}`);
    return evalNode(argNodes[cond ? 1 : 2], ctx);
  }
  if ((lower === 'and' || lower === 'or') && argNodes.length >= 2) {
    for (const a of argNodes) {
      const v = evalNode(a, ctx) === true;
      if (lower === 'and' && !v) return false;
      if (lower === 'or' && v) return true;
    }
    return lower === 'and';
  }
  if (lower === 'coalesce' && argNodes.length >= 1) {
    for (const a of argNodes) {
      const v = evalNode(a, ctx);
      if (v !== null && v !== undefined) return v;
    }
    return null;
  }
  return fn(
    argNodes.map((a) => evalNode(a, ctx)),
    ctx,
    name,
  );
}
