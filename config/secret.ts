import { inspect } from 'node:util';

/** An `AzureKeyVaultSecret` reference (docs/spec/adf-pipeline-semantics.md §2.3): resolved by the worker when activities run. */
export interface KeyVaultRef {
  /** Name of the AzureKeyVault linked service. */
  store: string;
  secretName: string;
  /** Absent = the latest version, read at run time. */
  secretVersion?: string;
}

/**
 * A secret value that cannot be printed by accident: `String(s)`, JSON and `console.log` all show a mask.
 * Call `reveal()` only at the point where the value goes onto the wire. A Key Vault secret has no value until the
 * worker resolves it; `reveal()` then throws the resolution failure (or says it was never resolved).
 */
export class Secret {
  #value: string | undefined;
  #error: Error | undefined;
  readonly keyVault?: KeyVaultRef;

  constructor(value: string | KeyVaultRef) {
    if (typeof value === 'string') this.#value = value;
    else this.keyVault = value;
  }

  reveal(): string {
    if (this.#value !== undefined) return this.#value;
    throw (
      this.#error ??
      new Error(
        `Key Vault secret '${this.keyVault?.secretName}' (store '${this.keyVault?.store}') has not been resolved yet`,
      )
    );
  }

  /** Set by the worker's Key Vault resolver. */
  resolved(value: string): void {
    this.#value = value;
    this.#error = undefined;
  }

  /** Set by the worker's Key Vault resolver when the vault refused; `reveal()` throws this error. */
  failed(error: Error): void {
    this.#value = undefined;
    this.#error = error;
  }

  toString(): string {
    return '***';
  }

  toJSON(): string {
    return '***';
  }

  [inspect.custom](): string {
    return 'Secret(***)';
  }
}

/** Replace every occurrence of the given secret values (and URL-encoded forms) in text. For logs and messages. */
export function redact(text: string, secrets: Iterable<string>): string {
  let out = text;
  for (const s of secrets) {
    if (!s || s.length < 4) continue;
    for (const form of new Set([s, encodeURIComponent(s)])) out = out.split(form).join('***');
  }
  // SAS signatures and bearer values that were not registered (minted at run time).
  return out.replace(/([?&]sig=)[^&\s"']+/gi, '$1***').replace(/(Bearer\s+)[A-Za-z0-9._~+/=-]+/g, '$1***');
}
