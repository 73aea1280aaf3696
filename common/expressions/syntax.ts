/** The syntax tree of an ADF expression and of the JSON string template that holds it, and the one error type. */

/** Raised for any expression that does not parse or cannot be evaluated; validators report its message as is. */
export class ExpressionError extends Error {
  override name = 'ExpressionError';
}

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
