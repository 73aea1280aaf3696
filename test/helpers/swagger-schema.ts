/**
 * A small validator for swagger 2.0 schemas as Azure's specs write them: `$ref` into `#/definitions`, `allOf`,
 * `discriminator` with `x-ms-discriminator-value`, `properties`, `required`, `additionalProperties`, `enum`, `type`,
 * `format: date-time`, `minimum`/`maximum`. Strict where fidelity matters: a property the schema (with its bases and
 * its discriminated subtype) does not declare is an error, and enums compare case-sensitively. Two readings follow
 * AutoRest's: `type: object` with no properties means any JSON value, and an optional property may be null.
 */

type Schema = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any
export interface SwaggerDoc {
  definitions: Record<string, Schema>;
  paths: Record<string, Record<string, Schema>>;
}

function deref(doc: SwaggerDoc, s: Schema): Schema {
  let cur = s;
  while (typeof cur.$ref === 'string') {
    const name = cur.$ref.replace('#/definitions/', '');
    const next = doc.definitions[name];
    if (!next) throw new Error(`unknown $ref ${String(cur.$ref)}`);
    cur = { ...next, 'x-name': name };
  }
  return cur;
}

/** The schema with its allOf bases merged: every declared property, every required name. */
function flatten(doc: SwaggerDoc, s: Schema): { properties: Record<string, Schema>; required: string[]; s: Schema } {
  const r = deref(doc, s);
  const properties: Record<string, Schema> = {};
  const required: string[] = [];
  for (const base of (r.allOf as Schema[] | undefined) ?? []) {
    const f = flatten(doc, base);
    Object.assign(properties, f.properties);
    required.push(...f.required);
  }
  Object.assign(properties, (r.properties as Record<string, Schema> | undefined) ?? {});
  required.push(...((r.required as string[] | undefined) ?? []));
  return { properties, required, s: r };
}

/** The subtype a discriminator value selects: the definition that extends `baseName` with that value. */
function subtype(doc: SwaggerDoc, baseName: string, value: unknown): Schema | undefined {
  for (const [name, d] of Object.entries(doc.definitions)) {
    const extendsBase = ((d.allOf as Schema[] | undefined) ?? []).some((a) => a.$ref === `#/definitions/${baseName}`);
    if (extendsBase && (d['x-ms-discriminator-value'] ?? name) === value) return { $ref: `#/definitions/${name}` };
  }
  return undefined;
}

export function validate(doc: SwaggerDoc, schema: Schema, value: unknown, path = '$'): string[] {
  const base = flatten(doc, schema);
  const s = base.s;
  let { properties, required } = base;
  const errors: string[] = [];
  if (s.discriminator && value && typeof value === 'object') {
    const d = (value as Record<string, unknown>)[s.discriminator as string];
    const sub = d === undefined ? undefined : subtype(doc, s['x-name'] as string, d);
    if (sub) ({ properties, required } = flatten(doc, sub));
  }
  const type = s.type as string | undefined;
  const declaresShape = Object.keys(properties).length > 0 || s.additionalProperties !== undefined || s.allOf;
  if (type === 'object' && !declaresShape) return errors; // AutoRest: any JSON value
  if (s.enum && !(s.enum as unknown[]).includes(value)) {
    errors.push(`${path}: ${JSON.stringify(value)} is not one of ${JSON.stringify(s.enum)}`);
  }
  if (type === 'string' || type === 'integer' || type === 'number' || type === 'boolean') {
    const ok =
      type === 'string'
        ? typeof value === 'string'
        : type === 'boolean'
          ? typeof value === 'boolean'
          : typeof value === 'number' && (type === 'number' || Number.isInteger(value));
    if (!ok) return [...errors, `${path}: expected ${type}, got ${JSON.stringify(value)}`];
    if (s.format === 'date-time' && Number.isNaN(Date.parse(value as string))) {
      errors.push(`${path}: '${String(value)}' is not a date-time`);
    }
    if (typeof s.minimum === 'number' && (value as number) < s.minimum) errors.push(`${path}: below ${s.minimum}`);
    if (typeof s.maximum === 'number' && (value as number) > s.maximum) errors.push(`${path}: above ${s.maximum}`);
    return errors;
  }
  if (type === 'array') {
    if (!Array.isArray(value)) return [...errors, `${path}: expected an array`];
    value.forEach((v, i) => errors.push(...validate(doc, s.items as Schema, v, `${path}[${i}]`)));
    return errors;
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    return [...errors, `${path}: expected an object, got ${JSON.stringify(value)}`];
  }
  const obj = value as Record<string, unknown>;
  for (const r of required) if (obj[r] === undefined) errors.push(`${path}: required property '${r}' is missing`);
  for (const [k, v] of Object.entries(obj)) {
    const p = `${path}.${k}`;
    if (properties[k]) {
      if (v === null && !required.includes(k)) continue;
      errors.push(...validate(doc, properties[k], v, p));
    } else if (s.additionalProperties && typeof s.additionalProperties === 'object') {
      errors.push(...validate(doc, s.additionalProperties as Schema, v, p));
    } else {
      errors.push(`${p}: property not declared by ${String(s['x-name'] ?? 'the schema')}`);
    }
  }
  return errors;
}

/** The response schema an operation declares for a status code, or undefined when it declares no body. */
export function responseSchema(doc: SwaggerDoc, pathKey: string, method: string, status: number): Schema | undefined {
  const op = doc.paths[pathKey]?.[method.toLowerCase()];
  if (!op) throw new Error(`${method} ${pathKey} is not in the spec`);
  const res = (op.responses as Record<string, Schema>)[String(status)];
  if (!res) throw new Error(`${method} ${pathKey} does not declare status ${status}`);
  return res.schema as Schema | undefined;
}
