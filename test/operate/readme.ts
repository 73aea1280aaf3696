import { readFileSync } from 'node:fs';
import { join } from 'node:path';

const README = join(__dirname, '..', '..', 'README.md');

/** The text of the first fenced code block after `<!-- ops:NAME -->` in README.md. */
export function readmeBlock(name: string, readme = README): string {
  const text = readFileSync(readme, 'utf8');
  const marker = `<!-- ops:${name} -->`;
  const at = text.indexOf(marker);
  if (at < 0) throw new Error(`README.md has no block marked ${marker}`);
  const block = /```[a-z]*\n([\s\S]*?)```/.exec(text.slice(at));
  if (!block) throw new Error(`no code block follows ${marker} in README.md`);
  return block[1];
}

/**
 * The shell commands of a README code block marked `<!-- ops:NAME -->`: tests run exactly what the README tells
 * operators to type. Comment lines are dropped and backslash-continued lines joined.
 */
export function readmeCommands(name: string, readme = README): string[] {
  const commands: string[] = [];
  let pending = '';
  for (const raw of readmeBlock(name, readme).split('\n')) {
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
