/**
 * Masks secrets in values the CLI prints (activity inputs and outputs, memos). Workflows are written to keep secrets
 * out of history, so this is a second line of defence: an ADF-shaped output copied from a service (a BES `Results`
 * entry with its `SasBlobToken`, a connection string) must never reach a terminal or a CI log.
 */

export const MASK = '***';

/**
 * Key endings whose values are credentials, whatever their shape (ADF, BES and Azure SDK spellings: `apiKey`,
 * `servicePrincipalKey`, `SasBlobToken`, `sasUri`, `connectionString`). Over-masking a harmless field is the cheap
 * mistake here.
 */
const SECRET_KEY_ENDINGS = [
  'key',
  'secret',
  'password',
  'pwd',
  'token',
  'sas',
  'sasuri',
  'connectionstring',
  'credential',
  'credentials',
  'authorization',
  'sig',
  'signature',
];

function isSecretKey(key: string): boolean {
  const k = key.toLowerCase().replace(/[-_]/g, '');
  return SECRET_KEY_ENDINGS.some((e) => k.endsWith(e));
}

/** Strings that are credentials or carry one, wherever they appear. */
function maskString(s: string): string {
  let out = s;
  // Storage connection strings: AccountKey=...; SharedAccessSignature=...
  out = out.replace(/(AccountKey|SharedAccessSignature)=[^;"\s]+/gi, `$1=${MASK}`);
  // SAS query strings on blob URLs: keep the URL, drop the signature-bearing query.
  out = out.replace(/(https?:\/\/[^\s"?]+)\?[^\s"]*\bsig=[^\s"]*/gi, `$1?${MASK}`);
  // Bare SAS token strings (`?sv=...&sig=...` or `sv=...&sig=...`).
  if (/(^|[?&])sig=/.test(out) && !/^https?:/i.test(out)) out = MASK;
  // Bearer tokens in header-like strings.
  out = out.replace(/\b(Bearer)\s+[A-Za-z0-9._~+/=-]{8,}/g, `$1 ${MASK}`);
  return out;
}

export function redact(value: unknown, depth = 0): unknown {
  if (depth > 20) return MASK;
  if (typeof value === 'string') return maskString(value);
  if (Array.isArray(value)) return value.map((v) => redact(v, depth + 1));
  if (value && typeof value === 'object') {
    const obj = value as Record<string, unknown>;
    // ADF SecureString: { type: 'SecureString', value: '...' }
    if (obj.type === 'SecureString' && 'value' in obj) return { ...obj, value: MASK };
    return Object.fromEntries(
      Object.entries(obj).map(([k, v]) => [
        k,
        isSecretKey(k) && v !== null && v !== undefined && typeof v !== 'boolean' ? MASK : redact(v, depth + 1),
      ]),
    );
  }
  return value;
}

/**
 * Every URL in a value without its query: SAS tokens live in the query, and none of the lifecycle views needs one.
 * Keys are left alone (unlike `redact`, which masks any `…key` field, and so a model's identity `key`).
 */
export function stripUrlQueries<T>(value: T, depth = 0): T {
  if (depth > 20) return value;
  if (typeof value === 'string') return value.replace(/(https?:\/\/[^\s"'?#]+)[?#][^\s"']*/gi, '$1') as T;
  if (Array.isArray(value)) return value.map((v: unknown) => stripUrlQueries(v, depth + 1)) as T;
  if (value && typeof value === 'object') {
    return Object.fromEntries(
      Object.entries(value as Record<string, unknown>).map(([k, v]) => [k, stripUrlQueries(v, depth + 1)]),
    ) as T;
  }
  return value;
}
