/**
 * `npm test` provisions Chromium for the Web UI tests (issue 11, point 1): found on PATH, else installed with apt when
 * root with apt-get, else one line saying what to install. The decision is judged on fake worlds (PATH, uid, apt);
 * the install path runs a fake apt-get from a temporary PATH, so the real browser is never touched.
 */
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ChromiumWorld } from '../../infra/chromium';
import { ensureChromium, planChromium, realWorld, runsWebUiTest } from '../../infra/chromium';

const world = (files: string[], uid: number | undefined, override?: string): ChromiumWorld => ({
  pathDirs: ['/opt/bin', '/usr/bin', '/bin'],
  uid,
  override,
  isExecutable: (f) => files.includes(f),
});

describe('the Chromium decision', () => {
  test('when chromium is on PATH, then it is used, whoever runs the tests', () => {
    expect(planChromium(world(['/usr/bin/chromium'], 1000))).toEqual({ action: 'use', path: '/usr/bin/chromium' });
    expect(planChromium(world(['/opt/bin/chromium-browser', '/usr/bin/apt-get'], 0))).toEqual({
      action: 'use',
      path: '/opt/bin/chromium-browser',
    });
  });

  test('when it is missing and we are root with apt-get, then it is installed', () => {
    expect(planChromium(world(['/usr/bin/apt-get'], 0))).toEqual({ action: 'install', aptGet: '/usr/bin/apt-get' });
  });

  test('when it is missing and we are not root, then the run stops with the install command', () => {
    const plan = planChromium(world(['/usr/bin/apt-get'], 1000));
    expect(plan).toEqual({
      action: 'fail',
      message:
        'the Web UI tests need Chromium and none is on PATH: run: sudo apt-get install -y chromium (or set ML_CHROMIUM_PATH to a Chromium binary)',
    });
  });

  test('when it is missing and there is no apt, then the run stops saying to install it', () => {
    for (const uid of [0, 1000, undefined]) {
      const plan = planChromium(world([], uid));
      expect(plan.action).toBe('fail');
      expect((plan as { message: string }).message).toContain('install Chromium with your package manager');
    }
  });

  test('when ML_CHROMIUM_PATH is set, then it wins, and a wrong one is an error', () => {
    expect(planChromium(world(['/x/chrome', '/usr/bin/chromium'], 0, '/x/chrome'))).toEqual({
      action: 'use',
      path: '/x/chrome',
    });
    expect(planChromium(world(['/usr/bin/chromium'], 0, '/nope'))).toEqual({
      action: 'fail',
      message: 'ML_CHROMIUM_PATH=/nope is not an executable file',
    });
  });

  test('when jest is given paths, then Chromium is provisioned only if the Web UI test is among them', () => {
    expect(runsWebUiTest([])).toBe(true);
    expect(runsWebUiTest(['test/operate'])).toBe(true);
    expect(runsWebUiTest(['web-ui'])).toBe(true);
    expect(runsWebUiTest(['test/adf', '-t', 'web-ui'])).toBe(false);
    expect(runsWebUiTest(['--testMatch', '**/test/soak/**/*.soak.ts'])).toBe(false);
  });
});

describe('installing with apt', () => {
  let dir: string;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'chromium-'));
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  /** A fake apt-get that logs its arguments and, on install, puts an executable `chromium` in `installTo`. */
  function fakeApt(installTo: string, fail = false): string {
    const bin = join(dir, 'bin');
    mkdirSync(bin, { recursive: true });
    const script = join(bin, 'apt-get');
    writeFileSync(
      script,
      [
        '#!/bin/sh',
        `echo "$@" >> ${join(dir, 'apt.log')}`,
        fail ? 'echo "E: Unable to locate package chromium" >&2; exit 100' : '',
        `if [ "$1" = install ]; then mkdir -p ${installTo}; printf '#!/bin/sh\\n' > ${installTo}/chromium; chmod +x ${installTo}/chromium; fi`,
        'exit 0',
      ].join('\n'),
    );
    chmodSync(script, 0o755);
    return bin;
  }

  test('when root with apt and no chromium, then apt-get update and install run, with a progress line, and the new path is returned', async () => {
    const installTo = join(dir, 'usr-bin');
    const bin = fakeApt(installTo);
    const lines: string[] = [];
    const w = () => ({ ...realWorld({ PATH: `${bin}:${installTo}` }), uid: 0 });
    const path = await ensureChromium((l) => lines.push(l), w);
    expect(path).toBe(join(installTo, 'chromium'));
    expect(readFileSync(join(dir, 'apt.log'), 'utf8').trim().split('\n')).toEqual([
      'update -qq',
      'install -y -qq chromium',
    ]);
    expect(lines[0]).toBe('installing Chromium for the Web UI tests: apt-get install -y chromium (a minute or two)');
    expect(lines).toContain(`Chromium installed: ${join(installTo, 'chromium')}`);
  });

  test('when apt-get fails, then the error carries its last lines', async () => {
    const bin = fakeApt(join(dir, 'never'), true);
    const w = () => ({ ...realWorld({ PATH: bin }), uid: 0 });
    await expect(ensureChromium(() => undefined, w)).rejects.toThrow(
      /exited 100:\nE: Unable to locate package chromium/,
    );
  });

  test('when not root, then it stops at once with one line and runs nothing', async () => {
    const bin = fakeApt(join(dir, 'never'));
    const w = () => ({ ...realWorld({ PATH: bin }), uid: 1000 });
    await expect(ensureChromium(() => undefined, w)).rejects.toThrow(
      'the Web UI tests need Chromium and none is on PATH: run: sudo apt-get install -y chromium',
    );
    expect(() => readFileSync(join(dir, 'apt.log'))).toThrow();
  });
});
