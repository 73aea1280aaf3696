/**
 * The ADF v2 expression language, the subset ML retrain pipelines use (docs/spec/adf-pipeline-semantics.md §4.1). Pure and deterministic: the
 * config validator parses with it (no evaluation), and the workflow evaluates with it, taking "now" from workflow
 * time and GUIDs from the workflow's seeded generator, so a replay computes the same values.
 */

export class ExpressionError extends Error {
  override name = 'ExpressionError';
}

/** ADF's limit on one expression's length ("Characters per expression: 8,192", Azure subscription limits). */
export const MAX_EXPRESSION_CHARS = 8192;
/**
 * How deeply calls, member accesses and indexes may nest in one expression. ADF documents no number; this bound keeps
 * the recursive parser and evaluator far from the JavaScript stack limit, so a hostile expression gets this error
 * instead of "Maximum call stack size exceeded".
 */
export const MAX_EXPRESSION_DEPTH = 64;

export type ExprNode =
  | { k: 'lit'; v: unknown }
  | { k: 'call'; name: string; args: ExprNode[] }
  | { k: 'member'; obj: ExprNode; name: string; safe: boolean }
  | { k: 'index'; obj: ExprNode; index: ExprNode; safe: boolean };

/** A JSON string value after parsing: a literal, a typed expression (`@...`), or interpolation (`...@{...}...`). */
export type Template =
  | { kind: 'literal'; value: string }
  | { kind: 'expr'; node: ExprNode; text: string }
  | { kind: 'interp'; parts: (string | { node: ExprNode; text: string })[] };

// ---- tokenizer and parser -------------------------------------------------------------------------------------------

type Tok =
  | { t: 'id'; v: string; p: number }
  | { t: 'num'; v: number; p: number }
  | { t: 'str'; v: string; p: number }
  | { t: 'punc'; v: string; p: number }
  | { t: 'end'; p: number };

function tokenize(src: string): Tok[] {
  const out: Tok[] = [];
  let i = 0;
  while (i < src.length) {
    const c = src[i];
    if (/\s/.test(c)) {
      i++;
    } else if (c === "'") {
      let s = '';
      let j = i + 1;
      for (;;) {
        if (j >= src.length) throw new ExpressionError(`unterminated string literal at position ${i + 1}`);
        if (src[j] === "'") {
          if (src[j + 1] === "'") {
            s += "'";
            j += 2;
            continue;
          }
          break;
        }
        s += src[j++];
      }
      out.push({ t: 'str', v: s, p: i });
      i = j + 1;
    } else if (/[0-9]/.test(c) || (c === '-' && /[0-9]/.test(src[i + 1] ?? '') && canStartNumber(out))) {
      const m = /^-?\d+(\.\d+)?([eE][+-]?\d+)?/.exec(src.slice(i))!;
      out.push({ t: 'num', v: Number(m[0]), p: i });
      i += m[0].length;
    } else if (/[A-Za-z_$]/.test(c)) {
      const m = /^[A-Za-z_$][A-Za-z0-9_$]*/.exec(src.slice(i))!;
      out.push({ t: 'id', v: m[0], p: i });
      i += m[0].length;
    } else if (c === '?' && src[i + 1] === '.') {
      out.push({ t: 'punc', v: '?.', p: i });
      i += 2;
    } else if (c === '?' && src[i + 1] === '[') {
      out.push({ t: 'punc', v: '?[', p: i });
      i += 2;
    } else if ('(),.[]'.includes(c)) {
      out.push({ t: 'punc', v: c, p: i });
      i++;
    } else {
      throw new ExpressionError(`unexpected character '${c}' at position ${i + 1}`);
    }
  }
  out.push({ t: 'end', p: src.length });
  return out;
}

/** A '-' starts a negative number only where a value may begin (after '(', ',', '[' or at the start). */
function canStartNumber(prev: Tok[]): boolean {
  const last = prev[prev.length - 1];
  return !last || (last.t === 'punc' && ['(', ',', '['].includes(last.v));
}

/** Parse the expression language (the part after `@`, or inside `@{...}`). */
export function parseExpression(src: string): ExprNode {
  if (src.length > MAX_EXPRESSION_CHARS) {
    throw new ExpressionError(
      `the expression is ${src.length} characters long; ADF allows at most ${MAX_EXPRESSION_CHARS} per expression`,
    );
  }
  const toks = tokenize(src);
  let i = 0;
  let depth = 0;
  const enter = (t: Tok) => {
    if (++depth > MAX_EXPRESSION_DEPTH) {
      throw new ExpressionError(
        `the expression nests deeper than ${MAX_EXPRESSION_DEPTH} levels (at position ${t.p + 1}); split it into variables`,
      );
    }
  };
  const peek = () => toks[i];
  const describe = (t: Tok) => (t.t === 'end' ? 'end of expression' : `'${'v' in t ? String(t.v) : ''}'`);
  const expect = (v: string) => {
    const t = toks[i];
    if (t.t !== 'punc' || t.v !== v)
      throw new ExpressionError(`expected '${v}' at position ${t.p + 1}, found ${describe(t)}`);
    i++;
  };

  function primary(): ExprNode {
    const t = toks[i];
    if (t.t === 'str') {
      i++;
      return { k: 'lit', v: t.v };
    }
    if (t.t === 'num') {
      i++;
      return { k: 'lit', v: t.v };
    }
    if (t.t === 'id') {
      i++;
      const next = peek();
      if (next.t === 'punc' && next.v === '(') {
        i++;
        const args: ExprNode[] = [];
        if (!(peek().t === 'punc' && (peek() as { v: string }).v === ')')) {
          for (;;) {
            args.push(postfix());
            const sep = peek();
            if (sep.t === 'punc' && sep.v === ',') {
              i++;
              continue;
            }
            break;
          }
        }
        expect(')');
        return { k: 'call', name: t.v, args };
      }
      const lower = t.v.toLowerCase();
      if (lower === 'true') return { k: 'lit', v: true };
      if (lower === 'false') return { k: 'lit', v: false };
      if (lower === 'null') return { k: 'lit', v: null };
      throw new ExpressionError(
        `'${t.v}' at position ${t.p + 1} is not a function call or literal (did you mean '${t.v}()'?)`,
      );
    }
    throw new ExpressionError(`unexpected ${describe(t)} at position ${t.p + 1}`);
  }

  function postfix(): ExprNode {
    enter(toks[i]);
    // A member chain nests in the tree too (a.b.c is member(member(a))), so each step counts as a level.
    let levels = 1;
    let node = primary();
    for (;;) {
      const t = peek();
      if (t.t !== 'punc') break;
      if (t.v === '.' || t.v === '?.') {
        i++;
        const name = toks[i];
        if (name.t !== 'id' && name.t !== 'num') {
          throw new ExpressionError(`expected a property name at position ${name.p + 1}, found ${describe(name)}`);
        }
        i++;
        node = { k: 'member', obj: node, name: String(name.v), safe: t.v === '?.' };
      } else if (t.v === '[' || t.v === '?[') {
        i++;
        const index = postfix();
        expect(']');
        node = { k: 'index', obj: node, index, safe: t.v === '?[' };
      } else {
        break;
      }
      enter(t);
      levels++;
    }
    depth -= levels;
    return node;
  }

  const node = postfix();
  if (peek().t !== 'end') throw new ExpressionError(`unexpected ${describe(peek())} at position ${peek().p + 1}`);
  return node;
}

/** The text of a `{ "type": "Expression", "value": ... }` object, or undefined for anything else. */
export function expressionObjectText(v: unknown): string | undefined {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) return undefined;
  const o = v as Record<string, unknown>;
  const typeKey = Object.keys(o).find((k) => k.toLowerCase() === 'type');
  const valueKey = Object.keys(o).find((k) => k.toLowerCase() === 'value');
  if (!typeKey || !valueKey || String(o[typeKey]).toLowerCase() !== 'expression') return undefined;
  return typeof o[valueKey] === 'string' ? o[valueKey] : undefined;
}

/** Find the `}` closing an interpolation that starts at `from`, skipping string literals. */
function closingBrace(s: string, from: number): number {
  let inStr = false;
  for (let j = from; j < s.length; j++) {
    const c = s[j];
    if (inStr) {
      if (c === "'") {
        if (s[j + 1] === "'") j++;
        else inStr = false;
      }
    } else if (c === "'") inStr = true;
    else if (c === '}') return j;
  }
  return -1;
}

/**
 * Parse a JSON string value (docs/spec/adf-pipeline-semantics.md §4.1): `@expr` is typed, `@{...}` inside text interpolates, `@@` at the start
 * escapes `@`, `@@{` in text is a literal `@{`, and a string not starting with `@` without `@{` is a literal.
 */
export function parseTemplate(s: string): Template {
  if (s.startsWith('@@')) return { kind: 'literal', value: s.slice(1) };
  if (s.startsWith('@') && !s.startsWith('@{')) {
    const text = s.slice(1);
    return { kind: 'expr', node: parseExpression(text), text };
  }
  if (!s.includes('@{')) return { kind: 'literal', value: s };
  const parts: (string | { node: ExprNode; text: string })[] = [];
  let buf = '';
  let i = 0;
  while (i < s.length) {
    if (s.startsWith('@@{', i)) {
      buf += '@{';
      i += 3;
    } else if (s.startsWith('@{', i)) {
      const end = closingBrace(s, i + 2);
      if (end < 0) throw new ExpressionError(`unterminated '@{' at position ${i + 1}`);
      if (buf) parts.push(buf);
      buf = '';
      const text = s.slice(i + 2, end);
      parts.push({ node: parseExpression(text), text });
      i = end + 1;
    } else {
      buf += s[i++];
    }
  }
  if (buf) parts.push(buf);
  return { kind: 'interp', parts };
}

/** Is this JSON value an expression (a string template with `@`, or an Expression object)? */
export function isExpression(v: unknown): boolean {
  if (expressionObjectText(v) !== undefined) return true;
  if (typeof v !== 'string') return false;
  return (v.startsWith('@') && !v.startsWith('@@')) || v.includes('@{');
}

// ---- static analysis (validation) -----------------------------------------------------------------------------------

export interface ExpressionRefs {
  functions: string[];
  activities: string[];
  parameters: string[];
  variables: string[];
}

function walk(node: ExprNode, refs: ExpressionRefs): void {
  if (node.k === 'call') {
    refs.functions.push(node.name);
    const arg = node.args[0];
    const lower = node.name.toLowerCase();
    if (lower === 'activity' && arg?.k === 'lit' && typeof arg.v === 'string') refs.activities.push(arg.v);
    if (lower === 'variables' && arg?.k === 'lit' && typeof arg.v === 'string') refs.variables.push(arg.v);
    node.args.forEach((a) => walk(a, refs));
  } else if (node.k === 'member') {
    // pipeline().parameters.X
    if (
      node.obj.k === 'member' &&
      node.obj.name.toLowerCase() === 'parameters' &&
      node.obj.obj.k === 'call' &&
      node.obj.obj.name.toLowerCase() === 'pipeline'
    ) {
      refs.parameters.push(node.name);
    }
    walk(node.obj, refs);
  } else if (node.k === 'index') {
    if (
      node.index.k === 'lit' &&
      typeof node.index.v === 'string' &&
      node.obj.k === 'member' &&
      node.obj.name.toLowerCase() === 'parameters' &&
      node.obj.obj.k === 'call' &&
      node.obj.obj.name.toLowerCase() === 'pipeline'
    ) {
      refs.parameters.push(node.index.v);
    }
    walk(node.obj, refs);
    walk(node.index, refs);
  }
}

/** Parse a value that may be an expression and list what it refers to. Throws ExpressionError on a syntax error. */
export function analyze(v: unknown): ExpressionRefs | undefined {
  const text = expressionObjectText(v);
  const s = text !== undefined ? (text.startsWith('@') ? text : `@${text}`) : v;
  if (typeof s !== 'string' || !isExpression(s)) return undefined;
  const refs: ExpressionRefs = { functions: [], activities: [], parameters: [], variables: [] };
  const t = parseTemplate(s);
  if (t.kind === 'expr') walk(t.node, refs);
  if (t.kind === 'interp') for (const p of t.parts) if (typeof p !== 'string') walk(p.node, refs);
  return refs;
}

// ---- values -------------------------------------------------------------------------------------------------------

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

/**
 * `obj[k] = v` that keeps every key as data: a plain assignment to `__proto__` would replace the prototype and the
 * key would vanish from the value.
 */
export function setOwn(obj: Record<string, unknown>, k: string, v: unknown): void {
  if (k === '__proto__')
    Object.defineProperty(obj, k, { value: v, enumerable: true, writable: true, configurable: true });
  else obj[k] = v;
}

export function evaluateString(s: string, ctx: EvalContext): unknown {
  const t = parseTemplate(s);
  if (t.kind === 'literal') return t.value;
  if (t.kind === 'expr') return unwrap(evalNode(t.node, ctx));
  return t.parts.map((p) => (typeof p === 'string' ? p : toText(evalNode(p.node, ctx)))).join('');
}

function unwrap(v: unknown): unknown {
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

function kindOf(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'array';
  if (v instanceof SystemObject) return 'object';
  return typeof v;
}

// ---- date and time ---------------------------------------------------------------------------------------------------

/** A UTC instant with .NET's 100 ns resolution: epoch milliseconds plus 0–9999 ticks within the millisecond. */
interface Instant {
  ms: number;
  sub: number;
}

const TS = /^(\d{4})-(\d{2})-(\d{2})(?:[T ](\d{2}):(\d{2})(?::(\d{2})(?:\.(\d{1,7}))?)?)?\s*(Z|[+-]\d{2}:?\d{2})?$/i;

/** Days in a month of the proleptic Gregorian calendar (.NET's), for any year 1-9999. */
export function daysInMonth(year: number, month: number): number {
  if (month === 2) return (year % 4 === 0 && year % 100 !== 0) || year % 400 === 0 ? 29 : 28;
  return [4, 6, 9, 11].includes(month) ? 30 : 31;
}

export function parseTimestamp(v: unknown, fn: string): Instant {
  if (typeof v !== 'string') throw new ExpressionError(`${fn}: expected a timestamp string, got ${kindOf(v)}`);
  const m = TS.exec(v.trim());
  if (!m) throw new ExpressionError(`${fn}: '${v}' is not an ISO 8601 timestamp (e.g. 2024-01-31T02:00:00Z)`);
  const [, y, mo, d, h, mi, s, frac, off] = m;
  let ms = Date.UTC(Number(y), Number(mo) - 1, Number(d), Number(h ?? 0), Number(mi ?? 0), Number(s ?? 0));
  if (
    Number.isNaN(ms) ||
    Number(mo) < 1 ||
    Number(mo) > 12 ||
    Number(d) < 1 ||
    Number(d) > daysInMonth(Number(y), Number(mo)) ||
    Number(h ?? 0) > 23 ||
    Number(mi ?? 0) > 59 ||
    Number(s ?? 0) > 59
  ) {
    throw new ExpressionError(`${fn}: '${v}' is not a valid date`);
  }
  const f = (frac ?? '').padEnd(7, '0');
  ms += Number(f.slice(0, 3));
  const sub = Number(f.slice(3));
  if (off && off.toUpperCase() !== 'Z') {
    const om = /([+-])(\d{2}):?(\d{2})/.exec(off)!;
    const minutes = Number(om[2]) * 60 + Number(om[3]);
    ms -= (om[1] === '+' ? 1 : -1) * minutes * 60_000;
  }
  return { ms, sub };
}

const MONTHS = [
  'January',
  'February',
  'March',
  'April',
  'May',
  'June',
  'July',
  'August',
  'September',
  'October',
  'November',
  'December',
];
const DAYS = ['Sunday', 'Monday', 'Tuesday', 'Wednesday', 'Thursday', 'Friday', 'Saturday'];

/** .NET standard format strings, invariant culture. */
const STANDARD: Record<string, string> = {
  o: "yyyy'-'MM'-'dd'T'HH':'mm':'ss'.'fffffffK",
  O: "yyyy'-'MM'-'dd'T'HH':'mm':'ss'.'fffffffK",
  s: "yyyy'-'MM'-'dd'T'HH':'mm':'ss",
  u: "yyyy'-'MM'-'dd HH':'mm':'ss'Z'",
  R: "ddd, dd MMM yyyy HH':'mm':'ss 'GMT'",
  r: "ddd, dd MMM yyyy HH':'mm':'ss 'GMT'",
  d: 'MM/dd/yyyy',
  D: 'dddd, dd MMMM yyyy',
  f: 'dddd, dd MMMM yyyy HH:mm',
  F: 'dddd, dd MMMM yyyy HH:mm:ss',
  g: 'MM/dd/yyyy HH:mm',
  G: 'MM/dd/yyyy HH:mm:ss',
  m: 'MMMM dd',
  M: 'MMMM dd',
  t: 'HH:mm',
  T: 'HH:mm:ss',
  y: 'yyyy MMMM',
  Y: 'yyyy MMMM',
};

const pad = (n: number, w: number) => String(n).padStart(w, '0');

/** .NET DateTime.ToString(format) for a UTC instant (custom and standard format strings, invariant culture). */
export function formatInstant(t: Instant, format: string): string {
  let fmt = format;
  if (fmt.length === 1) {
    const std = STANDARD[fmt];
    if (!std) throw new ExpressionError(`formatDateTime: '${fmt}' is not a .NET standard date format`);
    fmt = std;
  }
  const d = new Date(t.ms);
  const Y = d.getUTCFullYear();
  const Mo = d.getUTCMonth() + 1;
  const D = d.getUTCDate();
  const H = d.getUTCHours();
  const Mi = d.getUTCMinutes();
  const S = d.getUTCSeconds();
  const fraction = pad(d.getUTCMilliseconds(), 3) + pad(t.sub, 4);
  let out = '';
  let i = 0;
  while (i < fmt.length) {
    const c = fmt[i];
    if (c === "'" || c === '"') {
      const end = fmt.indexOf(c, i + 1);
      if (end < 0) throw new ExpressionError(`formatDateTime: unterminated quote in '${format}'`);
      out += fmt.slice(i + 1, end);
      i = end + 1;
      continue;
    }
    if (c === '\\') {
      out += fmt[i + 1] ?? '';
      i += 2;
      continue;
    }
    if (c === '%') {
      i++;
      continue;
    }
    let n = 1;
    while (fmt[i + n] === c) n++;
    switch (c) {
      case 'y':
        out += n <= 2 ? (n === 1 ? String(Y % 100) : pad(Y % 100, 2)) : pad(Y, n);
        break;
      case 'M':
        out += n === 1 ? String(Mo) : n === 2 ? pad(Mo, 2) : n === 3 ? MONTHS[Mo - 1].slice(0, 3) : MONTHS[Mo - 1];
        break;
      case 'd':
        out +=
          n === 1 ? String(D) : n === 2 ? pad(D, 2) : n === 3 ? DAYS[d.getUTCDay()].slice(0, 3) : DAYS[d.getUTCDay()];
        break;
      case 'H':
        out += n === 1 ? String(H) : pad(H, 2);
        break;
      case 'h': {
        const h12 = H % 12 === 0 ? 12 : H % 12;
        out += n === 1 ? String(h12) : pad(h12, 2);
        break;
      }
      case 'm':
        out += n === 1 ? String(Mi) : pad(Mi, 2);
        break;
      case 's':
        out += n === 1 ? String(S) : pad(S, 2);
        break;
      case 'f':
        if (n > 7) throw new ExpressionError(`formatDateTime: at most 7 'f' in '${format}'`);
        out += fraction.slice(0, n);
        break;
      case 'F': {
        if (n > 7) throw new ExpressionError(`formatDateTime: at most 7 'F' in '${format}'`);
        const trimmed = fraction.slice(0, n).replace(/0+$/, '');
        // .NET drops a '.' right before an all-zero F group.
        if (!trimmed && out.endsWith('.')) out = out.slice(0, -1);
        out += trimmed;
        break;
      }
      case 't':
        out += n === 1 ? (H < 12 ? 'A' : 'P') : H < 12 ? 'AM' : 'PM';
        break;
      case 'K':
        out += 'Z';
        break;
      case 'z':
        out += n === 1 ? '+0' : n === 2 ? '+00' : '+00:00';
        break;
      case 'g':
        out += 'A.D.';
        break;
      default:
        out += c.repeat(n);
    }
    i += n;
  }
  return out;
}

const DEFAULT_FORMAT = 'o';

function addMonths(t: Instant, months: number): Instant {
  const d = new Date(t.ms);
  const target = new Date(
    Date.UTC(d.getUTCFullYear(), d.getUTCMonth() + months, 1, d.getUTCHours(), d.getUTCMinutes(), d.getUTCSeconds()),
  );
  // .NET AddMonths clamps to the last day of a shorter month.
  const last = new Date(Date.UTC(target.getUTCFullYear(), target.getUTCMonth() + 1, 0)).getUTCDate();
  target.setUTCDate(Math.min(d.getUTCDate(), last));
  return { ms: target.getTime() + d.getUTCMilliseconds(), sub: t.sub };
}

/** .NET DateTime's range, which ADF's date functions have: 0001-01-01T00:00:00Z to 9999-12-31T23:59:59.9999999Z. */
// Date.UTC maps years 0-99 to 1900-1999, so year 1 is written as its epoch milliseconds.
const MIN_DATE_MS = -62_135_596_800_000;
const MAX_DATE_MS = Date.UTC(9999, 11, 31, 23, 59, 59, 999);

function inRange(t: Instant, fn: string): Instant {
  if (!Number.isFinite(t.ms) || t.ms < MIN_DATE_MS || t.ms > MAX_DATE_MS) {
    throw new ExpressionError(`${fn}: the result is outside the range of dates (0001-01-01 to 9999-12-31)`);
  }
  return t;
}

function addUnit(t: Instant, amount: number, unit: string, fn: string): Instant {
  return inRange(addUnitUnchecked(t, amount, unit, fn), fn);
}

function addUnitUnchecked(t: Instant, amount: number, unit: string, fn: string): Instant {
  if (!Number.isInteger(amount)) throw new ExpressionError(`${fn}: the interval must be an integer, got ${amount}`);
  const u = unit.toLowerCase().replace(/s$/, '');
  const mult: Record<string, number> = {
    second: 1000,
    minute: 60_000,
    hour: 3_600_000,
    day: 86_400_000,
    week: 604_800_000,
  };
  if (mult[u] !== undefined) return { ms: t.ms + amount * mult[u], sub: t.sub };
  if (u === 'month') return addMonths(t, amount);
  if (u === 'year') return addMonths(t, amount * 12);
  throw new ExpressionError(`${fn}: unknown time unit '${unit}' (Second, Minute, Hour, Day, Week, Month, Year)`);
}

// ---- functions --------------------------------------------------------------------------------------------------------

type Fn = (args: unknown[], ctx: EvalContext, name: string) => unknown;

function arity(name: string, args: unknown[], min: number, max = min): void {
  if (args.length < min || args.length > max) {
    const want = min === max ? `${min}` : max === Infinity ? `at least ${min}` : `${min} to ${max}`;
    throw new ExpressionError(`${name}() takes ${want} argument(s), got ${args.length}`);
  }
}

function str(name: string, v: unknown): string {
  if (typeof v !== 'string') throw new ExpressionError(`${name}: expected a string, got ${kindOf(v)}`);
  return v;
}

function num(name: string, v: unknown): number {
  if (typeof v !== 'number') throw new ExpressionError(`${name}: expected a number, got ${kindOf(v)}`);
  return v;
}

function int(name: string, v: unknown): number {
  const n = num(name, v);
  if (!Number.isInteger(n)) throw new ExpressionError(`${name}: expected an integer, got ${n}`);
  return n;
}

function collection(name: string, v: unknown): unknown[] | string {
  if (typeof v === 'string' || Array.isArray(v)) return v;
  throw new ExpressionError(`${name}: expected a string or an array, got ${kindOf(v)}`);
}

function deepEqual(a: unknown, b: unknown): boolean {
  return JSON.stringify(unwrap(a)) === JSON.stringify(unwrap(b));
}

function compare(name: string, a: unknown, b: unknown): number {
  if (typeof a === 'number' && typeof b === 'number') return a - b;
  if (typeof a === 'string' && typeof b === 'string') return a < b ? -1 : a > b ? 1 : 0;
  throw new ExpressionError(`${name}: compares two numbers or two strings, got ${kindOf(a)} and ${kindOf(b)}`);
}

function dateFn(unitArg: (args: unknown[]) => [number, string], argc: number): Fn {
  return (args, _ctx, name) => {
    arity(name, args, argc, argc + 1);
    const [amount, unit] = unitArg(args);
    const t = addUnit(parseTimestamp(args[0], name), amount, unit, name);
    return formatInstant(t, args[argc] === undefined ? DEFAULT_FORMAT : str(name, args[argc]));
  };
}

function startOf(unit: 'day' | 'hour' | 'month'): Fn {
  return (args, _ctx, name) => {
    arity(name, args, 1, 2);
    const t = parseTimestamp(args[0], name);
    const d = new Date(t.ms);
    const ms =
      unit === 'hour'
        ? Date.UTC(d.getUTCFullYear(), d.getUTCMonth(), d.getUTCDate(), d.getUTCHours())
        : unit === 'day'
          ? Date.UTC(d.getUTCFullYear(), d.getUTCMonth(), d.getUTCDate())
          : Date.UTC(d.getUTCFullYear(), d.getUTCMonth(), 1);
    return formatInstant({ ms, sub: 0 }, args[1] === undefined ? DEFAULT_FORMAT : str(name, args[1]));
  };
}

function toInt(name: string, v: unknown): number {
  if (typeof v === 'number' && Number.isInteger(v)) return v;
  if (typeof v === 'string' && /^\s*[+-]?\d+\s*$/.test(v)) return Number(v);
  if (typeof v === 'boolean') return v ? 1 : 0;
  throw new ExpressionError(`${name}: cannot convert ${JSON.stringify(v)} to an integer`);
}

/** Functions by lower-case name. ADF matches function names case-insensitively (`utcnow()` and `utcNow()`). */
const FUNCTIONS: Record<string, Fn> = {
  // system
  pipeline: (args, ctx, name) => (arity(name, args, 0), ctx.pipeline),
  activity: (args, ctx, name) => {
    arity(name, args, 1);
    if (!ctx.activity) throw new ExpressionError(`activity() cannot be used here`);
    return ctx.activity(str(name, args[0]));
  },
  variables: (args, ctx, name) => {
    arity(name, args, 1);
    if (!ctx.variables) throw new ExpressionError(`variables() cannot be used here`);
    return ctx.variables(str(name, args[0]));
  },
  trigger: (args, ctx, name) => {
    arity(name, args, 0);
    if (!ctx.trigger) throw new ExpressionError(`trigger() can only be used in a trigger's pipeline parameters`);
    return ctx.trigger;
  },
  // strings
  concat: (args, _ctx, name) => (arity(name, args, 1, Infinity), args.map(toText).join('')),
  substring: (args, _ctx, name) => {
    arity(name, args, 2, 3);
    const s = str(name, args[0]);
    const start = int(name, args[1]);
    const len = args[2] === undefined ? s.length - start : int(name, args[2]);
    if (start < 0 || len < 0 || start + len > s.length) {
      throw new ExpressionError(`substring: start ${start} and length ${len} are out of range for '${s}'`);
    }
    return s.substr(start, len);
  },
  replace: (args, _ctx, name) => (
    arity(name, args, 3),
    str(name, args[0]).split(str(name, args[1])).join(str(name, args[2]))
  ),
  split: (args, _ctx, name) => (arity(name, args, 2), str(name, args[0]).split(str(name, args[1]))),
  tolower: (args, _ctx, name) => (arity(name, args, 1), str(name, args[0]).toLowerCase()),
  toupper: (args, _ctx, name) => (arity(name, args, 1), str(name, args[0]).toUpperCase()),
  trim: (args, _ctx, name) => (arity(name, args, 1), str(name, args[0]).trim()),
  indexof: (args, _ctx, name) => (
    arity(name, args, 2),
    str(name, args[0]).toLowerCase().indexOf(str(name, args[1]).toLowerCase())
  ),
  lastindexof: (args, _ctx, name) => (
    arity(name, args, 2),
    str(name, args[0]).toLowerCase().lastIndexOf(str(name, args[1]).toLowerCase())
  ),
  startswith: (args, _ctx, name) => (
    arity(name, args, 2),
    str(name, args[0]).toLowerCase().startsWith(str(name, args[1]).toLowerCase())
  ),
  endswith: (args, _ctx, name) => (
    arity(name, args, 2),
    str(name, args[0]).toLowerCase().endsWith(str(name, args[1]).toLowerCase())
  ),
  guid: (args, ctx, name) => {
    arity(name, args, 0, 1);
    const g = ctx.guid();
    const f = args[0] === undefined ? 'D' : str(name, args[0]);
    if (f === 'N' || f === 'n') return g.replace(/-/g, '');
    if (f === 'D' || f === 'd') return g;
    if (f === 'B' || f === 'b') return `{${g}}`;
    if (f === 'P' || f === 'p') return `(${g})`;
    throw new ExpressionError(`guid: format '${f}' is not one of N, D, B, P`);
  },
  // collections
  contains: (args, _ctx, name) => {
    arity(name, args, 2);
    const c = args[0];
    if (typeof c === 'string') return c.includes(str(name, args[1]));
    if (Array.isArray(c)) return c.some((x) => deepEqual(x, args[1]));
    if (c instanceof SystemObject) return c.get(str(name, args[1])).found;
    if (typeof c === 'object' && c !== null) return Object.prototype.hasOwnProperty.call(c, str(name, args[1]));
    throw new ExpressionError(`contains: expected a string, array or object, got ${kindOf(c)}`);
  },
  empty: (args, _ctx, name) => {
    arity(name, args, 1);
    const c = args[0];
    if (c === null || c === undefined) return true;
    if (typeof c === 'string' || Array.isArray(c)) return c.length === 0;
    if (typeof c === 'object') return Object.keys(unwrap(c) as object).length === 0;
    throw new ExpressionError(`empty: expected a string, array or object, got ${kindOf(c)}`);
  },
  length: (args, _ctx, name) => (arity(name, args, 1), collection(name, args[0]).length),
  first: (args, _ctx, name) => {
    arity(name, args, 1);
    const c = collection(name, args[0]);
    return c.length ? c[0] : null;
  },
  last: (args, _ctx, name) => {
    arity(name, args, 1);
    const c = collection(name, args[0]);
    return c.length ? c[c.length - 1] : null;
  },
  join: (args, _ctx, name) => {
    arity(name, args, 2);
    if (!Array.isArray(args[0])) throw new ExpressionError(`join: expected an array, got ${kindOf(args[0])}`);
    return args[0].map(toText).join(str(name, args[1]));
  },
  createarray: (args) => [...args],
  skip: (args, _ctx, name) => {
    arity(name, args, 2);
    return collection(name, args[0]).slice(int(name, args[1]));
  },
  take: (args, _ctx, name) => {
    arity(name, args, 2);
    return collection(name, args[0]).slice(0, int(name, args[1]));
  },
  // logic
  equals: (args, _ctx, name) => (arity(name, args, 2), deepEqual(args[0], args[1])),
  and: (args, _ctx, name) => (arity(name, args, 2, Infinity), args.every((a) => a === true)),
  or: (args, _ctx, name) => (arity(name, args, 2, Infinity), args.some((a) => a === true)),
  not: (args, _ctx, name) => (arity(name, args, 1), args[0] !== true),
  if: (args, _ctx, name) => {
    arity(name, args, 3);
    if (typeof args[0] !== 'boolean')
      throw new ExpressionError(`if: the condition must be a boolean, got ${kindOf(args[0])}`);
    return args[0] ? args[1] : args[2];
  },
  greater: (args, _ctx, name) => (arity(name, args, 2), compare(name, args[0], args[1]) > 0),
  greaterorequals: (args, _ctx, name) => (arity(name, args, 2), compare(name, args[0], args[1]) >= 0),
  less: (args, _ctx, name) => (arity(name, args, 2), compare(name, args[0], args[1]) < 0),
  lessorequals: (args, _ctx, name) => (arity(name, args, 2), compare(name, args[0], args[1]) <= 0),
  coalesce: (args, _ctx, name) => (
    arity(name, args, 1, Infinity),
    args.find((a) => a !== null && a !== undefined) ?? null
  ),
  // conversion
  string: (args, _ctx, name) => (arity(name, args, 1), toText(args[0])),
  int: (args, _ctx, name) => (arity(name, args, 1), toInt(name, args[0])),
  float: (args, _ctx, name) => {
    arity(name, args, 1);
    const v = args[0];
    const n = typeof v === 'number' ? v : typeof v === 'string' && v.trim() !== '' ? Number(v) : NaN;
    if (Number.isNaN(n)) throw new ExpressionError(`float: cannot convert ${JSON.stringify(v)} to a number`);
    return n;
  },
  bool: (args, _ctx, name) => {
    arity(name, args, 1);
    const v = args[0];
    if (typeof v === 'boolean') return v;
    if (typeof v === 'number') return v !== 0;
    if (typeof v === 'string' && /^(true|false)$/i.test(v.trim())) return v.trim().toLowerCase() === 'true';
    throw new ExpressionError(`bool: cannot convert ${JSON.stringify(v)} to a boolean`);
  },
  json: (args, _ctx, name) => {
    arity(name, args, 1);
    const v = args[0];
    if (typeof v !== 'string') return v;
    try {
      return JSON.parse(v) as unknown;
    } catch (e) {
      throw new ExpressionError(`json: not valid JSON: ${(e as Error).message}`);
    }
  },
  // math
  add: (args, _ctx, name) => (arity(name, args, 2), num(name, args[0]) + num(name, args[1])),
  sub: (args, _ctx, name) => (arity(name, args, 2), num(name, args[0]) - num(name, args[1])),
  mul: (args, _ctx, name) => (arity(name, args, 2), num(name, args[0]) * num(name, args[1])),
  div: (args, _ctx, name) => {
    arity(name, args, 2);
    const a = num(name, args[0]);
    const b = num(name, args[1]);
    if (b === 0) throw new ExpressionError('div: division by zero');
    // Integer operands divide as integers, as in ADF (.NET).
    return Number.isInteger(a) && Number.isInteger(b) ? Math.trunc(a / b) : a / b;
  },
  mod: (args, _ctx, name) => {
    arity(name, args, 2);
    const b = num(name, args[1]);
    if (b === 0) throw new ExpressionError('mod: division by zero');
    return num(name, args[0]) % b;
  },
  min: (args, _ctx, name) => {
    const list = args.length === 1 && Array.isArray(args[0]) ? args[0] : args;
    return Math.min(...list.map((a) => num(name, a)));
  },
  max: (args, _ctx, name) => {
    const list = args.length === 1 && Array.isArray(args[0]) ? args[0] : args;
    return Math.max(...list.map((a) => num(name, a)));
  },
  // date and time
  utcnow: (args, ctx, name) => {
    arity(name, args, 0, 1);
    const now = ctx.now().getTime();
    return formatInstant({ ms: now, sub: 0 }, args[0] === undefined ? DEFAULT_FORMAT : str(name, args[0]));
  },
  formatdatetime: (args, _ctx, name) => {
    arity(name, args, 1, 2);
    return formatInstant(parseTimestamp(args[0], name), args[1] === undefined ? DEFAULT_FORMAT : str(name, args[1]));
  },
  adddays: dateFn((a) => [num('addDays', a[1]), 'Day'], 2),
  addhours: dateFn((a) => [num('addHours', a[1]), 'Hour'], 2),
  addminutes: dateFn((a) => [num('addMinutes', a[1]), 'Minute'], 2),
  addseconds: dateFn((a) => [num('addSeconds', a[1]), 'Second'], 2),
  addtotime: dateFn((a) => [num('addToTime', a[1]), str('addToTime', a[2])], 3),
  subtractfromtime: dateFn((a) => [-num('subtractFromTime', a[1]), str('subtractFromTime', a[2])], 3),
  startofday: startOf('day'),
  startofhour: startOf('hour'),
  startofmonth: startOf('month'),
  dayofmonth: (args, _ctx, name) => (arity(name, args, 1), new Date(parseTimestamp(args[0], name).ms).getUTCDate()),
  dayofweek: (args, _ctx, name) => (arity(name, args, 1), new Date(parseTimestamp(args[0], name).ms).getUTCDay()),
  dayofyear: (args, _ctx, name) => {
    arity(name, args, 1);
    const d = new Date(parseTimestamp(args[0], name).ms);
    return Math.floor((d.getTime() - Date.UTC(d.getUTCFullYear(), 0, 1)) / 86_400_000) + 1;
  },
};

/** Names as documented (for messages and the README), in the order above. */
export const SUPPORTED_FUNCTIONS: readonly string[] = [
  'pipeline', 'activity', 'variables', 'trigger',
  'concat', 'substring', 'replace', 'split', 'toLower', 'toUpper', 'trim', 'indexOf', 'lastIndexOf', 'startsWith',
  'endsWith', 'guid',
  'contains', 'empty', 'length', 'first', 'last', 'join', 'createArray', 'skip', 'take',
  'equals', 'and', 'or', 'not', 'if', 'greater', 'greaterOrEquals', 'less', 'lessOrEquals', 'coalesce',
  'string', 'int', 'float', 'bool', 'json',
  'add', 'sub', 'mul', 'div', 'mod', 'min', 'max',
  'utcNow', 'formatDateTime', 'addDays', 'addHours', 'addMinutes', 'addSeconds', 'addToTime', 'subtractFromTime',
  'startOfDay', 'startOfHour', 'startOfMonth', 'dayOfMonth', 'dayOfWeek', 'dayOfYear',
]; // prettier-ignore

export function isSupportedFunction(name: string): boolean {
  return Object.prototype.hasOwnProperty.call(FUNCTIONS, name.toLowerCase());
}

/** Lazy functions: `if`, `and`, `or`, `coalesce` evaluate only what they need, as ADF short-circuits. */
function call(name: string, argNodes: ExprNode[], ctx: EvalContext): unknown {
  const lower = name.toLowerCase();
  const fn = Object.prototype.hasOwnProperty.call(FUNCTIONS, lower) ? FUNCTIONS[lower] : undefined;
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

/** A literal string that must never be evaluated: a leading `@` and every `@{` are escaped (docs/spec/adf-pipeline-semantics.md §4.1). */
export function escapeLiteral<T>(v: T): T {
  if (typeof v !== 'string') return v;
  return (v.startsWith('@') ? `@${v}` : v.replace(/@\{/g, '@@{')) as T;
}
