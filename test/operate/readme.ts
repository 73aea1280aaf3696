import { readdirSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';

const ROOT = join(__dirname, '..', '..');

/**
 * The documents whose marked blocks tests run: README.md and the guides in docs/. The vendored specs (docs/spec) are
 * left out: they are not ours to mark.
 */
export function documents(): string[] {
  const docs = join(ROOT, 'docs');
  const guides = readdirSync(docs)
    .filter((f) => f.endsWith('.md'))
    .sort()
    .map((f) => join(docs, f));
  return [join(ROOT, 'README.md'), ...guides];
}

/**
 * The text of the first fenced code block after `<!-- ops:NAME -->` in the one document that has that marker. A marker
 * in two documents is an error, so a block copied into another guide cannot silently stop being the one tests run.
 */
export function readmeBlock(name: string, files: string[] = documents()): string {
  const marker = `<!-- ops:${name} -->`;
  const holders = files.filter((f) => readFileSync(f, 'utf8').includes(marker));
  const names = (fs: string[]): string => fs.map((f) => relative(ROOT, f)).join(', ');
  if (holders.length === 0) throw new Error(`no document has a block marked ${marker} (searched ${names(files)})`);
  if (holders.length > 1) throw new Error(`${marker} is in more than one document: ${names(holders)}`);
  const text = readFileSync(holders[0], 'utf8');
  const block = /```[a-z]*\n([\s\S]*?)```/.exec(text.slice(text.indexOf(marker)));
  if (!block) throw new Error(`no code block follows ${marker} in ${names(holders)}`);
  return block[1];
}

/**
 * The shell commands of a docs code block marked `<!-- ops:NAME -->`: tests run exactly what the docs tell
 * operators to type. Comment lines are dropped and backslash-continued lines joined.
 */
export function readmeCommands(name: string, files: string[] = documents()): string[] {
  const commands: string[] = [];
  let pending = '';
  for (const raw of readmeBlock(name, files).split('\n')) {
    const line = raw.trim();
    if (!pending && (line === '' || line.startsWith('#'))) continue;
    if (line.endsWith('\\')) {
      pending += `${line.slice(0, -1)} `;
      continue;
    }
    commands.push(`${pending}${line}`.trim());
    pending = '';
  }
  return commands;
}
