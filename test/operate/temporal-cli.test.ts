/**
 * The `temporal` CLI blocks of docs/operating.md, run exactly as written (parsed out of the guide by ./readme) with the
 * temporal binary the project provisions, against the suite's dev server. They run in a namespace of their own, set up
 * by the guide's own production commands, with a worker polling the guide's task queue there.
 */
import { spawn } from 'node:child_process';
import { dirname } from 'node:path';
import { BlobServiceClient } from '@azure/storage-blob';
import { Client, ScheduleNotFoundError } from '@temporalio/client';
import { ensureTemporalCli } from '../../infra/temporal';
import { SEARCH_ATTRIBUTES } from '../../common/search-attributes';
import { statusQuery } from '../../workflows/queries';
import { uniqueId } from '../helpers/temporal';
import { ROOT, waitUntil } from '../helpers/processes';
import type { Stack } from '../helpers/stack';
import { startStack } from '../helpers/stack';
import { readmeCommands } from './readme';

interface Ran {
  cmd: string;
  code: number;
  out: string;
}

describe('the temporal CLI commands in the docs', () => {
  let env: Stack;
  let bin: string;
  let client: Client;
  const namespace = uniqueId('readme');

  /** The CLI binary the project provisions; ensureTemporalCli() returns none while TEMPORAL_ADDRESS is set. */
  async function provisionedCli(): Promise<string> {
    const saved = process.env.TEMPORAL_ADDRESS;
    delete process.env.TEMPORAL_ADDRESS;
    try {
      const found = await ensureTemporalCli();
      if (!found) throw new Error('infra/temporal/ could not provide a temporal binary');
      return found;
    } finally {
      process.env.TEMPORAL_ADDRESS = saved;
    }
  }

  function sh(cmd: string): Promise<Ran> {
    return new Promise((resolve) => {
      const child = spawn('bash', ['-c', cmd], {
        cwd: ROOT,
        env: {
          ...process.env,
          PATH: `${dirname(bin)}:${process.env.PATH ?? ''}`,
          TEMPORAL_NAMESPACE: namespace,
          // Plain text output whatever the terminal: no colours in the captured text.
          NO_COLOR: '1',
        },
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      let out = '';
      child.stdout.on('data', (d: Buffer) => (out += d.toString()));
      child.stderr.on('data', (d: Buffer) => (out += d.toString()));
      child.on('exit', (code) => resolve({ cmd, code: code ?? 1, out }));
    });
  }

  beforeAll(async () => {
    env = await startStack({ worker: false, jobMs: 500 });
    bin = await provisionedCli();
    const made = await sh(`temporal operator namespace create --namespace ${namespace} --retention 1d`);
    expect(made.code).toBe(0);
    client = new Client({ connection: env.t.client.connection, namespace });
    await waitUntil('the namespace', async () => (await sh('temporal workflow count')).code === 0);
    // examples/retrain-input.json reads azuremltesting/input/train.csv, as the seed's pipeline does.
    const container = BlobServiceClient.fromConnectionString(env.emu.storage.connectionString).getContainerClient(
      'azuremltesting',
    );
    await container.createIfNotExists();
    await container.getBlockBlobClient('input/train.csv').upload('a,b\n1,2\n', 8);
  });

  afterAll(async () => env?.close());

  test("when the docs' namespace setup runs on a new namespace, then the product's search attributes exist", async () => {
    const commands = readmeCommands('namespace-setup');
    expect(commands.length).toBe(5);
    for (const cmd of commands) {
      const r = await sh(cmd);
      expect({ cmd, code: r.code, out: r.code ? r.out : '' }).toEqual({ cmd, code: 0, out: '' });
    }
    const attrs = await env.t.client.connection.operatorService.listSearchAttributes({ namespace });
    for (const name of Object.keys(SEARCH_ATTRIBUTES)) expect(Object.keys(attrs.customAttributes)).toContain(name);
    // Now a worker can run the docs' workflows in this namespace, on the docs' task queue.
    await env.startWorker({ taskQueue: 'ml-retrain', namespace });
  });

  test('when the workflow commands run as written, then they start, query, find and cancel runs', async () => {
    const ran: Ran[] = [];
    for (const cmd of readmeCommands('temporal-workflow')) {
      if (/workflow start .*retrain-manual-2/.test(cmd)) {
        // The run to cancel must still be training when `cancel` arrives.
        env.emu.setJobFaults({ slowNext: { count: 1, extraMs: 60_000 } });
      }
      if (/workflow (list|count)/.test(cmd)) {
        // Visibility is eventually consistent: let it catch up with run 1's end before the listing commands.
        await waitUntil(
          'visibility of run 1',
          async () => (await client.workflow.count('Phase = "Succeeded"')).count === 1,
        );
      }
      if (/workflow cancel/.test(cmd)) {
        const h = client.workflow.getHandle('retrain-manual-2');
        await waitUntil('run 2 training', async () => (await h.query(statusQuery)).besStatus === 'Running');
      }
      if (/workflow describe .*retrain-manual-2/.test(cmd)) {
        // Cancelling is asynchronous: the run first DELETEs its BES job, then ends (the docs say so).
        const h = client.workflow.getHandle('retrain-manual-2');
        await waitUntil('run 2 to end', async () => (await h.describe()).status.name !== 'RUNNING');
      }
      const r = await sh(cmd);
      ran.push(r);
      expect({ cmd, code: r.code, out: r.code ? r.out : '' }).toEqual({ cmd, code: 0, out: '' });
    }
    const out = (re: RegExp) => ran.filter((r) => re.test(r.cmd)).map((r) => r.out);

    expect(out(/workflow start .*retrain-manual-1/)[0]).toMatch(/WorkflowId\s+retrain-manual-1/);
    expect(out(/workflow query .*retrain-manual-1/)[0]).toContain('RetrainAndUpdate');
    const result = out(/workflow result .*retrain-manual-1/)[0];
    expect(result).toMatch(/Status\s+COMPLETED/);
    expect(result).toContain('"jobId"');
    expect(out(/workflow describe .*retrain-manual-1/)[0]).toContain('Manual retrain of trainingEndpoint');
    const [byPipeline, running] = out(/workflow list/);
    expect(byPipeline).toContain('retrain-manual-1');
    expect(running).not.toContain('retrain-manual-1');
    expect(out(/workflow count/)[0]).toMatch(/Total: 1\b/);
    expect(out(/workflow describe .*retrain-manual-2/)[0]).toMatch(/Status\s+CANCELED/);

    // What the docs say the commands do, checked through the SDK and the emulator.
    const manual1 = client.workflow.getHandle('retrain-manual-1');
    expect(await (await manual1.describe()).staticSummary()).toBe('Manual retrain of trainingEndpoint');
    const cancelled = await client.workflow.getHandle('retrain-manual-2').query(statusQuery);
    const job = env.emu.inspect().jobs.find((j) => j.jobId === cancelled.jobId);
    expect(job?.status).toBe('Cancelled');
  });

  test('when the schedule commands run as written, then the schedule is created with Skip, listed, triggered, paused, backfilled and deleted', async () => {
    const handle = client.schedule.getHandle('nightly-retrain');
    for (const cmd of readmeCommands('temporal-schedule')) {
      const r = await sh(cmd);
      expect({ cmd, code: r.code, out: r.code ? r.out : '' }).toEqual({ cmd, code: 0, out: '' });
      if (/schedule create/.test(cmd)) {
        const d = await handle.describe();
        expect(d.policies).toMatchObject({ overlap: 'SKIP', catchupWindow: 60_000 });
        expect(d.spec.timezone).toBe('Europe/Berlin');
        expect(d.action).toMatchObject({ workflowType: 'retrainAndUpdate', taskQueue: 'ml-retrain' });
      } else if (/schedule list/.test(cmd)) {
        expect(r.out).toContain('nightly-retrain');
      } else if (/schedule trigger/.test(cmd)) {
        // The triggered run: started by the schedule, and it does its job.
        const started = await waitUntil(
          'the triggered run',
          async () => (await handle.describe()).info.recentActions[0],
        );
        const run = client.workflow.getHandle(started.action.workflow.workflowId);
        await expect(run.result()).resolves.toMatchObject({ pipeline: 'RetrainAndUpdate' });
      } else if (/toggle .*--pause/.test(cmd)) {
        expect((await handle.describe()).state).toMatchObject({ paused: true, note: 'training data late' });
      } else if (/toggle .*--unpause/.test(cmd)) {
        expect((await handle.describe()).state.paused).toBe(false);
      } else if (/schedule backfill/.test(cmd)) {
        // Two nightly occurrences in the range: both run, one after the other (BufferAll), after the triggered one.
        await waitUntil(
          'both backfilled runs',
          async () => (await handle.describe()).info.numActionsTaken >= 3,
          90_000,
        );
        const ids = (await handle.describe()).info.recentActions.map((a) => a.action.workflow.workflowId);
        expect(ids.filter((id) => /^nightly-retrain-2024-01-0[12]T01:30:00Z$/.test(id))).toHaveLength(2);
      } else if (/schedule delete/.test(cmd)) {
        await expect(handle.describe()).rejects.toBeInstanceOf(ScheduleNotFoundError);
      }
    }
  });
});
