/* eslint-disable @typescript-eslint/no-unsafe-return -- HTTP bodies are asserted with expect(), not typed. */
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { call, useAzurite, waitFor } from './helpers';

const azurite = useAzurite();
const ROOT = resolve(__dirname, '..', '..');

/**
 * Runs emulator/cli.ts from source in a child process: a require hook transpiles .ts with the project's TypeScript,
 * so the test needs no prior build and exercises the real signal handling.
 */
const REGISTER = `
const ts = require(${JSON.stringify(require.resolve('typescript'))});
const fs = require('fs');
require.extensions['.ts'] = function (module, filename) {
  const out = ts.transpileModule(fs.readFileSync(filename, 'utf8'), {
    fileName: filename,
    compilerOptions: { module: ts.ModuleKind.CommonJS, target: ts.ScriptTarget.ES2022, esModuleInterop: true },
  });
  module._compile(out.outputText, filename);
};
`;

let work: string;
beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), 'emu-cli-'));
  await writeFile(join(work, 'register.js'), REGISTER);
});
afterAll(async () => {
  await rm(work, { recursive: true, force: true });
});

function startCli(args: string[]): {
  child: ChildProcessWithoutNullStreams;
  out: () => string;
  err: () => string;
  exited: Promise<number | null>;
} {
  const child = spawn(process.execPath, ['-r', join(work, 'register.js'), join(ROOT, 'emulator', 'cli.ts'), ...args], {
    cwd: ROOT,
    env: process.env,
  });
  let out = '';
  let err = '';
  child.stdout.on('data', (c: Buffer) => (out += c.toString()));
  child.stderr.on('data', (c: Buffer) => (err += c.toString()));
  const exited = new Promise<number | null>((res) => child.once('exit', (code) => res(code)));
  return { child, out: () => out, err: () => err, exited };
}

function portOpen(port: number): Promise<boolean> {
  return new Promise((res) => {
    const s = connect({ host: '127.0.0.1', port });
    s.once('connect', () => {
      s.destroy();
      res(true);
    });
    s.once('error', () => res(false));
  });
}

describe('emulator CLI', () => {
  test('when run with --write-config and options, then it writes a usable config, prints no secrets and stops cleanly on SIGTERM', async () => {
    const cfg = join(work, 'cfg');
    const faults = join(work, 'faults.json');
    // The connection string goes in a file, not argv, where ps would show its key.
    const azuriteFile = join(work, 'azurite.txt');
    await writeFile(azuriteFile, azurite(), { mode: 0o600 });
    await writeFile(faults, JSON.stringify([{ routes: ['classic.get'], kind: { type: 'latency', ms: 1 } }]));
    const cli = startCli([
      '--write-config',
      cfg,
      '--azurite-file',
      azuriteFile,
      '--job-ms',
      '100',
      '--status-codes',
      'integer',
      '--seed',
      '7',
      '--faults',
      faults,
      '--activation-delay-ms',
      '0',
      '--provisioning-ms',
      '100',
    ]);
    try {
      await waitFor(
        async () =>
          cli.out().includes('Ready.') || (cli.child.exitCode !== null && Promise.reject(new Error(cli.err()))),
        30_000,
      );
      const out = cli.out();
      const url = /listening on (https:\/\/127\.0\.0\.1:\d+)/.exec(out)![1];
      expect(out).toContain(join(cfg, 'linkedService', 'trainingEndpoint.json'));
      expect(out).toContain(join(cfg, 'emulator.env'));
      expect(out).toContain(`AZURE_AUTHORITY_HOST=${url}`);
      expect(out).toMatch(/NODE_EXTRA_CA_CERTS=\S+ca\.pem/);

      const ls = (name: string) => JSON.parse(readFileSync(join(cfg, 'linkedService', `${name}.json`), 'utf8'));
      const training = ls('trainingEndpoint').properties.typeProperties;
      const arm = ls('updatableScoringEndpoint2').properties.typeProperties;
      const storage = ls('StorageLinkedService').properties.typeProperties.connectionString as string;
      for (const secret of [
        training.apiKey.value,
        arm.apiKey.value,
        arm.servicePrincipalKey.value,
        ls('classicScoringEndpoint').properties.typeProperties.apiKey.value,
      ]) {
        expect(out).not.toContain(secret);
      }
      expect(out).not.toContain(/AccountKey=([^;]+)/.exec(storage)![1]);

      // The written config is enough to drive the emulator: env file for the CA, linked service for URL and key.
      const env = Object.fromEntries(
        readFileSync(join(cfg, 'emulator.env'), 'utf8')
          .split('\n')
          .filter((l) => /^[A-Z_]+=/.test(l))
          .map((l) => [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1)]),
      );
      expect(env.AZURE_AUTHORITY_HOST).toBe(url);
      const tls = { caFile: env.NODE_EXTRA_CA_CERTS };
      const jobs = (training.mlEndpoint as string).replace('?api-version=2.0', '');
      const submit = await call(tls, 'POST', training.mlEndpoint, {
        bearer: training.apiKey.value,
        json: {
          Inputs: {
            input1: { ConnectionString: storage, RelativeLocation: 'x/a.csv' },
            input2: { ConnectionString: storage, RelativeLocation: 'x/b.csv' },
          },
        },
      });
      expect(submit.status).toBe(200);
      const status = await call(tls, 'GET', `${jobs}/${submit.json}?api-version=2.0`, {
        bearer: training.apiKey.value,
      });
      expect(status.json.StatusCode).toBe(0);
      const faultsNow = await call(tls, 'GET', `${url}/_emulator/faults`);
      expect(faultsNow.json).toEqual([expect.objectContaining({ routes: ['classic.get'] })]);
      const insp = await call(tls, 'GET', `${url}/_emulator/inspect`);
      expect(insp.json.seed).toBe(7);

      const port = Number(new URL(url).port);
      cli.child.kill('SIGTERM');
      expect(await cli.exited).toBe(0);
      expect(cli.out()).toContain('Stopped.');
      expect(await portOpen(port)).toBe(false);
    } finally {
      if (cli.child.exitCode === null) cli.child.kill('SIGKILL');
    }
  });

  test('when run with --state and stopped with SIGINT, then its Azurite stops too and a restart serves the same URL and keys', async () => {
    const state = join(work, 'state');
    const run = async (): Promise<{ url: string; blobPort: number; cfg: string }> => {
      const cfg = join(work, `cfg-${Date.now()}`);
      const cli = startCli(['--state', state, '--write-config', cfg]);
      try {
        await waitFor(
          async () =>
            cli.out().includes('Ready.') || (cli.child.exitCode !== null && Promise.reject(new Error(cli.err()))),
          30_000,
        );
        const url = /listening on (https:\/\/127\.0\.0\.1:\d+)/.exec(cli.out())![1];
        const blobPort = Number(/Azurite blob endpoint\s+http:\/\/127\.0\.0\.1:(\d+)/.exec(cli.out())![1]);
        expect(await portOpen(blobPort)).toBe(true);
        cli.child.kill('SIGINT');
        expect(await cli.exited).toBe(0);
        expect(await portOpen(blobPort)).toBe(false);
        return { url, blobPort, cfg };
      } finally {
        if (cli.child.exitCode === null) cli.child.kill('SIGKILL');
      }
    };
    const first = await run();
    const second = await run();
    expect(second.url).toBe(first.url);
    const key = (cfg: string) => readFileSync(join(cfg, 'linkedService', 'trainingEndpoint.json'), 'utf8');
    expect(key(second.cfg)).toBe(key(first.cfg));
  });

  test('when given an invalid option value, then it exits non-zero with a message', async () => {
    const cli = startCli(['--status-codes', 'float']);
    expect(await cli.exited).not.toBe(0);
    expect(cli.err()).toContain('float');
  });
});
