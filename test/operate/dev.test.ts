/**
 * `retrain dev` and `retrain emulator` as a developer runs them: child processes, stopped with Ctrl-C (SIGINT).
 * Under `npm test` TEMPORAL_ADDRESS is set, so `dev` uses the suite's server instead of starting one (the server
 * start itself is covered by test/infra); it attaches to the suite's Azurite to spare the CPU.
 */
import { access, mkdtemp, readdir, readFile, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { uniqueId } from '../helpers/temporal';
import { CLI, cli } from '../helpers/cli';
import { spawnLogged } from '../helpers/processes';

const azurite = process.env.ML_TEST_AZURITE_CONNECTION_STRING;
// The Azurite to attach to travels in the environment, never argv (where ps would show its key).
const azuriteEnv = azurite ? { ML_EMULATOR_AZURITE_CONNECTION_STRING: azurite } : {};

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
      [CLI, 'dev', '--dir', dir, '--task-queue', taskQueue, '--job-seconds', '0.5'],
      { ...process.env, ...azuriteEnv },
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

      const runArgs = [
        'run',
        '--config',
        join(dir, 'adf'),
        '--pipeline',
        'RetrainAndUpdate',
        '--task-queue',
        taskQueue,
      ];
      const run = await cli([...runArgs, '--poll-seconds', '0.2']);
      expect(run.out + run.err).toContain('run succeeded');
      expect(run.code).toBe(0);

      // A worker that dies is restarted, and dev says so; the new one runs the next pipeline run.
      process.kill(Number(pid), 'SIGKILL');
      await dev.waitFor(/\[dev\] the worker exited \(SIGKILL\); restarting it in 1 s/, 30_000);
      const [, newPid] = await dev.waitFor(/\[dev\] worker restarted \(pid (\d+)\)/, 60_000);
      expect(newPid).not.toBe(pid);
      expect(alive(Number(newPid))).toBe(true);
      const again = await cli([...runArgs, '--poll-seconds', '0.2', '--id', uniqueId('dev-after-restart')]);
      expect(again.out + again.err).toContain('run succeeded');

      expect(await dev.stop('SIGINT')).toBe(0);
      expect(dev.output()).toContain('[dev] stopped');
      expect(alive(Number(pid))).toBe(false);
      expect(alive(Number(newPid))).toBe(false);
    } finally {
      await dev.stop('SIGKILL');
    }
  });
});

describe('retrain emulator', () => {
  test('when started with --write-config, then it writes the ADF folder, serves, and stops on Ctrl-C', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'retrain-emu-'));
    const emu = spawnLogged(process.execPath, [CLI, 'emulator', '--write-config', dir], {
      ...process.env,
      ...azuriteEnv,
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

  test('when given --azurite with a connection string, then it refuses at once, saying where to put it instead', async () => {
    const r = await cli(['emulator', '--azurite', 'AccountName=a;AccountKey=c2VjcmV0']);
    expect(r.code).toBe(1);
    expect(r.err).toContain('--azurite no longer takes a connection string');
    expect(r.err).toContain('--azurite-file FILE');
    expect(r.err).not.toContain('c2VjcmV0');
  });

  test('when run with --state, then everything under it is owner-only: directories 0700, files 0600', async () => {
    const state = join(await mkdtemp(join(tmpdir(), 'retrain-state-')), 'state');
    // Its own Azurite, so the blob store lands under --state too.
    const emu = spawnLogged(process.execPath, [CLI, 'emulator', '--state', state], { ...process.env });
    try {
      await emu.waitFor(/Ready\. Press Ctrl\+C to stop\./, 60_000);
      expect(await emu.stop('SIGINT')).toBe(0);
    } finally {
      await emu.stop('SIGKILL');
    }
    const modes: string[] = [];
    const walk = async (d: string): Promise<void> => {
      for (const e of await readdir(d, { withFileTypes: true })) {
        const p = join(d, e.name);
        modes.push(`${((await stat(p)).mode & 0o777).toString(8)} ${e.isDirectory() ? 'dir ' : 'file'} ${p}`);
        if (e.isDirectory()) await walk(p);
      }
    };
    modes.push(`${((await stat(state)).mode & 0o777).toString(8)} dir  ${state}`);
    await walk(state);
    expect(modes.some((m) => m.includes(join(state, 'azurite')))).toBe(true);
    expect(modes.some((m) => m.endsWith('state.json'))).toBe(true);
    expect(modes.filter((m) => !/^(700 dir|600 file) /.test(m))).toEqual([]);
  });

  test('when asked for --help, then it shows the emulator options and examples', async () => {
    const r = await cli(['emulator', '--help']);
    expect(r.code).toBe(0);
    expect(r.out).toContain('Usage: retrain emulator');
    expect(r.out).toContain('--write-config <dir>');
    expect(r.out).toMatch(/Examples:\n {2}retrain emulator/);
  });
});
