import { createHmac, randomUUID, timingSafeEqual } from 'node:crypto';

/** Claims of the emulator's access tokens (a subset of what Entra puts in an app-only token). */
export interface TokenClaims {
  aud: string;
  iss: string;
  iat: number;
  nbf: number;
  exp: number;
  tid: string;
  appid: string;
  oid: string;
  sub: string;
  idtyp: 'app';
  ver: '1.0' | '2.0';
  uti: string;
}

function b64url(data: Buffer | string): string {
  return Buffer.from(data).toString('base64url');
}

/**
 * Access tokens are JWTs signed with a per-installation HMAC key (persisted with --state), so ARM can verify them
 * without a token table and tokens survive a restart, as real tokens survive an RP restart.
 */
export function issueToken(key: string, claims: Omit<TokenClaims, 'uti' | 'idtyp' | 'sub'>): string {
  const full: TokenClaims = { ...claims, sub: claims.oid, idtyp: 'app', uti: randomUUID() };
  const head = b64url(JSON.stringify({ alg: 'HS256', typ: 'JWT' }));
  const body = b64url(JSON.stringify(full));
  const sig = createHmac('sha256', key).update(`${head}.${body}`).digest('base64url');
  return `${head}.${body}.${sig}`;
}

export type VerifyResult =
  { ok: true; claims: TokenClaims } | { ok: false; reason: 'invalid' | 'expired'; exp?: number };

export function verifyToken(key: string, token: string, nowSeconds: number): VerifyResult {
  const parts = token.split('.');
  if (parts.length !== 3) return { ok: false, reason: 'invalid' };
  const expected = createHmac('sha256', key).update(`${parts[0]}.${parts[1]}`).digest();
  const given = Buffer.from(parts[2], 'base64url');
  if (given.length !== expected.length || !timingSafeEqual(given, expected)) return { ok: false, reason: 'invalid' };
  let claims: TokenClaims;
  try {
    claims = JSON.parse(Buffer.from(parts[1], 'base64url').toString('utf8')) as TokenClaims;
  } catch {
    return { ok: false, reason: 'invalid' };
  }
  if (typeof claims.exp !== 'number' || claims.exp <= nowSeconds)
    return { ok: false, reason: 'expired', exp: claims.exp };
  if (typeof claims.nbf === 'number' && claims.nbf > nowSeconds + 300) return { ok: false, reason: 'invalid' };
  return { ok: true, claims };
}

/** ARM accepts tokens for either of its two audience spellings, with or without the trailing slash. */
export const ARM_AUDIENCES = ['https://management.azure.com', 'https://management.core.windows.net'];

export function isArmAudience(aud: string): boolean {
  return ARM_AUDIENCES.includes(aud.replace(/\/+$/, '').toLowerCase());
}

/** Added: the Key Vault data-plane audience (tokens for the emulator's get-secret route). */
export const KEY_VAULT_AUDIENCE = 'https://vault.azure.net';

/** Resources the emulator's Entra issues tokens for: ARM and Key Vault. */
export function isKnownAudience(aud: string): boolean {
  return isArmAudience(aud) || aud.replace(/\/+$/, '').toLowerCase() === KEY_VAULT_AUDIENCE;
}
