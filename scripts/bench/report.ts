import { writeFile } from 'node:fs/promises';
import { cpus, freemem, release, totalmem, type as osType } from 'node:os';

/** One line of the benchmark's table: a figure, and when the issue sets a target, the target and whether it is met. */
export interface Row {
  scenario: string;
  figure: string;
  value: string;
  target?: string;
  /** true met, false not met, undefined: no target, or not measured in this run (the value says why). */
  met?: boolean;
}

export function verdict(row: Row): string {
  if (row.target === undefined) return '';
  if (row.met === undefined) return 'not measured';
  return row.met ? 'met' : 'NOT met';
}

function cell(text: string): string {
  return text.replace(/\|/g, '/').replace(/\n/g, ' ');
}

/** A Markdown table with padded columns, as prettier lays it out, so it reads the same in a terminal. */
export function renderTable(rows: Row[]): string {
  const header = ['scenario', 'figure', 'value', 'target', 'verdict'];
  const body = rows.map((r) => [r.scenario, r.figure, r.value, r.target ?? '', verdict(r)].map(cell));
  const widths = header.map((h, i) => Math.max(3, h.length, ...body.map((b) => b[i].length)));
  const line = (cells: string[]) => `| ${cells.map((c, i) => c.padEnd(widths[i])).join(' | ')} |`;
  return [line(header), `| ${widths.map((w) => '-'.repeat(w)).join(' | ')} |`, ...body.map(line)].join('\n');
}

/** CPU model, cores, memory, OS and Node version, from node:os. */
export function describeMachine(): string {
  const cpu = cpus();
  const gib = (n: number) => `${(n / 2 ** 30).toFixed(1)} GiB`;
  return [
    `CPU: ${cpu[0]?.model?.trim() ?? 'unknown'}, ${cpu.length} cores`,
    `memory: ${gib(totalmem())} (${gib(freemem())} free at the end)`,
    `OS: ${osType()} ${release()}`,
    `Node: ${process.version}`,
  ].join('\n');
}

export async function writeBenchmarksMd(
  path: string,
  o: { rows: Row[]; command: string; quick: boolean; wallSeconds: number; notes: string[]; sections: string[] },
): Promise<void> {
  const text = [
    '# Benchmarks',
    '',
    `Written by \`${o.command}\` on ${new Date().toISOString()} (${o.quick ? 'the quick version: small runs, not the figures the targets are about' : 'the full version'}; ${Math.round(o.wallSeconds)} s wall). Run it again to refresh every figure below; the text around the table is in \`scripts/bench/report.ts\` and \`scripts/bench/explain.ts\`.`,
    '',
    '## Machine',
    '',
    '```',
    describeMachine(),
    '```',
    '',
    '## Results',
    '',
    renderTable(o.rows),
    '',
    ...o.sections,
    ...(o.notes.length ? ['## Notes from this run', '', ...o.notes.map((n) => `- ${n}`), ''] : []),
  ].join('\n');
  await writeFile(path, await formatted(text, path));
}

/** Through the repository's prettier when it is installed, so `npm run format:check` accepts the file as written. */
async function formatted(markdown: string, path: string): Promise<string> {
  try {
    const prettier = await import('prettier');
    const config = (await prettier.resolveConfig(path)) ?? {};
    return await prettier.format(markdown, { ...config, parser: 'markdown' });
  } catch {
    return markdown;
  }
}
