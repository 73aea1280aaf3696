/** Static analysis for the validators: what an expression refers to, found without evaluating it. */
import type { ExprNode } from './syntax';
import { isExpression, expressionObjectText, parseTemplate } from './parse';

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
