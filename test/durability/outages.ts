/** The two outage kinds: a Temporal dev server on a SQLite file, killed -9 and restarted; the emulator restarted. */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startTemporalServer } from '../../infra/temporal';
import type { TemporalServerHandle } from '../../infra/temporal';
import type { Outages } from './campaigns';
import type { DurabilityEnv } from './harness';

/** A second dev server, ours to crash: persisted in a SQLite file, restarted on the same port and file. */
export class CrashableTemporal implements Outages {
  private handle!: TemporalServerHandle;
  private dir!: string;
  port = 0;
  kills = 0;
  restarts = 0;

  get address(): string {
    return `127.0.0.1:${this.port}`;
  }

  private async launch(): Promise<void> {
    // TEMPORAL_ADDRESS (the suite's server) would make startTemporalServer attach instead of starting one.
    const saved = process.env.TEMPORAL_ADDRESS;
    delete process.env.TEMPORAL_ADDRESS;
    try {
      this.handle = await startTemporalServer({
        dbFilename: join(this.dir, 'temporal.sqlite'),
        headless: true,
        ...(this.port ? { port: this.port } : {}),
      });
    } finally {
      process.env.TEMPORAL_ADDRESS = saved;
    }
    this.port = Number(this.handle.address.split(':').pop());
  }

  async start(): Promise<this> {
    this.dir = await mkdtemp(join(tmpdir(), 'durability-temporal-'));
    await this.launch();
    return this;
  }

  async down(): Promise<void> {
    // The server leads its own process group: SIGKILL all of it, no shutdown, no flush.
    process.kill(-this.handle.pid!, 'SIGKILL');
    await this.handle.exited;
    this.kills++;
  }

  async up(): Promise<void> {
    await this.launch();
    this.restarts++;
  }

  async stop(): Promise<void> {
    await this.handle?.stop();
    if (this.dir) await rm(this.dir, { recursive: true, force: true });
  }
}

/** The emulator closed and started again on the same port and state dir (jobs keep running through it). */
export function emulatorOutages(env: DurabilityEnv): Outages {
  return { down: () => env.stopEmulator(), up: () => env.startEmulatorAgain() };
}
