import { isMasked } from '../../common/pipeline-definition';
import { hiddenCharacterProblem } from '../../common/paths';
import type { Diagnostics } from '../diagnostics';
import { key } from '../diagnostics';
import { ARM_EXPRESSION, armExpressionMessage } from '../formats';
import { isObject, keyOf, prop } from '../json';
import type { LinkedService } from '../linked-services';

export type Obj = Record<string, unknown>;

/** ADF naming rules for pipelines and activities, which differ only in length (140 and 55). */
export function adfNameProblem(name: string, maxLength: number): string | undefined {
  const hidden = hiddenCharacterProblem(name);
  if (hidden) return hidden;
  if (name.length > maxLength) return `is ${name.length} characters long; ADF allows at most ${maxLength}`;
  if (!/^[A-Za-z0-9_]/.test(name)) return 'must start with a letter, a digit or an underscore';
  if (/[.+?/<>*%&:\\]/.test(name)) return 'must not contain any of . + ? / < > * % & : \\ (ADF naming rules)';
  return undefined;
}

export function refName(v: unknown): string | undefined {
  if (isObject(v)) {
    const n = prop(v, 'referenceName');
    return typeof n === 'string' && n ? n : undefined;
  }
  return undefined;
}

/** Reports the problems of one pipeline file into `d`, and reads the fields every part of a pipeline shares. */
export class PipelineReader {
  constructor(
    readonly file: string,
    readonly d: Diagnostics,
    readonly linkedServices: Map<string, LinkedService>,
  ) {}

  error(path: string, message: string): undefined {
    return this.d.error(this.file, path, message);
  }

  warn(path: string, message: string): void {
    this.d.warn(this.file, path, message);
  }

  /** A user-defined name (parameter, variable, port): false, with an error, when it hides invisible characters. */
  visibleName(name: string, path: string, what: string): boolean {
    const hidden = hiddenCharacterProblem(name);
    if (hidden) this.error(path, `${what} name ${JSON.stringify(name)} ${hidden}`);
    return !hidden;
  }

  /** A LinkedServiceReference that must name a linked service of one kind. */
  linkedService(obj: Obj, name: string, path: string, kind: LinkedService['kind'], what: string): string | undefined {
    const v = prop(obj, name);
    const p = key(path, keyOf(obj, name));
    if (v === undefined || v === null) return this.error(p, `is required (a LinkedServiceReference to ${what})`);
    if (typeof v === 'string') {
      return this.error(p, 'must be { referenceName, type: LinkedServiceReference } (a plain string is ADF v1)');
    }
    const ref = refName(v);
    if (!ref) return this.error(`${p}.referenceName`, 'is required');
    if (isObject(v) && prop(v, 'parameters') !== undefined) {
      this.error(key(p, keyOf(v, 'parameters')), 'parameterized linked services are not supported');
    }
    const ls = this.linkedServices.get(ref.toLowerCase());
    if (!ls) {
      const known = [...this.linkedServices.values()].map((l) => l.name).join(', ') || 'none';
      return this.error(
        `${p}.referenceName`,
        `linked service '${ref}' is not defined in linkedService/ (known: ${known})`,
      );
    }
    if (ls.kind !== kind) {
      return this.error(`${p}.referenceName`, `'${ref}' (${ls.file}) is not ${what}`);
    }
    if (ls.name !== ref)
      this.warn(`${p}.referenceName`, `'${ref}' matched linked service '${ls.name}' case-insensitively`);
    return ls.name;
  }

  /** A value that may be a literal or an expression; ARM expressions and masked values are refused. */
  value(v: unknown, path: string): unknown {
    if (typeof v === 'string') {
      if (ARM_EXPRESSION.test(v.trim())) this.error(path, armExpressionMessage(v.trim()));
      else if (isMasked(v)) this.error(path, 'is masked (**********), as ADF exports secure values; give the value');
      else if (v.startsWith('$$'))
        this.error(path, `'${v.slice(0, 30)}' is an ADF v1 Data Factory function, not a v2 expression`);
    }
    return v;
  }
}
