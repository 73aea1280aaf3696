import type { FieldReader } from './fields';

/** What an endpoint URL of a linked service may be: https (plain http on loopback only) and the api-versions we serve. */

export const ARM_WEB_SERVICE = /\/providers\/Microsoft\.MachineLearning\/webServices\//i;
/** The BES contract version (ML Studio classic only ever served 2.0). */
export const BES_API_VERSION = '2.0';
/** The Microsoft.MachineLearning webServices api-versions ADF and the ARM RP accept. */
export const ARM_API_VERSIONS = ['2016-05-01-preview', '2017-01-01'];

/** 127.0.0.0/8, localhost and ::1: where plain http reaches only this machine (Azurite, local emulators). */
export function isLoopbackHost(hostname: string): boolean {
  const h = hostname.replace(/^\[|\]$/g, '').toLowerCase();
  return h === 'localhost' || h === '::1' || /^127\.\d+\.\d+\.\d+$/.test(h);
}

/**
 * Plain-http endpoints: an error, since keys and tokens would cross the network in clear text, except on loopback,
 * where Azurite and local emulators live; that gets a warning.
 */
export function checkScheme(r: FieldReader, url: string, path: string, what: string): void {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    r.fail(path, `'${url}' is not a valid URL`);
    return;
  }
  if (u.protocol === 'https:') return;
  if (u.protocol !== 'http:') {
    r.fail(path, `'${u.protocol}' ${what} is not supported; use https://`);
  } else if (isLoopbackHost(u.hostname)) {
    r.d.warn(
      r.file,
      path,
      `plain http to ${u.host} (loopback): acceptable for a local emulator only; use https:// for Azure`,
    );
  } else {
    r.fail(
      path,
      `http:// ${what} would send keys in clear text; use https://${u.host}${u.pathname === '/' ? '' : '/…'}`,
    );
  }
}

/** `?api-version=` of an endpoint, when it has one. */
export function apiVersionOf(url: string): string | undefined {
  try {
    return new URL(url).searchParams.get('api-version') ?? undefined;
  } catch {
    return undefined;
  }
}
