import { ApplicationFailure } from '@temporalio/common';
import type { StorageSharedKeyCredential } from '@azure/storage-blob';
import { BlobClient, BlobSASPermissions, BlobServiceClient, generateBlobSASQueryParameters } from '@azure/storage-blob';
import { isRestError } from '@azure/core-rest-pipeline';
import type { StorageLinkedService } from '../config/linked-services';
import { filePathProblem } from '../common/paths';
import { FailureType } from '../common/failures';

/** A BES `AzureBlobDataReference`. Holds secrets: goes on the wire only. */
export interface BesBlobRef {
  ConnectionString: string | null;
  RelativeLocation: string;
  BaseLocation?: string;
  SasBlobToken?: string;
}

export interface BlobLocation {
  /** `https://acct.blob.core.windows.net/` (or `http://127.0.0.1:port/acct/`), with a trailing slash. */
  baseLocation: string;
  /** `container/path/blob.ext`, no leading slash. */
  relativeLocation: string;
}

export interface BlobFacts {
  etag: string;
  contentLength: number;
  lastModified: string;
  /** Content-MD5 (base64) when the service has one. */
  contentMd5?: string | null;
  /** User metadata (lower-case keys). */
  metadata?: Record<string, string>;
}

/** Outcome of pinning: the copy's version, or that the source no longer is the version asked for. */
export type PinResult = { pinned: true; etag: string; reused: boolean } | { pinned: false; currentEtag: string | null };

/** What activities need from a storage linked service. Built by the worker; fakes in tests. */
export interface StorageAccess {
  readonly linkedServiceName: string;
  location(filePath: string): BlobLocation;
  besBlobRef(filePath: string): BesBlobRef;
  /** Blob properties; a missing blob throws a TrainedModelNotFound failure. */
  properties(filePath: string, abortSignal?: AbortSignal): Promise<BlobFacts | null>;
  /** A read-only SAS (`?sv=...`) for one blob, valid for ttlMinutes. */
  readSas(filePath: string, ttlMinutes: number): string;
  /** The first `maxBytes` of a blob; a missing blob throws a TrainedModelNotFound failure. */
  download(filePath: string, maxBytes: number, abortSignal?: AbortSignal): Promise<Buffer>;
  /**
   * Copy `sourcePath` to `targetPath` only while the source still has `etag` (the copy is then exactly that version),
   * with `metadata`. A copy already there from the same source version is kept, so a retry copies nothing.
   */
  pin(
    sourcePath: string,
    etag: string,
    targetPath: string,
    metadata: Record<string, string>,
    abortSignal?: AbortSignal,
  ): Promise<PinResult>;
}

export function splitPath(filePath: string): { container: string; blobName: string } {
  const clean = filePath.replace(/^\/+/, '');
  const i = clean.indexOf('/');
  if (i <= 0 || i === clean.length - 1) return { container: clean.replace(/\/$/, ''), blobName: '' };
  return { container: clean.slice(0, i), blobName: clean.slice(i + 1) };
}

function withSlash(u: string): string {
  return u.endsWith('/') ? u : `${u}/`;
}

/** Azurite and IP hosts use path-style URLs (`http://host:port/account/container/blob`). */
function isPathStyle(url: URL): boolean {
  return /^(\d+\.\d+\.\d+\.\d+|localhost|\[[0-9a-f:]+\])$/i.test(url.hostname) || url.port === '10000';
}

/**
 * The connection string to use: ADF's `accountKey` (often an AzureKeyVaultSecret) completes a connection string that
 * has no key. Holds a secret: on the wire only.
 */
export function effectiveConnectionString(ls: StorageLinkedService): string | undefined {
  if (!ls.connectionString) return undefined;
  let cs = ls.connectionString.reveal().replace(/;+\s*$/, '');
  // The portal's form (`DefaultEndpointsProtocol=https;AccountName=…;AccountKey=…`) has no EndpointSuffix, which the
  // storage SDK refuses to parse without; Azure's public cloud is what such a string means.
  if (/(^|;)\s*AccountName=/i.test(cs) && !/(^|;)\s*(BlobEndpoint|EndpointSuffix)=/i.test(cs)) {
    cs = `${cs};EndpointSuffix=core.windows.net`;
  }
  if (ls.accountKey && !/(^|;)\s*AccountKey=/i.test(cs)) return `${cs};AccountKey=${ls.accountKey.reveal()}`;
  return cs;
}

/** The SAS URI to use: ADF's `sasToken` completes a `sasUri` that has no query. Holds a secret. */
export function effectiveSasUri(ls: StorageLinkedService): string | undefined {
  if (!ls.sasUri) return undefined;
  const uri = ls.sasUri.reveal();
  if (ls.sasToken && !uri.includes('?')) return `${uri}?${ls.sasToken.reveal().replace(/^\?/, '')}`;
  return uri;
}

export function createStorageAccess(ls: StorageLinkedService): StorageAccess {
  let serviceUrl: string;
  let sharedKey: StorageSharedKeyCredential | undefined;
  let linkedSas: string | undefined;
  const connectionString = effectiveConnectionString(ls);
  const sasUri = effectiveSasUri(ls);
  if (connectionString) {
    let client: BlobServiceClient;
    try {
      client = BlobServiceClient.fromConnectionString(connectionString);
    } catch (e) {
      throw ApplicationFailure.create({
        type: FailureType.ConfigError,
        nonRetryable: true,
        message: `storage linked service '${ls.name}' field 'connectionString' cannot be parsed: ${(e as Error).message}`,
      });
    }
    serviceUrl = withSlash(client.url.split('?')[0]);
    const cred = client.credential as Partial<StorageSharedKeyCredential>;
    if (typeof cred.computeHMACSHA256 === 'function') sharedKey = client.credential as StorageSharedKeyCredential;
    const sas = /SharedAccessSignature=([^;]+)/i.exec(connectionString);
    if (sas) linkedSas = `?${sas[1].replace(/^\?/, '')}`;
  } else if (sasUri) {
    const url = new URL(sasUri);
    linkedSas = url.search;
    const segments = url.pathname.split('/').filter(Boolean);
    serviceUrl = withSlash(isPathStyle(url) && segments[0] ? `${url.origin}/${segments[0]}` : url.origin);
  } else {
    throw ApplicationFailure.create({
      type: FailureType.ConfigError,
      nonRetryable: true,
      message: `storage linked service '${ls.name}' needs 'connectionString' or 'sasUri'`,
    });
  }

  const location = (filePath: string): BlobLocation => {
    // Paths computed by expressions reach here unvalidated: one naming another host must never get a request.
    const bad = filePathProblem(filePath);
    if (bad) {
      throw ApplicationFailure.create({
        type: FailureType.ConfigError,
        nonRetryable: true,
        message: `file path '${filePath}' (storage linked service '${ls.name}') ${bad}`,
      });
    }
    const { container, blobName } = splitPath(filePath);
    if (!container || !blobName) {
      throw ApplicationFailure.create({
        type: FailureType.ConfigError,
        nonRetryable: true,
        message: `file path '${filePath}' (storage linked service '${ls.name}') must be 'container/path/file.ext'`,
      });
    }
    return { baseLocation: serviceUrl, relativeLocation: `${container}/${blobName}` };
  };

  const sasFor = (filePath: string, ttlMinutes: number, permissions: 'r' | 'rcw'): string => {
    const { container, blobName } = splitPath(filePath);
    if (sharedKey) {
      const now = Date.now();
      const q = generateBlobSASQueryParameters(
        {
          containerName: container,
          blobName,
          permissions: BlobSASPermissions.parse(permissions),
          // Clock skew between us and the storage account would otherwise reject a just-minted token.
          startsOn: new Date(now - 5 * 60_000),
          expiresOn: new Date(now + ttlMinutes * 60_000),
        },
        sharedKey,
      );
      return `?${q.toString()}`;
    }
    if (linkedSas) return linkedSas;
    throw ApplicationFailure.create({
      type: FailureType.ConfigError,
      nonRetryable: true,
      message: `storage linked service '${ls.name}' has neither an account key nor a SAS, so no read SAS can be given to the scoring service`,
    });
  };
  const readSas = (filePath: string, ttlMinutes: number): string => sasFor(filePath, ttlMinutes, 'r');
  const blobClient = (filePath: string, permissions: 'r' | 'rcw' = 'r'): BlobClient => {
    const loc = location(filePath);
    const sas = sharedKey ? sasFor(filePath, 15, permissions) : (linkedSas ?? '');
    return new BlobClient(`${loc.baseLocation}${encodePath(loc.relativeLocation)}${sas}`);
  };
  const facts = async (filePath: string, abortSignal?: AbortSignal): Promise<BlobFacts> => {
    try {
      const p = await blobClient(filePath).getProperties({ abortSignal });
      return {
        etag: p.etag ?? '',
        contentLength: p.contentLength ?? 0,
        lastModified: (p.lastModified ?? new Date(0)).toISOString(),
        contentMd5: p.contentMD5 ? Buffer.from(p.contentMD5).toString('base64') : null,
        metadata: p.metadata ?? {},
      };
    } catch (e) {
      throw blobError(e, ls.name, filePath);
    }
  };

  return {
    linkedServiceName: ls.name,
    location,
    readSas,
    besBlobRef(filePath) {
      const loc = location(filePath);
      if (connectionString && sharedKey) {
        return { ConnectionString: connectionString, RelativeLocation: loc.relativeLocation };
      }
      return {
        ConnectionString: null,
        BaseLocation: loc.baseLocation,
        RelativeLocation: loc.relativeLocation,
        SasBlobToken: linkedSas ?? readSas(filePath, 24 * 60),
      };
    },
    properties: facts,
    async download(filePath, maxBytes, abortSignal) {
      try {
        // A ranged read of at most maxBytes: downloadToBuffer would insist on exactly that many bytes.
        const r = await blobClient(filePath).download(0, maxBytes, { abortSignal });
        const chunks: Buffer[] = [];
        for await (const chunk of r.readableStreamBody ?? []) chunks.push(Buffer.from(chunk as Uint8Array));
        return Buffer.concat(chunks);
      } catch (e) {
        // Asking for more than the blob holds is fine; an empty blob answers 416 to a ranged read.
        if (isRestError(e) && e.statusCode === 416) return Buffer.alloc(0);
        throw blobError(e, ls.name, filePath);
      }
    },
    async pin(sourcePath, etag, targetPath, metadata, abortSignal) {
      const target = () =>
        facts(targetPath, abortSignal).catch((e: unknown) => {
          if ((e as { type?: string }).type === FailureType.TrainedModelNotFound) return null;
          throw e;
        });
      const existing = await target();
      if (existing && existing.metadata?.sourceetag === metadataValue(etag)) {
        return { pinned: true, etag: existing.etag, reused: true };
      }
      const source = `${location(sourcePath).baseLocation}${encodePath(location(sourcePath).relativeLocation)}${readSas(sourcePath, 15)}`;
      try {
        const r = await blobClient(targetPath, 'rcw')
          .getBlockBlobClient()
          .syncCopyFromURL(source, {
            abortSignal,
            sourceConditions: { ifMatch: etag },
            // Two updates of one run can reach the same model by two routes (a storage path and a BES output) and
            // pin it at once: only one copy may be written, or the other's recorded ETag would be wrong.
            conditions: existing ? { ifMatch: existing.etag } : { ifNoneMatch: '*' },
            metadata: { ...metadata, sourceetag: metadataValue(etag) },
          });
        return { pinned: true, etag: r.etag ?? '', reused: false };
      } catch (e) {
        if (isRestError(e) && (e.statusCode === 412 || e.statusCode === 409)) {
          // Lost the race to a concurrent pin of the same version: use its copy.
          const now = await target();
          if (now && now.metadata?.sourceetag === metadataValue(etag)) {
            return { pinned: true, etag: now.etag, reused: true };
          }
          const src = await facts(sourcePath, abortSignal).catch(() => null);
          if (src?.etag !== etag) return { pinned: false, currentEtag: src?.etag ?? null };
        }
        throw blobError(e, ls.name, targetPath);
      }
    },
  };
}

/** Blob metadata values are ASCII header values: an ETag's quotes are fine, but keep it to a safe alphabet. */
function metadataValue(v: string): string {
  return v.replace(/[^\x20-\x7e]/g, '').replace(/"/g, '');
}

export function encodePath(relative: string): string {
  return relative
    .split('/')
    .map((s) => encodeURIComponent(s))
    .join('/');
}

/** Storage errors as failures: 404 and 401/403 are final, the rest are retried. */
export function blobError(e: unknown, linkedServiceName: string, filePath: string): Error {
  if (isRestError(e) && e.statusCode === 404) {
    return ApplicationFailure.create({
      type: FailureType.TrainedModelNotFound,
      nonRetryable: true,
      message: `blob '${filePath}' does not exist in storage linked service '${linkedServiceName}'`,
    });
  }
  if (isRestError(e) && (e.statusCode === 403 || e.statusCode === 401)) {
    const odd = pathSignatureHazard(filePath);
    return ApplicationFailure.create({
      type: FailureType.Forbidden,
      nonRetryable: true,
      message: odd
        ? `storage linked service '${linkedServiceName}' was refused reading '${filePath}' (${e.statusCode} ${e.code ?? ''}): ` +
          `the path contains ${odd}, which storage signs differently from how it is sent, so the signature does not ` +
          `match; rename the blob without ${odd} (the credentials themselves may be fine)`
        : `storage linked service '${linkedServiceName}' was refused reading '${filePath}' (${e.statusCode}${e.code ? ` ${e.code}` : ''}): check its connectionString / sasUri`,
    });
  }
  if ((e as { name?: string })?.name === 'AbortError') return e as Error;
  const status = isRestError(e) ? e.statusCode : undefined;
  const reason =
    (e as Error)?.message?.split('\n')[0]?.trim() ||
    (e as { code?: string })?.code ||
    (status ? `HTTP ${status}` : 'no reason given by the storage client');
  return ApplicationFailure.create({
    type: status ? FailureType.ServiceError : FailureType.NetworkError,
    message: `reading '${filePath}' through storage linked service '${linkedServiceName}' failed: ${reason}`,
  });
}

/**
 * Characters of a blob path that make a request's signature fail although the key or SAS is right: '%' sequences are
 * decoded by storage before it checks the signature, and a trailing dot or space is trimmed from the name.
 */
export function pathSignatureHazard(filePath: string): string | undefined {
  if (/%[0-9A-Fa-f]{2}/.test(filePath)) return "a percent-encoded sequence ('%xx')";
  if (/%/.test(filePath)) return "'%'";
  if (/[.\s]$/.test(filePath)) return 'a trailing dot or space';
  if (/[?#]/.test(filePath)) return "'?' or '#'";
  return undefined;
}
