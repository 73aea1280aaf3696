import { randomBytes } from 'node:crypto';
import type { EmulatorContext } from './context';
import type { Ctx } from './http';
import { bearerToken, send, simpleError } from './http';
import { KEY_VAULT_AUDIENCE, verifyToken } from './tokens';

/** One secret with its versions, oldest first; the last is the latest. */
export interface VaultSecret {
  name: string;
  versions: { version: string; value: string; createdMs: number }[];
}

/**
 * Azure Key Vault, the get-secret call only (`GET /secrets/{name}[/{version}]?api-version=...`), as
 * @azure/keyvault-secrets uses it: the first request carries no token and gets a 401 whose `WWW-Authenticate`
 * challenge names the tenant's authority and the vault resource; the client then fetches a token for
 * `https://vault.azure.net/.default` from the emulator's Entra endpoint and retries with it.
 */
export function createKeyVaultHandlers(emu: EmulatorContext, secrets: Map<string, VaultSecret>) {
  const id = emu.state.identity;

  function challenge(ctx: Ctx, message: string): void {
    simpleError(
      ctx,
      401,
      'Unauthorized',
      message,
      {},
      {
        'WWW-Authenticate': `Bearer authorization="${emu.baseUrl}/${id.tenantId}", resource="${KEY_VAULT_AUDIENCE}"`,
      },
    );
  }

  function getSecret(ctx: Ctx): void {
    if (!ctx.url.searchParams.get('api-version')) {
      return simpleError(ctx, 400, 'BadParameter', 'The request URI contains an invalid or missing api-version.');
    }
    const token = bearerToken(ctx);
    if (!token) return challenge(ctx, 'AKV10000: Request is missing a Bearer or PoP token.');
    const v = verifyToken(id.tokenSigningKey, token, Math.floor(emu.now() / 1000));
    if (!v.ok) return challenge(ctx, `AKV10013: Invalid token (${v.reason}).`);
    if (v.claims.aud.replace(/\/+$/, '').toLowerCase() !== KEY_VAULT_AUDIENCE) {
      return challenge(ctx, `AKV10022: Invalid audience. Expected ${KEY_VAULT_AUDIENCE}, found: ${v.claims.aud}.`);
    }
    const [name, version] = ctx.params;
    // Key Vault names are case-insensitive.
    const secret = secrets.get(name.toLowerCase());
    const entry = secret && (version ? secret.versions.find((x) => x.version === version) : secret.versions.at(-1));
    if (!secret || !entry) {
      return simpleError(
        ctx,
        404,
        'SecretNotFound',
        `A secret with (name/id) ${name}${version ? `/${version}` : ''} was not found in this key vault. If you recently deleted this secret you may be able to recover it using the correct recovery command.`,
      );
    }
    const seconds = Math.floor(entry.createdMs / 1000);
    send(ctx, 200, {
      value: entry.value,
      id: `${emu.baseUrl}/secrets/${secret.name}/${entry.version}`,
      attributes: { enabled: true, created: seconds, updated: seconds, recoveryLevel: 'Recoverable+Purgeable' },
      tags: {},
    });
  }

  return { getSecret };
}

/** Add a version (the new latest) and return its id. */
export function putSecret(secrets: Map<string, VaultSecret>, name: string, value: string, nowMs: number): string {
  if (!/^[0-9A-Za-z-]{1,127}$/.test(name)) throw new Error(`'${name}' is not a Key Vault secret name`);
  const version = randomBytes(16).toString('hex');
  const s = secrets.get(name.toLowerCase()) ?? { name, versions: [] };
  s.versions.push({ version, value, createdMs: nowMs });
  secrets.set(name.toLowerCase(), s);
  return version;
}
