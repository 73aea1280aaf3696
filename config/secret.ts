import { inspect } from 'node:util';

/**
 * A secret value that cannot be printed by accident: `String(s)`, JSON and `console.log` all show a mask.
 * Call `reveal()` only at the point where the value goes onto the wire.
 */
export class Secret {
  readonly #value: string;

  constructor(value: string) {
    this.#value = value;
  }

  reveal(): string {
    return this.#value;
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
