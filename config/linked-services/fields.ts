import { isMasked } from '../../common/pipeline-definition';
import type { Diagnostics } from '../diagnostics';
import { ARM_EXPRESSION, armExpressionMessage } from '../formats';
import type { JsonObject } from '../json';
import { isObject, keyOf, prop, str } from '../json';
import type { KeyVaultRef } from '../secret';
import { Secret } from '../secret';

/** Placeholders that templates and portal samples ship instead of values (`<key>`, `[key]`, `{key}`, `{{key}}`). */
export const PLACEHOLDER = /^(<[^>]*>|\[[^\]]*\]|\{\{[^}]*\}\}|\{[^}"]*\})$/;

/**
 * Reads the fields of one linked-service file into `d`: literal strings and the secret forms, each refused with its
 * JSON path when it holds an expression, an ARM template expression, a placeholder or a masked value.
 */
export class FieldReader {
  constructor(
    readonly file: string,
    readonly d: Diagnostics,
  ) {}

  fail(path: string, message: string): undefined {
    return this.d.error(this.file, path, message);
  }

  string(obj: JsonObject, name: string, path: string, required: boolean): string | undefined {
    const v = prop(obj, name);
    const p = `${path}.${keyOf(obj, name)}`;
    if (v === undefined || v === null || v === '') return required ? this.fail(p, 'is required') : undefined;
    if (isObject(v) && str(prop(v, 'type')).toLowerCase() === 'expression') {
      return this.fail(p, 'expressions (linked-service parameters) are not supported; give a literal value');
    }
    if (typeof v !== 'string') return this.fail(p, `must be a string, got ${typeof v}`);
    if (v.startsWith('@') && !v.startsWith('@@')) {
      return this.fail(p, 'expressions (linked-service parameters) are not supported; give a literal value');
    }
    if (ARM_EXPRESSION.test(v.trim())) return this.fail(p, armExpressionMessage(v.trim()));
    if (PLACEHOLDER.test(v.trim())) return this.fail(p, `holds a placeholder (${v}); give the real value`);
    return v;
  }

  /**
   * Secret forms: plain string, SecureString, AzureKeyVaultSecret (resolved later by the worker), and an
   * environment-variable indirection for local use. Masked values and placeholders count as missing.
   */
  secret(obj: JsonObject, name: string, path: string, required: boolean): Secret | undefined {
    const v = prop(obj, name);
    const p = `${path}.${keyOf(obj, name)}`;
    if (v === undefined || v === null || v === '') return required ? this.fail(p, 'is required') : undefined;
    let value: string | undefined;
    let where = p;
    if (typeof v === 'string') {
      value = v;
    } else if (isObject(v)) {
      const type = str(prop(v, 'type') ?? '');
      if (type.toLowerCase() === 'securestring') {
        const inner = prop(v, 'value');
        where = `${p}.${keyOf(v, 'value')}`;
        if (typeof inner !== 'string' || inner === '') return this.fail(where, 'SecureString needs a value');
        value = inner;
      } else if (type.toLowerCase() === 'environmentvariable') {
        const variable = prop(v, 'variable');
        if (typeof variable !== 'string' || !variable) {
          return this.fail(`${p}.${keyOf(v, 'variable')}`, 'names no environment variable');
        }
        const fromEnv = process.env[variable];
        if (!fromEnv) return this.fail(p, `environment variable ${variable} is not set`);
        value = fromEnv;
        where = `${p} (environment variable ${variable})`;
      } else if (type.toLowerCase() === 'azurekeyvaultsecret') {
        return this.keyVaultSecret(v, p);
      } else if (type.toLowerCase() === 'expression') {
        return this.fail(
          p,
          'expressions are not supported for secrets; use SecureString, AzureKeyVaultSecret or EnvironmentVariable',
        );
      } else {
        return this.fail(
          p,
          `unknown secret type '${type}' (expected SecureString, AzureKeyVaultSecret or EnvironmentVariable)`,
        );
      }
    } else {
      return this.fail(p, `must be a string or a SecureString object, got ${typeof v}`);
    }
    if (isMasked(value)) {
      return this.fail(
        where,
        'is masked (**********), as ADF exports it: it is not the key. Supply the real value (SecureString, ' +
          'AzureKeyVaultSecret or EnvironmentVariable)',
      );
    }
    if (ARM_EXPRESSION.test(value.trim())) return this.fail(where, armExpressionMessage(value.trim()));
    if (PLACEHOLDER.test(value.trim())) return this.fail(where, 'holds a placeholder; supply the real value');
    return new Secret(value);
  }

  private keyVaultSecret(v: JsonObject, p: string): Secret | undefined {
    const store = prop(v, 'store');
    const storeName = isObject(store) ? prop(store, 'referenceName') : undefined;
    const secretName = prop(v, 'secretName');
    const secretVersion = prop(v, 'secretVersion');
    let ok = true;
    if (typeof storeName !== 'string' || !storeName) {
      ok = !!this.fail(
        `${p}.${keyOf(v, 'store')}`,
        'AzureKeyVaultSecret needs store: { referenceName: <AzureKeyVault linked service>, type: LinkedServiceReference }',
      );
    }
    if (typeof secretName !== 'string' || !secretName) {
      ok = !!this.fail(`${p}.${keyOf(v, 'secretName')}`, 'AzureKeyVaultSecret needs a literal secretName');
    } else if (secretName.startsWith('@')) {
      ok = !!this.fail(`${p}.${keyOf(v, 'secretName')}`, 'expressions are not supported in secretName; give the name');
    } else if (!/^[0-9A-Za-z-]{1,127}$/.test(secretName)) {
      ok = !!this.fail(
        `${p}.${keyOf(v, 'secretName')}`,
        `'${secretName}' is not a Key Vault secret name (letters, digits, '-')`,
      );
    }
    if (secretVersion !== undefined && secretVersion !== null && typeof secretVersion !== 'string') {
      ok = !!this.fail(`${p}.${keyOf(v, 'secretVersion')}`, 'must be a string');
    }
    if (!ok) return undefined;
    const ref: KeyVaultRef = { store: storeName as string, secretName: secretName as string };
    if (typeof secretVersion === 'string' && secretVersion) ref.secretVersion = secretVersion;
    return new Secret(ref);
  }
}
