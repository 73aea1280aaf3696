/**
 * The ADF v2 expression language, the subset ML retrain pipelines use (docs/spec/adf-pipeline-semantics.md §4.1):
 * parsing of expressions and of the JSON string templates that hold them.
 */
import type { ExprNode, Template } from './syntax';
import { ExpressionError } from './syntax';
import type { Tok } from './tokenize';
import { tokenize } from './tokenize';

/** ADF's limit on one expression's length ("Characters per expression: 8,192", Azure subscription limits). */
export const MAX_EXPRESSION_CHARS = 8192;
/**
 * How deeply calls, member accesses and indexes may nest in one expression. ADF documents no number; this bound keeps
 * the recursive parser and evaluator far from the JavaScript stack limit, so a hostile expression gets this error
 * instead of "Maximum call stack size exceeded".
 */
export const MAX_EXPRESSION_DEPTH = 64;

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

/** A literal string that must never be evaluated: a leading `@` and every `@{` are escaped (docs/spec/adf-pipeline-semantics.md §4.1). */
export function escapeLiteral<T>(v: T): T {
  if (typeof v !== 'string') return v;
  return (v.startsWith('@') ? `@${v}` : v.replace(/@\{/g, '@@{')) as T;
}
