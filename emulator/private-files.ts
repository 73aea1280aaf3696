import { chmod, mkdir, readdir } from 'node:fs/promises';
import { join } from 'node:path';

/**
 * The `--state` folder holds keys (state.json), the CA's private key and Azurite's blobs (models, training data):
 * owner-only, directories 0700 and files 0600, including what an earlier version left more open.
 */
export async function makeOwnerOnly(dir: string): Promise<void> {
  await mkdir(dir, { recursive: true, mode: 0o700 });
  const todo = [dir];
  while (todo.length) {
    const d = todo.pop()!;
    await chmod(d, 0o700);
    for (const e of await readdir(d, { withFileTypes: true })) {
      const p = join(d, e.name);
      if (e.isDirectory()) todo.push(p);
      else if (e.isFile()) await chmod(p, 0o600);
    }
  }
}

/** Run `fn` (a spawn) with umask 077, so a child's files are owner-only from the start; the old umask comes back. */
export function withPrivateUmask<T>(fn: () => T): T {
  const old = process.umask(0o077);
  try {
    return fn();
  } finally {
    process.umask(old);
  }
}
