/**
 * Soak: `npm run demo` as a user runs it (its own dev server, emulator and worker process). Its whole output must be
 * free of secrets: the keys of the linked services it wrote, storage account keys and SAS signatures. (The demo's
 * scenario, with its histories, is also run by test/durability/secrets.test.ts.)
 */
import { spawn } from 'node:child_process';
import { readdir, readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { scanForSecrets, writeSummary } from '../durability/harness';
import { ROOT } from '../helpers/processes';

describe('soak: demo output', () => {
  test(
    'when the demo runs end to end, then it succeeds and its output holds no key, secret or SAS signature',
    async () => {
      const env = { ...process.env };
      // The demo provisions its own server; the suite's would make it attach instead.
      delete env.TEMPORAL_ADDRESS;
      const { code, out } = await new Promise<{ code: number; out: string }>((resolve) => {
        const child = spawn(process.execPath, [join(ROOT, 'dist', 'scripts', 'demo.js'), '--job-seconds', '1'], {
          cwd: ROOT,
          env,
          stdio: ['ignore', 'pipe', 'pipe'],
        });
        let text = '';
        child.stdout.on('data', (d: Buffer) => (text += d.toString()));
        child.stderr.on('data', (d: Buffer) => (text += d.toString()));
        child.on('exit', (c) => resolve({ code: c ?? 1, out: text }));
      });
      const dir = /ADF folder written to (\S+)/.exec(out)?.[1];
      expect(dir).toBeDefined();
      const secrets: string[] = [];
      for (const f of await readdir(join(dir!, 'linkedService'))) {
        const tp = JSON.parse(await readFile(join(dir!, 'linkedService', f), 'utf8')).properties.typeProperties;
        for (const k of ['apiKey', 'servicePrincipalKey', 'connectionString']) {
          const v = tp[k]?.value ?? tp[k];
          if (typeof v === 'string') secrets.push(v);
          const accountKey = typeof v === 'string' ? /AccountKey=([^;]+)/.exec(v)?.[1] : undefined;
          if (accountKey) secrets.push(accountKey);
        }
      }
      await rm(join(dir!, '..'), { recursive: true, force: true });
      const scan = await scanForSecrets(secrets, [], [{ name: 'npm run demo output', text: out }]);
      writeSummary('soak-demo-secrets', {
        exitCode: code,
        secretsKnown: secrets.length,
        bytesScanned: scan.bytesScanned,
        leaks: scan.leaks.length,
      });
      expect(out).toContain('demo succeeded');
      expect(code).toBe(0);
      expect(scan.leaks).toEqual([]);
    },
    5 * 60_000,
  );
});
