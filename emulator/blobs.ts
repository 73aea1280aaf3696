import {
  BlobClient,
  BlobSASPermissions,
  BlockBlobClient,
  ContainerClient,
  generateBlobSASQueryParameters,
  SASProtocol,
  StorageSharedKeyCredential,
} from '@azure/storage-blob';
import { accountFromConnectionString, type StorageAccount } from './azurite';

/** AzureBlobDataReference (docs/spec/ml-studio-classic-api.md §2.3): all four keys optional. */
export interface BlobRef {
  ConnectionString?: string | null;
  RelativeLocation?: string | null;
  BaseLocation?: string | null;
  SasBlobToken?: string | null;
}

/** Where one blob lives, resolved from a BlobRef or a URL. */
export interface BlobTarget {
  container: string;
  blobName: string;
  /** Blob URL without any SAS. */
  url: string;
  /** Account with a shared key when known (lets the emulator mint SAS tokens and write directly). */
  account: StorageAccount | null;
  /** SAS query string (with leading `?`) when the caller addressed the blob through a SAS. */
  sas: string | null;
}

export const ILEARNER_FORMAT = 'ml-studio-classic-emulator/ilearner@1';

/** `container/path/blob` from a RelativeLocation written with or without a leading slash. */
export function splitRelative(relativeLocation: string): { container: string; blobName: string } | null {
  const trimmed = relativeLocation.replace(/^\/+/, '');
  const slash = trimmed.indexOf('/');
  if (slash <= 0 || slash === trimmed.length - 1) return null;
  return { container: trimmed.slice(0, slash), blobName: trimmed.slice(slash + 1) };
}

export function normalizeSas(sas: string): string {
  if (!sas) return '';
  return sas.startsWith('?') ? sas : `?${sas}`;
}

/** BaseLocation + RelativeLocation, tolerant of missing/duplicate slashes. */
export function joinBlobUrl(baseLocation: string, relativeLocation: string): string {
  return `${baseLocation.replace(/\/+$/, '')}/${relativeLocation.replace(/^\/+/, '')}`;
}

export type ResolveError = { code: 'InvalidBlobConnectionString' | 'MissingBlobInformation'; message: string };

/** Resolve a BlobRef in either addressing mode (connection string, or base + SAS). */
export function resolveBlobRef(ref: BlobRef, knownAccounts: StorageAccount[]): BlobTarget | ResolveError {
  for (const key of ['ConnectionString', 'RelativeLocation', 'BaseLocation', 'SasBlobToken'] as const) {
    const v: unknown = ref[key];
    if (v !== undefined && v !== null && typeof v !== 'string') {
      return { code: 'MissingBlobInformation', message: `${key} must be a string.` };
    }
  }
  if (!ref.RelativeLocation) return { code: 'MissingBlobInformation', message: 'RelativeLocation is required.' };
  const parts = splitRelative(ref.RelativeLocation);
  if (!parts) return { code: 'MissingBlobInformation', message: 'RelativeLocation must be container/blob.' };
  if (ref.ConnectionString) {
    let account = accountFromConnectionString(ref.ConnectionString);
    if (!account) {
      return { code: 'InvalidBlobConnectionString', message: 'The connection string has no AccountName/AccountKey.' };
    }
    // Without BlobEndpoint (`DefaultEndpointsProtocol=https;AccountName=…;AccountKey=…`, the portal's form) the blob
    // host would be <account>.blob.core.windows.net; for the emulator's own accounts that host is its Azurite. The
    // caller's key is kept, so a wrong key still fails as it would in Azure.
    const own = /(^|;)\s*BlobEndpoint\s*=/i.test(ref.ConnectionString)
      ? undefined
      : knownAccounts.find((a) => a.accountName === account!.accountName);
    if (own) account = { ...account, blobEndpoint: own.blobEndpoint };
    return { ...parts, url: joinBlobUrl(account.blobEndpoint, ref.RelativeLocation), account, sas: null };
  }
  if (ref.BaseLocation && ref.SasBlobToken) {
    const url = joinBlobUrl(ref.BaseLocation, ref.RelativeLocation);
    return { ...parts, url, account: accountForUrl(url, knownAccounts), sas: normalizeSas(ref.SasBlobToken) };
  }
  return {
    code: 'MissingBlobInformation',
    message: 'Either ConnectionString, or BaseLocation with SasBlobToken, is required.',
  };
}

/** Resolve a blob URL (optionally with a SAS query) such as an ARM asset's locationInfo.uri. */
export function resolveBlobUrl(uri: string, knownAccounts: StorageAccount[]): BlobTarget | null {
  let parsed: URL;
  try {
    parsed = new URL(uri);
  } catch {
    return null;
  }
  const sas = parsed.search && parsed.searchParams.has('sig') ? parsed.search : null;
  parsed.search = '';
  const url = parsed.toString();
  const account = accountForUrl(url, knownAccounts);
  const rest = account
    ? url.slice(account.blobEndpoint.length).replace(/^\/+/, '')
    : parsed.pathname
        .replace(/^\/+/, '')
        .split('/')
        .slice(isIpHost(parsed.hostname) ? 1 : 0)
        .join('/');
  const parts = splitRelative(decodeURIComponent(rest));
  if (!parts) return null;
  return { ...parts, url, account, sas };
}

function isIpHost(host: string): boolean {
  return /^[\d.]+$/.test(host) || host === 'localhost' || host.startsWith('[');
}

function accountForUrl(url: string, accounts: StorageAccount[]): StorageAccount | null {
  const lower = url.toLowerCase();
  return accounts.find((a) => lower.startsWith(`${a.blobEndpoint.toLowerCase()}/`)) ?? null;
}

/** A client that can read the target: through its SAS when given, else with the account key. */
export function readerFor(target: BlobTarget): BlobClient | null {
  if (target.sas) return new BlobClient(`${target.url}${target.sas}`);
  if (target.account) {
    const cred = new StorageSharedKeyCredential(target.account.accountName, target.account.accountKey);
    return new BlobClient(target.url, cred);
  }
  return null;
}

/** A client that can write the target (outputs): account key preferred, the caller's SAS otherwise. */
export function writerFor(target: BlobTarget): BlockBlobClient | null {
  if (target.account) {
    const cred = new StorageSharedKeyCredential(target.account.accountName, target.account.accountKey);
    return new BlockBlobClient(target.url, cred);
  }
  if (target.sas) return new BlockBlobClient(`${target.url}${target.sas}`);
  return null;
}

export async function writeBlob(target: BlobTarget, content: Buffer, contentType: string): Promise<void> {
  const far = unreachableReason(target);
  if (far) throw new Error(far);
  const client = writerFor(target);
  if (!client) throw new Error(`No credentials to write ${target.url}`);
  if (target.account) {
    // Creating the container needs the key; with a caller's SAS the container must already exist, as in Azure.
    const cred = new StorageSharedKeyCredential(target.account.accountName, target.account.accountKey);
    const containerUrl = `${target.account.blobEndpoint}/${target.container}`;
    await new ContainerClient(containerUrl, cred).createIfNotExists();
  }
  await client.upload(content, content.length, { blobHTTPHeaders: { blobContentType: contentType } });
}

export type ReadOutcome = { ok: true; content: Buffer } | { ok: false; status: number; code: string; message: string };

/** Read a blob, turning storage errors into data so callers can map them to each API's error shape. */
export async function readBlob(target: BlobTarget): Promise<ReadOutcome> {
  const far = unreachableReason(target);
  if (far) return { ok: false, status: 0, code: 'StorageAccountUnreachable', message: far };
  const client = readerFor(target);
  if (!client) return { ok: false, status: 403, code: 'NoCredentials', message: 'No SAS or key to read the blob.' };
  try {
    return { ok: true, content: await client.downloadToBuffer() };
  } catch (err) {
    const e = err as { statusCode?: number; code?: string; message?: string };
    return {
      ok: false,
      status: e.statusCode ?? 0,
      code: e.code ?? (e.statusCode === 404 ? 'BlobNotFound' : 'StorageError'),
      message: (e.message ?? String(err)).split('\n')[0],
    };
  }
}

/**
 * Where a blob's storage account cannot be reached from here: the emulator serves only the storage accounts it owns
 * (its Azurite, on loopback), and never sends a request to a real Azure host; what it cannot reach it says so.
 */
export function unreachableReason(target: BlobTarget): string | undefined {
  let host: string;
  try {
    host = new URL(target.url).hostname.replace(/^\[|\]$/g, '');
  } catch {
    return `'${target.url}' is not a blob URL`;
  }
  if (host === 'localhost' || host === '::1' || /^127\./.test(host)) return undefined;
  return `The remote name could not be resolved: '${host}' (the storage account is not reachable from this service)`;
}

export type BlobProbe = { state: 'exists' | 'missing' } | { state: 'unreachable' | 'refused'; reason: string };

/** Does the blob exist, and if that cannot be told, why not (unreachable account, refused credentials). */
export async function probeBlob(target: BlobTarget): Promise<BlobProbe> {
  const far = unreachableReason(target);
  if (far) return { state: 'unreachable', reason: far };
  const client = readerFor(target);
  if (!client) return { state: 'refused', reason: 'No SAS or account key to read the blob.' };
  try {
    return { state: (await client.exists()) ? 'exists' : 'missing' };
  } catch (err) {
    const e = err as { statusCode?: number; code?: string; message?: string };
    if (e.statusCode === 403 || e.statusCode === 401) {
      return { state: 'refused', reason: `Server failed to authenticate the request (${e.code ?? e.statusCode}).` };
    }
    return { state: 'unreachable', reason: (e.message ?? String(err)).split('\n')[0] };
  }
}

/**
 * A fresh read-only blob SAS, as BES returns in Results (docs/spec/ml-studio-classic-api.md §2.6): minted on each call so a client can always "GET the
 * job again to obtain a fresh token". `st` is back-dated a minute to tolerate clock skew like Azure's own tokens.
 */
export function readOnlySas(account: StorageAccount, container: string, blobName: string, ttlSeconds: number): string {
  const now = Date.now();
  const cred = new StorageSharedKeyCredential(account.accountName, account.accountKey);
  const q = generateBlobSASQueryParameters(
    {
      containerName: container,
      blobName,
      permissions: BlobSASPermissions.parse('r'),
      startsOn: new Date(now - 60_000),
      expiresOn: new Date(now + ttlSeconds * 1000),
      protocol: SASProtocol.HttpsAndHttp,
    },
    cred,
  );
  return `?${q.toString()}`;
}

/** The trained-model file a finished training job writes: small JSON that says which job produced it. */
export function buildIlearner(info: { jobId: string; service: string; trainedAt: string }): Buffer {
  return Buffer.from(JSON.stringify({ format: ILEARNER_FORMAT, ...info }, null, 2), 'utf8');
}

/** The job id an emulator-made .ilearner names, or null for any other content. */
export function modelIdentity(content: Buffer): string | null {
  try {
    const doc = JSON.parse(content.toString('utf8')) as { format?: unknown; jobId?: unknown };
    if (doc.format === ILEARNER_FORMAT && typeof doc.jobId === 'string') return doc.jobId;
  } catch {
    // Not one of ours: the model is live but anonymous.
  }
  return null;
}
