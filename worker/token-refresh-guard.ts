/**
 * Azure SDK clients that live as long as the worker (the Key Vault SecretClient) refresh their token in the
 * background shortly before it expires (core-rest-pipeline's token cycler). When Entra is throttling or down until the
 * token has expired, that background promise rejects with nobody awaiting it, and Node ends the process on an
 * unhandled rejection: one Entra blip would kill every activity in flight. The failure is harmless (the cycler drops
 * its token, and the next call fetches one and reports any error to its caller), so it is logged and the worker goes
 * on. Every other unhandled rejection still ends the process, as Node would.
 */
const IDENTITY_ERRORS = new Set(['AuthenticationRequiredError', 'AuthenticationError', 'CredentialUnavailableError']);

export function isBackgroundTokenRefreshFailure(reason: unknown): boolean {
  const name = (reason as { name?: unknown } | null)?.name;
  return typeof name === 'string' && IDENTITY_ERRORS.has(name);
}

let installed = false;

export function installTokenRefreshGuard(warn: (message: string) => void): void {
  if (installed) return;
  installed = true;
  process.on('unhandledRejection', (reason) => {
    if (isBackgroundTokenRefreshFailure(reason)) {
      const first = String((reason as Error).message ?? reason).split('\n')[0];
      warn(`a background token refresh failed (the next call fetches a new token): ${first.slice(0, 200)}`);
      return;
    }
    // Not ours to swallow: fail as Node does by default.
    throw reason;
  });
}
