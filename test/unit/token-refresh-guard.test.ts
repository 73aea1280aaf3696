/**
 * The worker's guard against an Azure SDK background token refresh that fails with nobody awaiting it: in a real
 * child process (the behaviour under test is whether the process survives).
 */
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';

// The compiled module (`npm test` builds first): the child is plain Node, as the worker is in production.
const guard = join(__dirname, '..', '..', 'dist', 'worker', 'token-refresh-guard.js');

function runChild(errorName: string): { status: number | null; output: string } {
  const script = `
    const { installTokenRefreshGuard } = require(${JSON.stringify(guard)});
    installTokenRefreshGuard((m) => console.log('warned: ' + m));
    const e = new Error('50196: AADSTS50196: The server temporarily throttled the request.');
    e.name = ${JSON.stringify(errorName)};
    Promise.reject(e); // like the token cycler's background refresh: nobody awaits it
    setTimeout(() => console.log('still running'), 200);
  `;
  const r = spawnSync(process.execPath, ['-e', script], { encoding: 'utf8', timeout: 30_000 });
  return { status: r.status, output: `${r.stdout}${r.stderr}` };
}

describe('token refresh guard', () => {
  test('when a background token refresh rejects unobserved, then the worker logs it and keeps running', () => {
    const r = runChild('AuthenticationRequiredError');
    expect(r.output).toContain('warned: a background token refresh failed');
    expect(r.output).toContain('still running');
    expect(r.status).toBe(0);
  });

  test('when any other promise rejects unobserved, then the process still ends, as Node would', () => {
    const r = runChild('TypeError');
    expect(r.output).not.toContain('still running');
    expect(r.status).not.toBe(0);
  });
});
