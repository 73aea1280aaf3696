import { ExpressionError } from './syntax';

/** Tokens of the expression language, with their 0-based position for messages. */
export type Tok =
  | { t: 'id'; v: string; p: number }
  | { t: 'num'; v: number; p: number }
  | { t: 'str'; v: string; p: number }
  | { t: 'punc'; v: string; p: number }
  | { t: 'end'; p: number };

export function tokenize(src: string): Tok[] {
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
