/**
 * `retrain dev` and `retrain emulator` as a developer runs them: child processes, stopped with Ctrl-C (SIGINT).
 * Under `npm test` TEMPORAL_ADDRESS is set, so `dev` uses the suite's server instead of starting one (the server
 * start itself is covered by test/infra); it attaches to the suite's Azurite to spare the CPU.
 */
import { access, mkdtemp, readdir, readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { uniqueId } from '../helpers/temporal';
import { CLI, cli, spawnLogged } from './helpers';

const azurite = process.env.ML_TEST_AZURITE_CONNECTION_STRING;
const azuriteArgs = azurite ? ['--azurite', azurite] : [];

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

describe('retrain dev', () => {
  test('when started, then a run of its sample pipeline succeeds, and Ctrl-C stops the worker and the emulator', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'retrain-dev-'));
    const taskQueue = uniqueId('dev');
    const dev = spawnLogged(
      process.execPath,
      [CLI, 'dev', '--dir', dir, '--task-queue', taskQueue, '--job-seconds', '0.5', ...azuriteArgs],
      { ...process.env },
    );
    try {
      await dev.waitFor(/Press Ctrl-C to stop everything\./, 90_000);
      const [, pid] = await dev.waitFor(/worker +task queue \S+ \(pid (\d+)\)/);
      expect(dev.output()).toContain(`TEMPORAL_ADDRESS=${process.env.TEMPORAL_ADDRESS}`);
      expect(dev.output()).toContain(`npx retrain run --config ${join(dir, 'adf')} --pipeline RetrainAndUpdate`);
      expect((await readdir(join(dir, 'adf', 'linkedService'))).sort()).toEqual([
        'StorageLinkedService.json',
        'classicScoringEndpoint.json',
        'trainingEndpoint.json',
        'updatableScoringEndpoint2.json',
      ]);
      await access(join(dir, 'adf', 'pipeline', 'RetrainAndUpdate.json'));
      expect(JSON.parse(await readFile(join(dir, 'run.json'), 'utf8'))).toMatchObject({ pipeline: 'RetrainAndUpdate' });

      const run = await cli([
        'run',
        '--config',
        join(dir, 'adf'),
        '--pipeline',
        'RetrainAndUpdate',
        '--task-queue',
        taskQueue,
        '--poll-seconds',
        '0.2',
      ]);
      expect(run.out + run.err).toContain('run succeeded');
      expect(run.code).toBe(0);

      expect(await dev.stop('SIGINT')).toBe(0);
      expect(dev.output()).toContain('[dev] stopped');
      expect(alive(Number(pid))).toBe(false);
    } finally {
      await dev.stop('SIGKILL');
    }
  });
});

describe('retrain emulator', () => {
  test('when started with --write-config, then it writes the ADF folder, serves, and stops on Ctrl-C', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'retrain-emu-'));
    const emu = spawnLogged(process.execPath, [CLI, 'emulator', '--write-config', dir, ...azuriteArgs], {
      ...process.env,
    });
    try {
      const [, url] = await emu.waitFor(/listening on (https:\/\/127\.0\.0\.1:\d+)/);
      await emu.waitFor(/Ready\. Press Ctrl\+C to stop\./);
      const health = await fetch(`${url}/_emulator/health`);
      expect(health.status).toBe(200);
      await access(join(dir, 'linkedService', 'trainingEndpoint.json'));
      await access(join(dir, 'emulator.env'));
      expect(await emu.stop('SIGINT')).toBe(0);
      expect(emu.output()).toContain('Stopped.');
    } finally {
      await emu.stop('SIGKILL');
    }
  });

  test('when asked for --help, then it shows the emulator options and examples', async () => {
    const r = await cli(['emulator', '--help']);
    expect(r.code).toBe(0);
    expect(r.out).toContain('Usage: retrain emulator');
    expect(r.out).toContain('--write-config <dir>');
    expect(r.out).toMatch(/Examples:\n {2}retrain emulator/);
  });
});
