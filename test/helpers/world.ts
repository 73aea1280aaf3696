/**
 * What the end-to-end tests judge by: the emulator's own view of each scoring service (the model live now, every
 * update it received, in order) and a scoring call made the way a user makes one. Never the product's report.
 */
import { request } from 'node:https';
import { readFileSync } from 'node:fs';
import type { EmulatorHandle } from '../../emulator';

export interface ServiceRef {
  /** The linked service name the product uses. */
  linkedService: string;
  /** The emulator's name of the scoring target (inspect().liveModels / updates). */
  target: string;
  /** RRS execute URL and key, for a user's scoring call. */
  scoreUrl: string;
  apiKey: string;
}

/** The two seeded scoring services: the ARM web service and the classic non-default endpoint. */
export function seededServices(emu: EmulatorHandle): { arm: ServiceRef; classic: ServiceRef } {
  return {
    arm: {
      linkedService: 'updatableScoringEndpoint2',
      target: new URL(emu.urls.armUpdateResource).pathname,
      scoreUrl: emu.urls.armScore,
      apiKey: emu.keys.arm.primary,
    },
    classic: {
      linkedService: 'classicScoringEndpoint',
      target: `${emu.ids.workspaceId}/${emu.ids.classicWebServiceId}/${emu.ids.classicEndpointName}`,
      scoreUrl: emu.urls.classicScore,
      apiKey: emu.keys.classicRetrain.primary,
    },
  };
}

/** The BES job whose model the emulator serves on a target now. */
export function liveJob(emu: EmulatorHandle, s: ServiceRef): string | null {
  return emu.inspect().liveModels[s.target] ?? null;
}

/** Every update the service received, oldest first, as the job id of the model it loaded. */
export function updateLog(emu: EmulatorHandle, s: ServiceRef): (string | null)[] {
  return emu
    .inspect()
    .updates.filter((u) => u.target === s.target)
    .map((u) => u.modelJobId);
}

/** A user's scoring call (RRS execute): the model that answered, from the answer's `Model` column. */
export function scoredBy(emu: EmulatorHandle, s: ServiceRef): Promise<string> {
  const body = JSON.stringify({
    Inputs: { input1: { ColumnNames: ['age'], Values: [['42']] } },
    GlobalParameters: {},
  });
  return new Promise((resolve, reject) => {
    const req = request(
      s.scoreUrl,
      {
        method: 'POST',
        ca: readFileSync(emu.caFile),
        headers: { Authorization: `Bearer ${s.apiKey}`, 'Content-Type': 'application/json' },
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8');
          if (res.statusCode !== 200) return reject(new Error(`scoring answered ${res.statusCode}: ${text}`));
          const table = Object.values(
            (JSON.parse(text) as { Results: Record<string, { value: { ColumnNames: string[]; Values: string[][] } }> })
              .Results,
          )[0].value;
          resolve(table.Values[0][table.ColumnNames.indexOf('Model')]);
        });
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}

/** Live model and scoring answer must agree on one job: the world's verdict on what a service serves. */
export async function serving(emu: EmulatorHandle, s: ServiceRef): Promise<{ live: string | null; scored: string }> {
  return { live: liveJob(emu, s), scored: await scoredBy(emu, s) };
}

/** Training jobs that started (BES), oldest first. */
export function startedJobs(emu: EmulatorHandle): string[] {
  return emu
    .inspect()
    .jobs.filter((j) => j.started > 0 && j.metrics !== null)
    .sort((a, b) => (a.startedAt ?? '').localeCompare(b.startedAt ?? ''))
    .map((j) => j.jobId);
}

/** The world of one emulator, asked without passing it each time: what a stack's tests judge by. */
export interface World {
  services: { arm: ServiceRef; classic: ServiceRef };
  liveJob(s: ServiceRef): string | null;
  updateLog(s: ServiceRef): (string | null)[];
  scoredBy(s: ServiceRef): Promise<string>;
  serving(s: ServiceRef): Promise<{ live: string | null; scored: string }>;
  startedJobs(): string[];
}

export function worldOf(emu: EmulatorHandle): World {
  return {
    get services() {
      return seededServices(emu);
    },
    liveJob: (s) => liveJob(emu, s),
    updateLog: (s) => updateLog(emu, s),
    scoredBy: (s) => scoredBy(emu, s),
    serving: (s) => serving(emu, s),
    startedJobs: () => startedJobs(emu),
  };
}
