/**
 * Temporal's payload limits, checked before a value reaches Temporal (issue 11): the server refuses a payload over
 * 2 MiB (`limit.blobSize.error`) and a gRPC message over 4 MiB. A value over either used to fail the workflow task
 * again and again (GRPC_MESSAGE_TOO_LARGE) with the run stuck InProgress; refused here, it fails the activity or the
 * run at once, with a non-retryable PayloadTooLarge naming what was too large. Pure: used by workflows and worker.
 */

/** The largest JSON value we pass to Temporal: under its 2 MiB blob limit, with room for the envelope. */
export const PAYLOAD_LIMIT_BYTES = 2_000_000;

/** UTF-8 length of a string, without TextEncoder (not in every workflow sandbox) and without copying it. */
export function utf8Bytes(s: string): number {
  let n = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 0x80) n += 1;
    else if (c < 0x800) n += 2;
    else if (c >= 0xd800 && c <= 0xdbff && i + 1 < s.length) {
      n += 4;
      i++;
    } else n += 3;
  }
  return n;
}

/** Size of a value as Temporal's JSON converter sends it. */
export function jsonBytes(v: unknown): number {
  if (v === undefined) return 0;
  return utf8Bytes(JSON.stringify(v) ?? '');
}

export function formatBytes(n: number): string {
  return n >= 1_000_000 ? `${(n / 1_000_000).toFixed(1)} MB` : n >= 1000 ? `${(n / 1000).toFixed(1)} kB` : `${n} bytes`;
}

/**
 * Where a too-large value is heaviest: descends into the largest field while it holds most of the size, so the
 * message names `typeProperties.value` rather than just `typeProperties`.
 */
export function heaviestPath(v: unknown, path: string): { path: string; bytes: number } {
  let cur = v;
  let where = path;
  let bytes = jsonBytes(v);
  for (let depth = 0; depth < 6; depth++) {
    if (typeof cur !== 'object' || cur === null) break;
    const entries: [string, unknown][] = Array.isArray(cur)
      ? cur.map((x, i) => [`[${i}]`, x])
      : Object.entries(cur).map(([k, x]) => [/^[A-Za-z_$][\w$]*$/.test(k) ? `.${k}` : `['${k}']`, x]);
    let best: [string, unknown, number] | undefined;
    for (const [k, x] of entries) {
      const b = jsonBytes(x);
      if (!best || b > best[2]) best = [k, x, b];
    }
    if (!best || best[2] < bytes / 2) break;
    where += best[0];
    cur = best[1];
    bytes = best[2];
  }
  return { path: where, bytes };
}

/** The message of a PayloadTooLarge failure: who, which field, how large, and what the limit is. */
export function payloadTooLargeMessage(owner: string, what: string, value: unknown, total = jsonBytes(value)): string {
  const heavy = heaviestPath(value, what);
  return (
    `${owner}: ${what} is ${formatBytes(total)}${heavy.path !== what ? ` (${heavy.path}: ${formatBytes(heavy.bytes)})` : ''}, ` +
    `over the ${formatBytes(PAYLOAD_LIMIT_BYTES)} a value may have in Temporal (its payload limit is 2 MiB); ` +
    'pass a blob path instead of the data'
  );
}
