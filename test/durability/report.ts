/** The durability summary under test-output and the secrets scan of histories and process output. */
import { mkdirSync, readdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { WorkflowHandle } from '@temporalio/client';
import { ROOT } from '../helpers/processes';

export const OUTPUT_DIR = process.env.ML_TEST_OUTPUT_DIR ?? join(ROOT, 'test-output');

// ---------------------------------------------------------------------------------------------------------------
// Summary: test-output/durability/<section>.json, merged into test-output/durability-summary.json
// ---------------------------------------------------------------------------------------------------------------

export function writeSummary(section: string, data: Record<string, unknown>): void {
  const dir = join(OUTPUT_DIR, 'durability');
  mkdirSync(dir, { recursive: true });
  const entry = { ...data, finishedAt: new Date().toISOString() };
  writeFileSync(join(dir, `${section}.json`), `${JSON.stringify(entry, null, 2)}\n`);
  const merged: Record<string, unknown> = {};
  for (const f of readdirSync(dir)
    .filter((n) => n.endsWith('.json'))
    .sort()) {
    try {
      merged[f.replace(/\.json$/, '')] = JSON.parse(readFileSync(join(dir, f), 'utf8'));
    } catch {
      // A section being written by another test file right now: it merges itself when done.
    }
  }
  const tmp = join(OUTPUT_DIR, `durability-summary.json.${process.pid}`);
  writeFileSync(tmp, `${JSON.stringify(merged, null, 2)}\n`);
  renameSync(tmp, join(OUTPUT_DIR, 'durability-summary.json'));
  const flat = Object.entries(data)
    .filter(([, v]) => v !== undefined && (typeof v !== 'object' || v === null || Object.keys(v).length <= 12))
    .map(([k, v]) => `${k}=${JSON.stringify(v)}`)
    .join(' ');
  console.log(`[durability] ${section}: ${flat}`);
}

// ---------------------------------------------------------------------------------------------------------------
// Secrets
// ---------------------------------------------------------------------------------------------------------------

const SAS_SIGNATURE = /[?&]sig=(?!\*)[A-Za-z0-9%+/=]{8,}/;

export interface SecretScan {
  historiesScanned: number;
  eventsScanned: number;
  textsScanned: number;
  bytesScanned: number;
  /** `where: what` for every finding; never the secret itself. */
  leaks: string[];
}

/** Payload data are base64 of UTF-8 JSON: decode them so the search sees what was stored. */
export function decodeHistory(history: unknown): string {
  const raw = JSON.stringify(history);
  const decoded = raw.replace(/"data":"([A-Za-z0-9+/=]*)"/g, (_m, b64: string) =>
    JSON.stringify(Buffer.from(b64, 'base64').toString('utf8')),
  );
  return `${raw}\n${decoded}`;
}

/** Search histories and process output for the secrets themselves and for SAS signatures. */
export async function scanForSecrets(
  secrets: string[],
  handles: WorkflowHandle[],
  texts: { name: string; text: string }[],
): Promise<SecretScan> {
  const scan: SecretScan = { historiesScanned: 0, eventsScanned: 0, textsScanned: 0, bytesScanned: 0, leaks: [] };
  if (secrets.length < 4) scan.leaks.push(`only ${secrets.length} secrets known: the scan would prove little`);
  const check = (where: string, text: string) => {
    scan.bytesScanned += text.length;
    for (const s of secrets) if (text.includes(s)) scan.leaks.push(`${where}: a secret (${s.slice(0, 3)}…)`);
    if (SAS_SIGNATURE.test(text)) scan.leaks.push(`${where}: a SAS signature`);
    if (/AccountKey=(?!\*)[A-Za-z0-9+/]{8,}/.test(text)) scan.leaks.push(`${where}: an AccountKey`);
  };
  for (const h of handles) {
    const history = await h.fetchHistory();
    scan.historiesScanned++;
    scan.eventsScanned += history.events?.length ?? 0;
    check(`history of ${h.workflowId}`, decodeHistory(history));
  }
  for (const t of texts) {
    scan.textsScanned++;
    check(t.name, t.text);
  }
  return scan;
}
