import { readdir, readFile } from 'node:fs/promises';
import { ConfigError } from './errors';
import type { Diagnostics } from './diagnostics';

/**
 * Reading ADF definition files: JSON with a bounded shape, and the case-insensitive property access ADF's own
 * deserializer gives ADF-defined names (Microsoft's samples write `LinkedServiceName`).
 */

type Json = null | boolean | number | string | Json[] | { [k: string]: Json };
export type JsonObject = { [k: string]: Json };

export function isObject(v: unknown): v is JsonObject {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** Text of a JSON value for messages and comparisons. */
export function str(v: unknown): string {
  return typeof v === 'string' ? v : (JSON.stringify(v) ?? 'undefined');
}

/** Case-insensitive property lookup for ADF-defined names. */
export function prop<T>(obj: Record<string, T> | undefined, name: string): T | undefined {
  if (!obj) return undefined;
  if (name in obj) return obj[name];
  const lower = name.toLowerCase();
  for (const k of Object.keys(obj)) if (k.toLowerCase() === lower) return obj[k];
  return undefined;
}

/** The key as spelled in the file (for JSON paths in messages), or the canonical name when absent. */
export function keyOf(obj: Record<string, unknown> | undefined, name: string): string {
  if (!obj) return name;
  if (name in obj) return name;
  return Object.keys(obj).find((k) => k.toLowerCase() === name.toLowerCase()) ?? name;
}

export async function listJson(dir: string): Promise<string[]> {
  try {
    return (await readdir(dir)).filter((f) => f.toLowerCase().endsWith('.json')).sort();
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT' || (e as NodeJS.ErrnoException).code === 'ENOTDIR') return [];
    throw e;
  }
}

/** Line and column of a JSON.parse error, when Node reports a position. */
function jsonErrorWhere(text: string, message: string): string {
  const m = /position (\d+)/.exec(message);
  if (!m) return '';
  const pos = Number(m[1]);
  const before = text.slice(0, pos);
  const line = before.split('\n').length;
  const col = pos - before.lastIndexOf('\n');
  return ` (line ${line}, column ${col})`;
}

/**
 * How deeply a definition file may nest. ADF's own definitions stay under a dozen levels; the bound keeps every
 * recursive walk of the product (validation, expression evaluation, payload conversion) far from the stack limit.
 */
export const MAX_JSON_DEPTH = 64;

/**
 * Problems JSON.parse lets through: nesting deeper than MAX_JSON_DEPTH, and a `__proto__` key, which JavaScript
 * objects cannot keep as data (an assignment would replace the prototype and the key would silently vanish).
 * Iterative, so a 100,000-level file is judged without recursion. Returns the first problem with its JSON path.
 */
export function jsonShapeProblem(raw: unknown): { path: string; message: string } | undefined {
  const stack: { v: unknown; path: string; depth: number }[] = [{ v: raw, path: '$', depth: 0 }];
  while (stack.length) {
    const { v, path, depth } = stack.pop()!;
    if (typeof v !== 'object' || v === null) continue;
    if (depth >= MAX_JSON_DEPTH) {
      return { path, message: `nests deeper than ${MAX_JSON_DEPTH} levels; ADF definitions never need that many` };
    }
    if (Array.isArray(v)) {
      for (let i = v.length - 1; i >= 0; i--) stack.push({ v: v[i], path: `${path}[${i}]`, depth: depth + 1 });
      continue;
    }
    for (const k of Object.keys(v)) {
      const p = /^[A-Za-z_$][A-Za-z0-9_$]*$/.test(k) ? `${path}.${k}` : `${path}['${k}']`;
      if (k === '__proto__') {
        return { path: p, message: "the key '__proto__' is reserved (it cannot be kept as data); rename it" };
      }
      stack.push({ v: (v as Record<string, unknown>)[k], path: p, depth: depth + 1 });
    }
  }
  return undefined;
}

/** A readJsonFile error as a diagnostic of `file`, at the JSON path its message names (`$` when none). */
export function reportReadError(d: Diagnostics, file: string, e: unknown): void {
  const rest = (e as Error).message.replace(`${file}: `, '');
  const m = /^(\$[^:]*): (.*)$/s.exec(rest);
  if (m) d.error(file, m[1], m[2]);
  else d.error(file, '$', rest);
}

export async function readJsonFile(path: string): Promise<unknown> {
  const text = await readFile(path, 'utf8');
  let raw: unknown;
  try {
    raw = JSON.parse(text.replace(/^\uFEFF/, '')) as unknown;
  } catch (e) {
    const msg = (e as Error).message;
    throw new ConfigError(`${path}: not valid JSON${jsonErrorWhere(text, msg)}: ${msg}`);
  }
  const shape = jsonShapeProblem(raw);
  if (shape) throw new ConfigError(`${path}: ${shape.path}: ${shape.message}`);
  return raw;
}
