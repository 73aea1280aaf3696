/* eslint-disable @typescript-eslint/no-unsafe-return -- HTTP bodies are asserted with expect(), not typed. */
import { existsSync, readFileSync, statSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { connect } from 'node:net';
import { networkInterfaces, tmpdir } from 'node:os';
import { join } from 'node:path';
import { CA_DIR_ENV, generateCa, readCaDir, startEmulator, writeCaDir } from '../../emulator';
import { call, emulator, getBlob, putBlob, runTrainingJob, trainingRequest, useAzurite, waitFor } from './helpers';

const azurite = useAzurite();
const V = '?api-version=2.0';

const dirs: string[] = [];
async function tempDir(prefix: string): Promise<string> {
  const d = await mkdtemp(join(tmpdir(), prefix));
  dirs.push(d);
  return d;
}
afterAll(async () => {
  await Promise.all(dirs.map((d) => rm(d, { recursive: true, force: true })));
});

/** Resolves to the socket error code, or 'connected'. */
function probe(host: string, port: number): Promise<string> {
  return new Promise((resolve) => {
    const s = connect({ host, port });
    s.once('connect', () => {
      s.destroy();
      resolve('connected');
    });
    s.once('error', (e: NodeJS.ErrnoException) => resolve(e.code ?? e.message));
  });
}

describe('emulator lifecycle', () => {
  test('when restarted with the same stateDir, then an in-flight job keeps progressing and keys, models and blobs survive', async () => {
    const stateDir = await tempDir('emu-state-');
    const h1 = await startEmulator({ stateDir, jobs: { runningMs: 2500 } });
    let h2: Awaited<ReturnType<typeof startEmulator>> | null = null;
    try {
      // A finished job and a classic update before the restart.
      const done = await runTrainingJob(h1);
      expect(done.status.StatusCode).toBe('Finished');
      const patched = await call(h1, 'PATCH', h1.urls.classicUpdateResource, {
        bearer: h1.keys.classicRetrain.primary,
        json: { Resources: [{ Name: h1.ids.trainedModelName, Location: done.status.Results.output1 }] },
      });
      expect(patched.status).toBe(200);
      // A job still running when the emulator goes away.
      const { body, container } = await trainingRequest(h1);
      const jobId = (
        await call(h1, 'POST', `${h1.urls.trainingBes}/jobs${V}`, { bearer: h1.keys.training.primary, json: body })
      ).json;
      expect(
        (await call(h1, 'POST', `${h1.urls.trainingBes}/jobs/${jobId}/start${V}`, { bearer: h1.keys.training.primary }))
          .status,
      ).toBe(204);
      const before = { url: h1.url, keys: h1.keys, ls: JSON.stringify(h1.linkedServices), caFile: h1.caFile };
      await h1.close();

      h2 = await startEmulator({ stateDir, jobs: { runningMs: 2500 } });
      expect(h2.url).toBe(before.url);
      expect(h2.keys).toEqual(before.keys);
      expect(JSON.stringify(h2.linkedServices)).toBe(before.ls);
      const h = h2;
      const first = await call(h, 'GET', `${h.urls.trainingBes}/jobs/${jobId}${V}`, {
        bearer: h.keys.training.primary,
      });
      expect(first.json.StatusCode).toBe('Running');
      const finished = await waitFor(async () => {
        const r = await call(h, 'GET', `${h.urls.trainingBes}/jobs/${jobId}${V}`, { bearer: h.keys.training.primary });
        return r.json.StatusCode === 'Finished' ? r.json : null;
      });
      expect(JSON.parse(await getBlob(h, container, 'output/model.ilearner')).jobId).toBe(jobId);
      expect(finished.Results.output1.RelativeLocation).toBe(`${container}/output/model.ilearner`);
      // Blobs written before the restart are still in Azurite, and the classic update is still live.
      expect(await getBlob(h, container, 'input/train.csv')).toContain('age');
      expect(h.inspect().liveModels[`${h.ids.workspaceId}/${h.ids.classicWebServiceId}/retrain`]).toBe(done.jobId);
      expect(h.inspect().jobs.map((j) => j.jobId)).toEqual([done.jobId, jobId]);
    } finally {
      await h1.close();
      await h2?.close();
    }
  });

  test('when the emulator and its own Azurite run, then both listen on 127.0.0.1 only and close frees the ports', async () => {
    const h = await startEmulator();
    const port = Number(new URL(h.url).port);
    const blob = new URL(h.storage.blobEndpoint);
    try {
      expect(new URL(h.url).hostname).toBe('127.0.0.1');
      expect(blob.hostname).toBe('127.0.0.1');
      expect(await probe('127.0.0.1', port)).toBe('connected');
      const external = Object.values(networkInterfaces())
        .flat()
        .filter((i) => i && i.family === 'IPv4' && !i.internal)
        .map((i) => i!.address);
      for (const addr of external) {
        expect(await probe(addr, port)).toBe('ECONNREFUSED');
        expect(await probe(addr, Number(blob.port))).toBe('ECONNREFUSED');
      }
      if (existsSync('/proc/net/tcp')) {
        // Every listening socket on these ports is bound to 127.0.0.1 (0100007F), whatever interfaces exist.
        const rows = readFileSync('/proc/net/tcp', 'utf8')
          .split('\n')
          .slice(1)
          .map((l) => l.trim().split(/\s+/));
        const listening = rows.filter((r) => r[3] === '0A').map((r) => r[1]);
        for (const p of [port, Number(blob.port)]) {
          const hex = p.toString(16).toUpperCase().padStart(4, '0');
          const mine = listening.filter((a) => a.endsWith(`:${hex}`));
          expect(mine.length).toBeGreaterThan(0);
          expect(mine.every((a) => a === `0100007F:${hex}`)).toBe(true);
        }
      }
    } finally {
      await h.close();
    }
    expect(await probe('127.0.0.1', port)).toBe('ECONNREFUSED');
    expect(await probe('127.0.0.1', Number(blob.port))).toBe('ECONNREFUSED');
  });

  test('when a CA is given by option or by ML_EMULATOR_CA_DIR, then the TLS leaf is signed by it', async () => {
    const dir = await tempDir('emu-ca-');
    const ca = await writeCaDir(dir);
    expect(await readCaDir(dir)).toEqual(ca);
    expect(statSync(join(dir, 'ca.key')).mode & 0o077).toBe(0);

    const byOption = await emulator(azurite, { ca: await generateCa() });
    expect((await call(byOption, 'GET', `${byOption.url}/_emulator/health`)).status).toBe(200);
    await expect(call({ caFile: join(dir, 'ca.pem') }, 'GET', `${byOption.url}/_emulator/health`)).rejects.toThrow(
      /certificate/,
    );

    const saved = process.env[CA_DIR_ENV];
    process.env[CA_DIR_ENV] = dir;
    try {
      const byEnv = await emulator(azurite);
      expect(byEnv.caFile).toBe(join(dir, 'ca.pem'));
      expect(byEnv.env.NODE_EXTRA_CA_CERTS).toBe(join(dir, 'ca.pem'));
      expect((await call({ caFile: join(dir, 'ca.pem') }, 'GET', `${byEnv.url}/_emulator/health`)).json.status).toBe(
        'ok',
      );
      const viaLocalhost = await call(
        { caFile: join(dir, 'ca.pem') },
        'GET',
        `${byEnv.url.replace('127.0.0.1', 'localhost')}/_emulator/health`,
      );
      expect(viaLocalhost.status).toBe(200);
    } finally {
      if (saved === undefined) delete process.env[CA_DIR_ENV];
      else process.env[CA_DIR_ENV] = saved;
    }
  });

  test('when verbose logging and inspection record requests, then keys, secrets and SAS signatures never appear', async () => {
    const lines: string[] = [];
    const spy = jest.spyOn(process.stderr, 'write').mockImplementation((chunk: string | Uint8Array) => {
      lines.push(String(chunk));
      return true;
    });
    try {
      const h = await emulator(azurite, { verbose: true });
      const { status } = await runTrainingJob(h);
      const sas = status.Results.output1.SasBlobToken as string;
      await call(h, 'GET', `${h.urls.classicUpdateResource}${sas}`, { bearer: h.keys.classicRetrain.primary });
      await call(
        h,
        'POST',
        `${h.url}/${h.identity.tenant}/oauth2/v2.0/token?client_secret=${encodeURIComponent(h.keys.clientSecret)}`,
        {
          body: new URLSearchParams({
            grant_type: 'client_credentials',
            client_id: h.identity.clientId,
            client_secret: h.keys.clientSecret,
            scope: 'https://management.azure.com/.default',
          }).toString(),
          headers: { 'Content-Type': 'application/x-www-form-urlencoded' },
        },
      );
      const logged = lines.join('');
      const inspected = JSON.stringify(h.inspect());
      const accountKey = /AccountKey=([^;]+)/.exec(h.storage.connectionString)![1];
      const sig = decodeURIComponent(/sig=([^&]+)/.exec(sas)![1]);
      const secrets = [
        h.keys.training.primary,
        h.keys.classicRetrain.primary,
        h.keys.clientSecret,
        h.keys.workspaceToken,
        accountKey,
        sig,
      ];
      for (const s of secrets) {
        expect(logged).not.toContain(s);
        expect(inspected).not.toContain(s);
        expect(logged).not.toContain(encodeURIComponent(s));
      }
      expect(logged).toContain('sig=***');
      expect(logged).toContain('client_secret=***');
      expect(logged).toMatch(
        /POST \/workspaces\/[0-9a-f]{32}\/services\/[0-9a-f]{32}\/jobs\?api-version=2\.0 -> 200 \(bes\.submit/,
      );
    } finally {
      spy.mockRestore();
    }
  });

  test('when the admin API is used, then health, inspect and job faults work without auth', async () => {
    const h = await emulator(azurite);
    await putBlob(h, 'admincheck', 'x.csv', 'x');
    const health = await call(h, 'GET', `${h.url}/_emulator/health`);
    expect(health.json).toEqual({ status: 'ok', url: h.url });
    const insp = await call(h, 'GET', `${h.url}/_emulator/inspect`);
    expect(Object.keys(insp.json).sort()).toEqual(['jobs', 'liveModels', 'requests', 'seed', 'updates']);
    expect(insp.json.liveModels).toEqual(h.inspect().liveModels);
    const bad = await call(h, 'PUT', `${h.url}/_emulator/job-faults`, {
      body: '[1]',
      headers: { 'Content-Type': 'application/json' },
    });
    expect(bad.status).toBe(400);
    expect((await call(h, 'GET', `${h.url}/_emulator/nothing`)).status).toBe(404);
  });

  test('when writeConfig is called, then ADF linked services and emulator.env are written with the expected shapes', async () => {
    const h = await emulator(azurite);
    const dir = await tempDir('emu-cfg-');
    await h.writeConfig(dir);
    const ls = (name: string) => JSON.parse(readFileSync(join(dir, 'linkedService', `${name}.json`), 'utf8'));
    const training = ls('trainingEndpoint');
    expect(training).toEqual({
      name: 'trainingEndpoint',
      type: 'Microsoft.DataFactory/factories/linkedservices',
      properties: {
        type: 'AzureML',
        description: expect.any(String),
        typeProperties: {
          mlEndpoint: `${h.urls.trainingBes}/jobs?api-version=2.0`,
          apiKey: { type: 'SecureString', value: h.keys.training.primary },
        },
      },
    });
    expect(ls('classicScoringEndpoint').properties.typeProperties).toEqual({
      mlEndpoint: `${h.urls.classicRetrainBes}/jobs?api-version=2.0`,
      apiKey: { type: 'SecureString', value: h.keys.classicRetrain.primary },
      updateResourceEndpoint: `${h.url}/workspaces/${h.ids.workspaceId}/webservices/${h.ids.classicWebServiceId}/endpoints/retrain`,
    });
    expect(ls('updatableScoringEndpoint2').properties.typeProperties).toEqual({
      mlEndpoint: `${h.urls.armBes}/jobs?api-version=2.0`,
      apiKey: { type: 'SecureString', value: h.keys.arm.primary },
      updateResourceEndpoint: `${h.url}/subscriptions/${h.identity.subscriptionId}/resourceGroups/Default-MachineLearning-SouthCentralUS/providers/Microsoft.MachineLearning/webServices/myWebService?api-version=2016-05-01-preview`,
      servicePrincipalId: h.identity.clientId,
      servicePrincipalKey: { type: 'SecureString', value: h.keys.clientSecret },
      tenant: 'mycompany.com',
    });
    const storage = ls('StorageLinkedService');
    expect(storage.properties.type).toBe('AzureStorage');
    expect(storage.properties.typeProperties.connectionString).toContain(`BlobEndpoint=${h.storage.blobEndpoint}`);
    expect(statSync(join(dir, 'linkedService', 'trainingEndpoint.json')).mode & 0o077).toBe(0);
    const env = readFileSync(join(dir, 'emulator.env'), 'utf8');
    expect(env).toContain(`AZURE_AUTHORITY_HOST=${h.url}\n`);
    expect(env).toContain(`NODE_EXTRA_CA_CERTS=${h.caFile}\n`);
    expect(h.linkedServices).toEqual({
      trainingEndpoint: training,
      classicScoringEndpoint: ls('classicScoringEndpoint'),
      updatableScoringEndpoint2: ls('updatableScoringEndpoint2'),
      StorageLinkedService: storage,
    });
  });
});
