import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { generate } from 'selfsigned';

/** A PEM certificate and its private key. */
export interface PemPair {
  certPem: string;
  keyPem: string;
}

/** Environment variable naming a directory with `ca.pem` and `ca.key` that the emulator signs its leaf with. */
export const CA_DIR_ENV = 'ML_EMULATOR_CA_DIR';

const DAY_MS = 24 * 60 * 60 * 1000;

/**
 * A fresh self-signed CA. Clients trust it through NODE_EXTRA_CA_CERTS, never by disabling verification, so the
 * product's TLS code path is the one it uses against Azure.
 */
export async function generateCa(): Promise<PemPair> {
  const now = Date.now();
  const pems = await generate([{ name: 'commonName', value: 'ML Studio classic emulator local CA' }], {
    keySize: 2048,
    algorithm: 'sha256',
    notBeforeDate: new Date(now - DAY_MS),
    notAfterDate: new Date(now + 5 * 365 * DAY_MS),
    extensions: [
      { name: 'basicConstraints', cA: true, critical: true },
      { name: 'keyUsage', keyCertSign: true, cRLSign: true, digitalSignature: true, critical: true },
    ],
  });
  return { certPem: pems.cert, keyPem: pems.private };
}

/** Server certificate for 127.0.0.1 and localhost, signed by `ca`. */
export async function generateLeaf(ca: PemPair): Promise<PemPair> {
  const now = Date.now();
  const pems = await generate([{ name: 'commonName', value: '127.0.0.1' }], {
    keySize: 2048,
    algorithm: 'sha256',
    notBeforeDate: new Date(now - DAY_MS),
    notAfterDate: new Date(now + 365 * DAY_MS),
    ca: { key: ca.keyPem, cert: ca.certPem },
    extensions: [
      { name: 'basicConstraints', cA: false },
      { name: 'keyUsage', digitalSignature: true, keyEncipherment: true },
      { name: 'extKeyUsage', serverAuth: true },
      {
        name: 'subjectAltName',
        altNames: [
          { type: 2, value: 'localhost' },
          { type: 7, ip: '127.0.0.1' },
        ],
      },
    ],
  });
  return { certPem: pems.cert, keyPem: pems.private };
}

/**
 * Write `ca.pem` and `ca.key` into `dir` (generating a CA when none is given). A parent process does this once,
 * points NODE_EXTRA_CA_CERTS at `ca.pem` and ML_EMULATOR_CA_DIR at `dir` before starting children.
 */
export async function writeCaDir(dir: string, ca?: PemPair): Promise<PemPair> {
  const pair = ca ?? (await generateCa());
  await mkdir(dir, { recursive: true });
  await writeFile(join(dir, 'ca.pem'), pair.certPem, { mode: 0o644 });
  await writeFile(join(dir, 'ca.key'), pair.keyPem, { mode: 0o600 });
  return pair;
}

export async function readCaDir(dir: string): Promise<PemPair> {
  const [certPem, keyPem] = await Promise.all([
    readFile(join(dir, 'ca.pem'), 'utf8'),
    readFile(join(dir, 'ca.key'), 'utf8'),
  ]);
  return { certPem, keyPem };
}
