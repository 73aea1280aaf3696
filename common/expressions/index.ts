/**
 * The ADF v2 expression language, the subset ML retrain pipelines use (docs/spec/adf-pipeline-semantics.md §4.1).
 * Pure and deterministic: the config validator parses with it (no evaluation), and the workflow evaluates with it,
 * taking "now" from workflow time and GUIDs from the workflow's seeded generator, so a replay computes the same values.
 * Import from this folder, not from its files: the files are how the language is built, this is what it offers.
 */
export type { ExpressionRefs } from './analyze';
export { analyze } from './analyze';
export { daysInMonth, formatInstant, parseTimestamp } from './datetime';
export { evaluateString, evaluateValue } from './evaluate';
export { isSupportedFunction, SUPPORTED_FUNCTIONS } from './functions';
export {
  escapeLiteral,
  expressionObjectText,
  isExpression,
  MAX_EXPRESSION_CHARS,
  MAX_EXPRESSION_DEPTH,
  parseExpression,
  parseTemplate,
} from './parse';
export type { ExprNode, Template } from './syntax';
export { ExpressionError } from './syntax';
export type { EvalContext } from './values';
export { setOwn, SystemObject, toText } from './values';
