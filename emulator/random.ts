import { randomBytes, randomUUID } from 'node:crypto';

/**
 * Seedable id source. Ids (job ids, workspace ids, operation ids) are reproducible for a given seed so a failing
 * test can be replayed; secrets never come from here (see {@link secret}) because a seed would make them guessable.
 */
export class Prng {
  private state: number;

  constructor(seed: number) {
    this.state = seed >>> 0;
  }

  /** mulberry32: tiny, fast and good enough for fault dice and ids; not for anything security related. */
  next(): number {
    this.state = (this.state + 0x6d2b79f5) >>> 0;
    let t = this.state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }

  uint32(): number {
    return Math.floor(this.next() * 4294967296) >>> 0;
  }
}

export class IdSource {
  private readonly prng: Prng | null;

  constructor(seed: number | undefined) {
    // A distinct stream from the fault dice, so adding a fault rule does not change the ids a test sees.
    this.prng = seed === undefined ? null : new Prng((seed ^ 0x5bd1e995) >>> 0);
  }

  /** 32 lowercase hex characters, the shape of every classic id (docs/spec/ml-studio-classic-api.md §1.2). */
  hex32(): string {
    if (!this.prng) return randomBytes(16).toString('hex');
    let out = '';
    for (let i = 0; i < 4; i++) out += this.prng.uint32().toString(16).padStart(8, '0');
    return out;
  }

  /** A dashed version-4 GUID (subscription ids, client ids, operation ids). */
  guid(): string {
    if (!this.prng) return randomUUID();
    const h = this.hex32().split('');
    h[12] = '4';
    h[16] = ((parseInt(h[16], 16) & 0x3) | 0x8).toString(16);
    const s = h.join('');
    return `${s.slice(0, 8)}-${s.slice(8, 12)}-${s.slice(12, 16)}-${s.slice(16, 20)}-${s.slice(20)}`;
  }
}

/** Key material: always from the OS CSPRNG, base64 like the real service's keys. */
export function secret(bytes = 48): string {
  return randomBytes(bytes).toString('base64');
}

export function randomSeed(): number {
  return randomBytes(4).readUInt32LE(0);
}
