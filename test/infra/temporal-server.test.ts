import childProcess from 'node:child_process';
import { randomUUID } from 'node:crypto';
import fsp from 'node:fs/promises';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { Client, Connection } from '@temporalio/client';
import { PipelineAttr, SEARCH_ATTRIBUTES } from '../../common/search-attributes';
import { ensureTemporalCli, startTemporalServer } from '../../infra/temporal';
import type { TemporalServerHandle } from '../../infra/temporal';

// These tests provision the server themselves, so a TEMPORAL_ADDRESS from the caller's shell must not leak in.
const savedAddress = process.env.TEMPORAL_ADDRESS;
beforeAll(() => {
  delete process.env.TEMPORAL_ADDRESS;
});
afterAll(() => {
  if (savedAddress === undefined) delete process.env.TEMPORAL_ADDRESS;
  else process.env.TEMPORAL_ADDRESS = savedAddress;
});

const lines: string[] = [];
const log = (line: string): void => {
  lines.push(line);
};

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

function portIsFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const srv = net.createServer();
    srv.once('error', () => resolve(false));
    srv.listen({ host: '127.0.0.1', port, exclusive: true }, () => srv.close(() => resolve(true)));
  });
}

async function withClient<T>(address: string, fn: (client: Client, connection: Connection) => Promise<T>): Promise<T> {
  const connection = await Connection.connect({ address });
  try {
    return await fn(new Client({ connection, namespace: 'default' }), connection);
  } finally {
    await connection.close();
  }
}

describe('startTemporalServer with a local dev server', () => {
  let server: TemporalServerHandle;

  beforeAll(async () => {
    server = await startTemporalServer({ log });
  });

  afterAll(async () => {
    await server?.stop();
  });

  test('when started, then a Client can connect and the search attributes are registered', async () => {
    expect(server.external).toBe(false);
    expect(server.pid).toBeGreaterThan(0);
    expect(server.address).toMatch(/^127\.0\.0\.1:\d+$/);
    expect(server.uiUrl).toBe(`http://127.0.0.1:${Number(server.address.split(':')[1]) + 1000}`);

    await withClient(server.address, async (client, connection) => {
      const info = await connection.workflowService.getSystemInfo({});
      expect(info.serverVersion).toBeTruthy();

      const { customAttributes } = await connection.operatorService.listSearchAttributes({ namespace: 'default' });
      expect(Object.keys(customAttributes ?? {})).toEqual(expect.arrayContaining(Object.keys(SEARCH_ATTRIBUTES)));

      // Listing proves registration; a start that sets one proves the server accepts it on a run.
      const handle = await client.workflow.start('notRegisteredAnywhere', {
        taskQueue: `dummy-${randomUUID()}`,
        workflowId: `infra-sa-${randomUUID()}`,
        typedSearchAttributes: [{ key: PipelineAttr, value: 'infra-test' }],
      });
      const description = await handle.describe();
      expect(description.typedSearchAttributes.get(PipelineAttr)).toBe('infra-test');
      await handle.terminate('test done');
    });

    const ui = await fetch(server.uiUrl!);
    expect(ui.status).toBe(200);
  });

  test('when TEMPORAL_ADDRESS points at a running server, then nothing new is started and stop() leaves it running', async () => {
    const spawnSpy = jest.spyOn(childProcess, 'spawn');
    process.env.TEMPORAL_ADDRESS = server.address;
    try {
      expect(await ensureTemporalCli({ log })).toBeUndefined();
      const attached = await startTemporalServer({ log });
      expect(attached.external).toBe(true);
      expect(attached.pid).toBeUndefined();
      expect(attached.address).toBe(server.address);
      await attached.stop();
      expect(spawnSpy).not.toHaveBeenCalled();
    } finally {
      delete process.env.TEMPORAL_ADDRESS;
      spawnSpy.mockRestore();
    }
    expect(isAlive(server.pid!)).toBe(true);
    await withClient(server.address, (_client, connection) => connection.workflowService.getSystemInfo({}));
  });
});

test('when stopped, then the PID is gone and the port is free', async () => {
  const server = await startTemporalServer({ headless: true, log });
  const pid = server.pid!;
  const port = Number(server.address.split(':')[1]);
  expect(isAlive(pid)).toBe(true);
  expect(await portIsFree(port)).toBe(false);

  await server.stop();

  expect(isAlive(pid)).toBe(false);
  expect(await portIsFree(port)).toBe(true);
  // Stopping twice is harmless, so cleanup code need not track state.
  await server.stop();
});

test('when started with dbFilename, then a kill -9 and a restart on the same port keep a started workflow visible', async () => {
  const dir = await fsp.mkdtemp(path.join(os.tmpdir(), 'temporal-infra-test-'));
  const dbFilename = path.join(dir, 'state', 'temporal.sqlite');
  const workflowId = `infra-restart-${randomUUID()}`;
  let first: TemporalServerHandle | undefined;
  let restarted: TemporalServerHandle | undefined;
  try {
    first = await startTemporalServer({ headless: true, dbFilename, log });
    const port = Number(first.address.split(':')[1]);
    const runId = await withClient(first.address, async (client) => {
      // Nobody polls this queue: the run just stays open, which is all the test needs.
      const handle = await client.workflow.start('notRegisteredAnywhere', {
        taskQueue: `dummy-${randomUUID()}`,
        workflowId,
      });
      return handle.firstExecutionRunId;
    });

    process.kill(-first.pid!, 'SIGKILL');
    await first.exited;
    expect(isAlive(first.pid!)).toBe(false);

    restarted = await startTemporalServer({ headless: true, dbFilename, port, log });
    expect(restarted.address).toBe(first.address);
    const description = await withClient(restarted.address, (client) =>
      client.workflow.getHandle(workflowId).describe(),
    );
    expect(description.runId).toBe(runId);
    expect(description.status.name).toBe('RUNNING');
  } finally {
    await first?.stop();
    await restarted?.stop();
    await fsp.rm(dir, { recursive: true, force: true });
  }
});
