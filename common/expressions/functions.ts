/** The function table of the expression language: each supported function by lower-case name, with its checks. */
import { addUnit, DEFAULT_FORMAT, formatInstant, parseTimestamp } from './datetime';
import { ExpressionError } from './syntax';
import type { EvalContext } from './values';
import { kindOf, SystemObject, toText, unwrap } from './values';

export type Fn = (args: unknown[], ctx: EvalContext, name: string) => unknown;

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

/** Names as documented (for messages and docs/adf-compatibility.md), in the order above. */
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

/** The implementation of a function by its lower-case name; own keys only, so `constructor()` is not a function. */
export function functionNamed(lower: string): Fn | undefined {
  return Object.prototype.hasOwnProperty.call(FUNCTIONS, lower) ? FUNCTIONS[lower] : undefined;
}
