import { spawn, type ChildProcess } from 'node:child_process';
import { mkdir } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { withPrivateUmask } from './private-files';

/** The blob storage the emulator writes job outputs to and reads trained models from. */
export interface StorageAccount {
  accountName: string;
  accountKey: string;
  /** e.g. http://127.0.0.1:10000/account (path-style, no trailing slash). */
  blobEndpoint: string;
  connectionString: string;
}

export interface AzuriteProcess extends StorageAccount {
  port: number;
  close(): Promise<void>;
}

/** Parse `Key=Value;...` storage connection strings; keys are case-insensitive as in the Azure SDKs. */
export function parseConnectionString(connectionString: string): Map<string, string> {
  const out = new Map<string, string>();
  for (const part of connectionString.split(';')) {
    const trimmed = part.trim();
    if (!trimmed) continue;
    const eq = trimmed.indexOf('=');
    if (eq <= 0) continue;
    out.set(trimmed.slice(0, eq).trim().toLowerCase(), trimmed.slice(eq + 1).trim());
  }
  return out;
}

/**
 * The account behind a connection string, or null when it has no shared key (a SAS-only or malformed string).
 * A string without BlobEndpoint gets the public-cloud endpoint, which the emulator cannot reach: that is the honest
 * outcome for a config that would really point at Azure.
 */
export function accountFromConnectionString(connectionString: string): StorageAccount | null {
  const kv = parseConnectionString(connectionString);
  const accountName = kv.get('accountname');
  const accountKey = kv.get('accountkey');
  if (!accountName || !accountKey) return null;
  if (kv.get('usedevelopmentstorage') === 'true') return null;
  const protocol = kv.get('defaultendpointsprotocol') ?? 'https';
  const suffix = kv.get('endpointsuffix') ?? 'core.windows.net';
  const blobEndpoint = (kv.get('blobendpoint') ?? `${protocol}://${accountName}.blob.${suffix}`).replace(/\/+$/, '');
  return { accountName, accountKey, blobEndpoint, connectionString };
}

export function connectionStringFor(accountName: string, accountKey: string, blobEndpoint: string): string {
  return `DefaultEndpointsProtocol=http;AccountName=${accountName};AccountKey=${accountKey};BlobEndpoint=${blobEndpoint};`;
}

export interface StartAzuriteOptions {
  accountName: string;
  accountKey: string;
  /** Keep blobs here across restarts; in memory when omitted. */
  location?: string;
  /** Preferred port (e.g. the one used before a restart); 0 or busy means any free port. */
  port?: number;
  startTimeoutMs?: number;
}

const LISTEN_RE = /successfully listens on (http:\/\/[^\s]+)/;

/**
 * Start Azurite's blob service as a child process bound to 127.0.0.1. The account key comes in through
 * AZURITE_ACCOUNTS so no well-known key is ever accepted.
 */
export async function startAzurite(opts: StartAzuriteOptions): Promise<AzuriteProcess> {
  const first = await tryStartAzurite(opts, opts.port ?? 0);
  if (first.ok) return first.proc;
  // The remembered port may be taken by now; a different port is better than not starting at all.
  if (opts.port && /EADDRINUSE/.test(first.error.message)) {
    const second = await tryStartAzurite(opts, 0);
    if (second.ok) return second.proc;
    throw second.error;
  }
  throw first.error;
}

type StartResult = { ok: true; proc: AzuriteProcess } | { ok: false; error: Error };

async function tryStartAzurite(opts: StartAzuriteOptions, port: number): Promise<StartResult> {
  const mainJs = join(dirname(require.resolve('azurite/package.json')), 'dist', 'src', 'blob', 'main.js');
  const args = [
    mainJs,
    '--blobHost',
    '127.0.0.1',
    '--blobPort',
    String(port),
    '--skipApiVersionCheck',
    '--loose',
    '--disableProductStyleUrl',
    '--disableTelemetry',
    '--silent',
  ];
  if (opts.location) {
    await mkdir(opts.location, { recursive: true, mode: 0o700 });
    args.push('--location', opts.location);
  } else {
    args.push('--inMemoryPersistence');
  }
  // A child inherits the umask: with a location, the blobs and Azurite's databases it writes are owner-only.
  const launch = () =>
    spawn(process.execPath, args, {
      env: { ...process.env, AZURITE_ACCOUNTS: `${opts.accountName}:${opts.accountKey}` },
      stdio: ['ignore', 'pipe', 'pipe'],
      cwd: opts.location ?? process.cwd(),
    });
  const child = opts.location ? withPrivateUmask(launch) : launch();
  let tail = '';
  const keepTail = (chunk: Buffer): void => {
    tail = (tail + chunk.toString('utf8')).slice(-4000);
  };
  child.stderr?.on('data', keepTail);

  const url = await new Promise<string | Error>((resolve) => {
    let out = '';
    const timer = setTimeout(
      () => resolve(new Error(`Azurite did not start within ${opts.startTimeoutMs ?? 30000} ms: ${tail}`)),
      opts.startTimeoutMs ?? 30000,
    );
    child.stdout?.on('data', (chunk: Buffer) => {
      keepTail(chunk);
      out += chunk.toString('utf8');
      const m = LISTEN_RE.exec(out);
      if (m) {
        clearTimeout(timer);
        resolve(m[1]);
      }
    });
    child.once('exit', (code, signal) => {
      clearTimeout(timer);
      resolve(new Error(`Azurite exited during start (code ${String(code)}, signal ${String(signal)}): ${tail}`));
    });
    child.once('error', (err) => {
      clearTimeout(timer);
      resolve(err);
    });
  });
  if (url instanceof Error) {
    await stopChild(child);
    return { ok: false, error: url };
  }
  // Azurite must not outlive a parent that dies without calling close().
  const onExit = (): void => {
    child.kill('SIGKILL');
  };
  process.once('exit', onExit);
  const blobEndpoint = `${url.replace(/\/+$/, '')}/${opts.accountName}`;
  return {
    ok: true,
    proc: {
      accountName: opts.accountName,
      accountKey: opts.accountKey,
      blobEndpoint,
      connectionString: connectionStringFor(opts.accountName, opts.accountKey, blobEndpoint),
      port: Number(new URL(url).port),
      close: async () => {
        process.removeListener('exit', onExit);
        await stopChild(child);
      },
    },
  };
}

/** SIGTERM lets Azurite flush its on-disk database; SIGKILL only if it hangs. */
async function stopChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  await new Promise<void>((resolve) => {
    const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
    child.once('exit', () => {
      clearTimeout(timer);
      resolve();
    });
    child.kill('SIGTERM');
  });
}
