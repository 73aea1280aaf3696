// Over 450 lines: one file per emulated API keeps the BES contract's cases (submit, start, poll, delete, errors) together.
/* eslint-disable @typescript-eslint/no-explicit-any, @typescript-eslint/no-unsafe-return -- HTTP bodies are asserted with expect(), not typed. */
import {
  BlobClient,
  BlockBlobClient,
  ContainerSASPermissions,
  generateBlobSASQueryParameters,
  StorageSharedKeyCredential,
} from '@azure/storage-blob';
import { MODEL_HEADER } from '../../emulator';
import {
  call,
  emulator,
  getBlob,
  putBlob,
  runTrainingJob,
  trainingRequest,
  uniqueName,
  useAzurite,
  waitFor,
} from './helpers';

const azurite = useAzurite();
const V = '?api-version=2.0';

async function submit(h: any, body: unknown, base = h.urls.trainingBes, key = h.keys.training.primary) {
  return call(h, 'POST', `${base}/jobs${V}`, { bearer: key, json: body });
}

async function status(h: any, jobId: string, base = h.urls.trainingBes, key = h.keys.training.primary) {
  return call(h, 'GET', `${base}/jobs/${jobId}${V}`, { bearer: key });
}

describe('BES api-version 2.0', () => {
  test('when a training job is submitted, started and polled, then it goes NotStarted, Running, Finished and writes both outputs', async () => {
    const h = await emulator(azurite, { jobs: { runningMs: 600 } });
    const { body, container } = await trainingRequest(h);
    const sub = await submit(h, body);
    expect(sub.status).toBe(200);
    expect(sub.headers['content-type']).toMatch(/^application\/json/);
    expect(sub.text).toMatch(/^"[0-9a-f]{32}"$/);
    const jobId = sub.json as string;

    const before = await status(h, jobId);
    expect(before.json).toEqual({ StatusCode: 'NotStarted', Results: null, Details: null });
    expect(before.headers['x-ms-request-id']).toBeTruthy();

    const start = await call(h, 'POST', `${h.urls.trainingBes}/jobs/${jobId}/start${V}`, {
      bearer: h.keys.training.primary,
    });
    expect(start.status).toBe(204);
    expect((await status(h, jobId)).json).toEqual({ StatusCode: 'Running', Results: null, Details: null });

    const done = await waitFor(async () => {
      const r = await status(h, jobId);
      return r.json.StatusCode === 'Finished' ? r.json : null;
    });
    expect(done.Details).toBeNull();
    expect(Object.keys(done.Results).sort()).toEqual(['output1', 'output2']);
    const model = done.Results.output1;
    expect(model.ConnectionString).toBeNull();
    expect(model.BaseLocation).toBe(`${h.storage.blobEndpoint}/`);
    expect(model.RelativeLocation).toBe(`${container}/output/model.ilearner`);
    expect(model.SasBlobToken).toMatch(/^\?.*sp=r(&|$)/);

    const ilearner = JSON.parse(await getBlob(h, container, 'output/model.ilearner'));
    expect(ilearner).toMatchObject({ jobId, service: expect.stringContaining(h.ids.trainingServiceId) });
    expect(await getBlob(h, container, 'output/eval.csv')).toBe('AUC,Accuracy\n0.91,0.87\n');

    const job = h.inspect().jobs.find((j) => j.jobId === jobId)!;
    expect(job).toMatchObject({ status: 'Finished', submitted: 1, started: 1, cancelled: 0 });
    expect(job.service).toBe(`workspaces/${h.ids.workspaceId}/services/${h.ids.trainingServiceId}`);
  });

  test('when the Results SAS is used with the storage SDK, then the model downloads and writing through it is refused', async () => {
    const h = await emulator(azurite);
    const { status: s, jobId } = await runTrainingJob(h);
    const r = s.Results.output1;
    const client = new BlobClient(`${r.BaseLocation}${r.RelativeLocation}${r.SasBlobToken}`);
    const content = JSON.parse((await client.downloadToBuffer()).toString('utf8'));
    expect(content.jobId).toBe(jobId);
    const writer = new BlockBlobClient(`${r.BaseLocation}${r.RelativeLocation}${r.SasBlobToken}`);
    await expect(writer.upload('x', 1)).rejects.toMatchObject({ statusCode: 403 });
  });

  test('when the Results SAS has expired, then a new status GET returns a fresh SAS that works', async () => {
    const h = await emulator(azurite, { jobs: { sasTtlSeconds: 1 } });
    const { jobId, status: first } = await runTrainingJob(h);
    const r1 = first.Results.output1;
    await new Promise((r) => setTimeout(r, 2100));
    await expect(
      new BlobClient(`${r1.BaseLocation}${r1.RelativeLocation}${r1.SasBlobToken}`).downloadToBuffer(),
    ).rejects.toMatchObject({
      statusCode: 403,
    });
    const r2 = (await status(h, jobId)).json.Results.output1;
    expect(r2.SasBlobToken).not.toBe(r1.SasBlobToken);
    const buf = await new BlobClient(`${r2.BaseLocation}${r2.RelativeLocation}${r2.SasBlobToken}`).downloadToBuffer();
    expect(JSON.parse(buf.toString('utf8')).jobId).toBe(jobId);
  });

  test('when the ARM (subscription) URL shape is used, then the same training service runs the job', async () => {
    const h = await emulator(azurite);
    expect(h.urls.trainingBesArmShape).toContain(
      `/subscriptions/${h.identity.subscriptionId.replace(/-/g, '')}/services/`,
    );
    const { status: s, jobId } = await runTrainingJob(h, h.urls.trainingBesArmShape);
    expect(s.StatusCode).toBe('Finished');
    const job = h.inspect().jobs.find((j) => j.jobId === jobId)!;
    expect(job.service).toMatch(/^subscriptions\/[0-9a-f]{32}\/services\//);
    // The dashed subscription id is not a valid runtime URL.
    const dashed = h.urls.trainingBesArmShape.replace(
      h.identity.subscriptionId.replace(/-/g, ''),
      h.identity.subscriptionId,
    );
    expect((await call(h, 'GET', `${dashed}/jobs/${jobId}${V}`, { bearer: h.keys.training.primary })).status).toBe(404);
  });

  test('when no Outputs override is given, then outputs go to experimentoutput/{jobId}/ in the default account', async () => {
    const h = await emulator(azurite);
    const { body } = await trainingRequest(h);
    delete body.Outputs;
    const jobId = (await submit(h, body)).json;
    await call(h, 'POST', `${h.urls.trainingBes}/jobs/${jobId}/start${V}`, { bearer: h.keys.training.primary });
    const done = await waitFor(async () =>
      (await status(h, jobId)).json.StatusCode === 'Finished' ? (await status(h, jobId)).json : null,
    );
    expect(done.Results.output1.RelativeLocation).toMatch(
      new RegExp(`^experimentoutput/${jobId}/[0-9a-f]{32}\\.ilearner$`),
    );
    expect(done.Results.output2.RelativeLocation).toMatch(new RegExp(`^experimentoutput/${jobId}/[0-9a-f]{32}\\.csv$`));
    const r = done.Results.output1;
    const buf = await new BlobClient(`${r.BaseLocation}${r.RelativeLocation}${r.SasBlobToken}`).downloadToBuffer();
    expect(JSON.parse(buf.toString()).jobId).toBe(jobId);
  });

  test('when inputs and outputs are given as BaseLocation + SasBlobToken, then the job reads and writes through the SAS', async () => {
    const h = await emulator(azurite);
    const container = uniqueName('sas');
    await putBlob(h, container, 'in/a.csv', 'x\n1\n');
    await putBlob(h, container, 'in/b.tsv', 'y\t2\n');
    const cred = new StorageSharedKeyCredential(
      h.storage.accountName,
      /AccountKey=([^;]+)/.exec(h.storage.connectionString)![1],
    );
    const sas = generateBlobSASQueryParameters(
      {
        containerName: container,
        permissions: ContainerSASPermissions.parse('rcw'),
        expiresOn: new Date(Date.now() + 3600_000),
      },
      cred,
    ).toString();
    const ref = (rel: string) => ({
      ConnectionString: null,
      BaseLocation: `${h.storage.blobEndpoint}/`,
      RelativeLocation: rel,
      SasBlobToken: `?${sas}`,
    });
    const body = {
      Inputs: { input1: ref(`${container}/in/a.csv`), input2: ref(`${container}/in/b.tsv`) },
      Outputs: { output1: ref(`${container}/out/m.ilearner`), output2: ref(`${container}/out/e.arff`) },
      GlobalParameters: null,
    };
    const jobId = (await submit(h, body)).json;
    await call(h, 'POST', `${h.urls.trainingBes}/jobs/${jobId}/start${V}`, { bearer: h.keys.training.primary });
    await waitFor(async () => (await status(h, jobId)).json.StatusCode === 'Finished');
    expect(JSON.parse(await getBlob(h, container, 'out/m.ilearner')).jobId).toBe(jobId);
  });

  test('when the key is missing or wrong, then 401 ScoreRequestUnauthorized, and the secondary key works', async () => {
    const h = await emulator(azurite);
    const { body } = await trainingRequest(h);
    const noKey = await call(h, 'POST', `${h.urls.trainingBes}/jobs${V}`, { json: body });
    expect(noKey.status).toBe(401);
    for (const key of ['wrong', h.keys.classicRetrain.primary]) {
      const r = await submit(h, body, h.urls.trainingBes, key);
      expect(r.status).toBe(401);
      expect(r.json.error.code).toBe('Unauthorized');
      expect(r.json.error.details[0].code).toBe('ScoreRequestUnauthorized');
    }
    expect((await submit(h, body, h.urls.trainingBes, h.keys.training.secondary)).status).toBe(200);
  });

  test('when input or output names do not match the service, then 400 with InvalidInputNames, BatchJobInputsNotSpecified or InvalidOutputOverrideName', async () => {
    const h = await emulator(azurite);
    const { body } = await trainingRequest(h);
    const unknownInput = { ...body, Inputs: { ...body.Inputs, Input3: body.Inputs.input1 } };
    let r = await submit(h, unknownInput);
    expect(r.status).toBe(400);
    expect(r.json.error).toMatchObject({ code: 'BadArgument', message: 'Invalid argument provided.' });
    expect(r.json.error.details[0]).toMatchObject({ code: 'InvalidInputNames', target: 'Input3' });

    r = await submit(h, { ...body, Inputs: { input1: body.Inputs.input1 } });
    expect(r.status).toBe(400);
    expect(r.json.error.details[0]).toMatchObject({ code: 'BatchJobInputsNotSpecified', target: 'input2' });

    r = await submit(h, { ...body, Outputs: { Output1: body.Outputs.output1 } });
    expect(r.status).toBe(400);
    expect(r.json.error.details[0]).toMatchObject({ code: 'InvalidOutputOverrideName', target: 'Output1' });
    expect(h.inspect().jobs).toHaveLength(0);
  });

  test('when an output or input has the wrong extension, then 400 InvalidBlobExtension naming the port', async () => {
    const h = await emulator(azurite);
    const { body, container } = await trainingRequest(h);
    const cs = h.storage.connectionString;
    let r = await submit(h, {
      ...body,
      Outputs: { ...body.Outputs, output1: { ConnectionString: cs, RelativeLocation: `${container}/m.csv` } },
    });
    expect(r.status).toBe(400);
    expect(r.json.error.details[0]).toMatchObject({ code: 'InvalidBlobExtension', target: 'output1' });
    expect(r.json.error.details[0].message).toContain('.ilearner');

    r = await submit(h, {
      ...body,
      Outputs: { ...body.Outputs, output2: { ConnectionString: cs, RelativeLocation: `${container}/e.ilearner` } },
    });
    expect(r.json.error.details[0]).toMatchObject({ code: 'InvalidBlobExtension', target: 'output2' });

    await putBlob(h, container, 'input/train.txt', 'x');
    const txtInput = {
      ...body,
      Inputs: { ...body.Inputs, input1: { ConnectionString: cs, RelativeLocation: `${container}/input/train.txt` } },
    };
    r = await submit(h, txtInput);
    expect(r.json.error.details[0]).toMatchObject({ code: 'InvalidBlobExtension', target: 'input1' });

    const lenient = await emulator(azurite, { jobs: { checkInputExtensions: false } });
    const ok = await call(lenient, 'POST', `${lenient.urls.trainingBes}/jobs${V}`, {
      bearer: lenient.keys.training.primary,
      json: txtInput,
    });
    expect(ok.status).toBe(200);
  });

  test('when both Input and Inputs are sent, then 400 DuplicateInputInBatchCall', async () => {
    const h = await emulator(azurite);
    const { body } = await trainingRequest(h);
    const r = await submit(h, { ...body, Input: body.Inputs.input1 });
    expect(r.status).toBe(400);
    expect(r.json.error.code).toBe('BadArgument');
    expect(r.json.error.details[0].code).toBe('DuplicateInputInBatchCall');
  });

  test('when an input blob does not exist, then by default the job ends Failed with BlobNotFound in Details', async () => {
    const h = await emulator(azurite);
    const { body, container } = await trainingRequest(h);
    body.Inputs.input2.RelativeLocation = `${container}/input/missing.csv`;
    const jobId = (await submit(h, body)).json;
    await call(h, 'POST', `${h.urls.trainingBes}/jobs/${jobId}/start${V}`, { bearer: h.keys.training.primary });
    const failed = await waitFor(async () => {
      const r = await status(h, jobId);
      return r.json.StatusCode === 'Failed' ? r.json : null;
    });
    expect(failed.Results).toBeNull();
    expect(failed.Details).toContain('BlobNotFound');
    expect(failed.Details).toContain(`${container}/input/missing.csv`);
  });

  test('when an input blob does not exist and inputBlobCheck is submit, then submit answers 400 BlobNotFound', async () => {
    const h = await emulator(azurite, { jobs: { inputBlobCheck: 'submit' } });
    const { body, container } = await trainingRequest(h);
    body.Inputs.input1.RelativeLocation = `${container}/input/nope.csv`;
    const r = await submit(h, body);
    expect(r.status).toBe(400);
    expect(r.json.error.details[0]).toMatchObject({ code: 'BlobNotFound', target: 'input1' });
  });

  test('when the body is empty, not JSON or has a bad api-version, then 400 with RequestIsEmpty, RequestBodyInvalid or BadVersionCall', async () => {
    const h = await emulator(azurite);
    const key = h.keys.training.primary;
    let r = await call(h, 'POST', `${h.urls.trainingBes}/jobs${V}`, {
      bearer: key,
      body: '',
      headers: { 'Content-Type': 'application/json' },
    });
    expect(r.json.error.details[0].code).toBe('RequestIsEmpty');
    r = await call(h, 'POST', `${h.urls.trainingBes}/jobs${V}`, {
      bearer: key,
      body: '{"Inputs":',
      headers: { 'Content-Type': 'application/json' },
    });
    expect(r.json.error.details[0].code).toBe('RequestBodyInvalid');
    const { body } = await trainingRequest(h);
    r = await call(h, 'POST', `${h.urls.trainingBes}/jobs?api-version=2014-10-01`, { bearer: key, json: body });
    expect(r.status).toBe(400);
    expect(r.json.error.details[0].code).toBe('BadVersionCall');
    // A missing api-version is read as 2.0 (some clients omitted it).
    expect((await call(h, 'POST', `${h.urls.trainingBes}/jobs`, { bearer: key, json: body })).status).toBe(200);
  });

  test('when a job is started twice, then the second start is 400 CannotStartJob and the start counter shows both', async () => {
    const h = await emulator(azurite, { jobs: { runningMs: 2000 } });
    const { body } = await trainingRequest(h);
    const jobId = (await submit(h, body)).json;
    const url = `${h.urls.trainingBes}/jobs/${jobId}/start${V}`;
    expect((await call(h, 'POST', url, { bearer: h.keys.training.primary })).status).toBe(204);
    const again = await call(h, 'POST', url, { bearer: h.keys.training.primary });
    expect(again.status).toBe(400);
    expect(again.json.error.code).toBe('InvalidOperation');
    expect(again.json.error.details[0]).toMatchObject({ code: 'CannotStartJob' });
    expect(again.json.error.details[0].message).toContain('Running');
    expect(h.inspect().jobs[0].started).toBe(2);
  });

  test('when a job id or service id is unknown, then 404 NotFound for status, start and cancel', async () => {
    const h = await emulator(azurite);
    const key = h.keys.training.primary;
    const missing = 'f'.repeat(32);
    for (const [method, suffix] of [
      ['GET', ''],
      ['POST', '/start'],
      ['DELETE', ''],
    ]) {
      const r = await call(h, method, `${h.urls.trainingBes}/jobs/${missing}${suffix}${V}`, { bearer: key });
      expect(r.status).toBe(404);
      expect(r.json.error).toMatchObject({ code: 'NotFound', details: [{ code: 'JobNotFound' }] });
    }
    const r = await call(h, 'GET', `${h.url}/workspaces/${h.ids.workspaceId}/services/${missing}/jobs/${missing}${V}`, {
      bearer: key,
    });
    expect(r.status).toBe(404);
    expect(r.json.error.details[0].code).toBe('WebServiceNotFound');
  });

  test('when a job is deleted before start, while running and after finishing, then it is Cancelled, Cancelled, and stays Finished', async () => {
    const h = await emulator(azurite, { jobs: { runningMs: 400 } });
    const key = h.keys.training.primary;
    const del = (id: string) => call(h, 'DELETE', `${h.urls.trainingBes}/jobs/${id}${V}`, { bearer: key });

    const a = await trainingRequest(h);
    const notStarted = (await submit(h, a.body)).json;
    expect((await del(notStarted)).status).toBe(204);
    expect((await status(h, notStarted)).json.StatusCode).toBe('Cancelled');
    const cannot = await call(h, 'POST', `${h.urls.trainingBes}/jobs/${notStarted}/start${V}`, { bearer: key });
    expect(cannot.json.error.details[0].message).toContain('Cancelled');

    const b = await trainingRequest(h);
    const running = (await submit(h, b.body)).json;
    await call(h, 'POST', `${h.urls.trainingBes}/jobs/${running}/start${V}`, { bearer: key });
    expect((await del(running)).status).toBe(204);
    await new Promise((r) => setTimeout(r, 600));
    expect((await status(h, running)).json).toEqual({ StatusCode: 'Cancelled', Results: null, Details: null });
    await expect(getBlob(h, b.container, 'output/model.ilearner')).rejects.toMatchObject({ statusCode: 404 });

    const { jobId: finished } = await runTrainingJob(h);
    expect((await del(finished)).status).toBe(204);
    expect((await status(h, finished)).json.StatusCode).toBe('Finished');
    const jobs = h.inspect().jobs;
    expect(jobs.find((j) => j.jobId === running)).toMatchObject({ status: 'Cancelled', cancelled: 1, started: 1 });
    expect(jobs.find((j) => j.jobId === finished)).toMatchObject({ status: 'Finished', cancelled: 1 });
  });

  test('when statusCodeFormat is integer, then StatusCode is 0 to 4', async () => {
    const h = await emulator(azurite, { jobs: { statusCodeFormat: 'integer', runningMs: 500 } });
    const key = h.keys.training.primary;
    const { body } = await trainingRequest(h);
    const jobId = (await submit(h, body)).json;
    expect((await status(h, jobId)).json.StatusCode).toBe(0);
    await call(h, 'POST', `${h.urls.trainingBes}/jobs/${jobId}/start${V}`, { bearer: key });
    expect((await status(h, jobId)).json.StatusCode).toBe(1);
    await waitFor(async () => (await status(h, jobId)).json.StatusCode === 4);

    h.setJobFaults({ failNext: { details: 'boom' } });
    const failed = (await submit(h, (await trainingRequest(h)).body)).json;
    await call(h, 'POST', `${h.urls.trainingBes}/jobs/${failed}/start${V}`, { bearer: key });
    await waitFor(async () => (await status(h, failed)).json.StatusCode === 2);

    const cancelled = (await submit(h, body)).json;
    await call(h, 'DELETE', `${h.urls.trainingBes}/jobs/${cancelled}${V}`, { bearer: key });
    expect((await status(h, cancelled)).json.StatusCode).toBe(3);
  });

  test('when failNext is set for one service, then only that service’s next job fails with the Details text', async () => {
    const h = await emulator(azurite);
    const details =
      'Module: Train Model; errorComponent=Module. taskStatusCode=400. Error 0018: Dataset contains invalid data.';
    h.setJobFaults({ failNext: { details, serviceId: h.ids.trainingServiceId, count: 1 } });
    const first = await runTrainingJob(h);
    expect(first.status).toEqual({ StatusCode: 'Failed', Results: null, Details: details });
    await expect(getBlob(h, first.container, 'output/model.ilearner')).rejects.toMatchObject({ statusCode: 404 });
    const second = await runTrainingJob(h);
    expect(second.status.StatusCode).toBe('Finished');

    h.setJobFaults({ failNext: { details: 'other', serviceId: h.ids.armServiceId } });
    expect((await runTrainingJob(h)).status.StatusCode).toBe('Finished');
  });

  test('when slowNext is set, then the next job runs longer by extraMs', async () => {
    const h = await emulator(azurite, { jobs: { runningMs: 100 } });
    h.setJobFaults({ slowNext: { extraMs: 1200 } });
    const t0 = Date.now();
    await runTrainingJob(h);
    expect(Date.now() - t0).toBeGreaterThanOrEqual(1250);
    const t1 = Date.now();
    await runTrainingJob(h);
    expect(Date.now() - t1).toBeLessThan(1200);
  });

  test('when metrics are configured globally or per job, then the evaluation csv carries them', async () => {
    const h = await emulator(azurite, { jobs: { metrics: { AUC: 0.5, RMSE: 1.25 } } });
    const a = await runTrainingJob(h);
    expect(await getBlob(h, a.container, 'output/eval.csv')).toBe('AUC,RMSE\n0.5,1.25\n');
    h.setJobFaults({ metricsNext: { metrics: { AUC: 0.99 } } });
    const b = await runTrainingJob(h);
    expect(await getBlob(h, b.container, 'output/eval.csv')).toBe('AUC\n0.99\n');
    expect(h.inspect().jobs.find((j) => j.jobId === b.jobId)!.metrics).toEqual({ AUC: 0.99 });
  });

  test('when the same request is submitted twice, then both jobs show submitted 2', async () => {
    const h = await emulator(azurite);
    const { body } = await trainingRequest(h);
    const a = (await submit(h, body)).json;
    const b = (await submit(h, JSON.parse(JSON.stringify(body)))).json;
    expect(a).not.toBe(b);
    const jobs = h.inspect().jobs;
    expect(jobs.map((j) => j.submitted)).toEqual([2, 2]);
  });

  test('when the legacy Input form is sent to a scoring endpoint, then the job scores with the live model', async () => {
    const h = await emulator(azurite);
    const container = uniqueName('score');
    await putBlob(h, container, 'in.csv', 'age,income\n1,2\n');
    const cs = h.storage.connectionString;
    const body = {
      Input: { ConnectionString: cs, RelativeLocation: `${container}/in.csv` },
      Outputs: { output1: { ConnectionString: cs, RelativeLocation: `${container}/scored.csv` } },
    };
    const key = h.keys.classicRetrain.primary;
    const jobId = (await submit(h, body, h.urls.classicRetrainBes, key)).json;
    await call(h, 'POST', `${h.urls.classicRetrainBes}/jobs/${jobId}/start${V}`, { bearer: key });
    await waitFor(async () => (await status(h, jobId, h.urls.classicRetrainBes, key)).json.StatusCode === 'Finished');
    expect(await getBlob(h, container, 'scored.csv')).toContain(',initial');
  });
});

describe('RRS execute', () => {
  test('when the classic and ARM scoring endpoints are called, then they answer with the live model identity in a column and a header', async () => {
    const h = await emulator(azurite);
    const input = {
      Inputs: {
        input1: {
          ColumnNames: ['age', 'income'],
          Values: [
            ['42', '51000'],
            ['23', '12000'],
          ],
        },
      },
      GlobalParameters: {},
    };
    for (const [url, key] of [
      [h.urls.classicScore, h.keys.classicRetrain.primary],
      [h.urls.classicDefaultScore, h.keys.classicDefault.primary],
      [h.urls.armScore, h.keys.arm.primary],
    ]) {
      const r = await call(h, 'POST', url, { bearer: key, json: input });
      expect(r.status).toBe(200);
      expect(r.headers[MODEL_HEADER]).toBe('initial');
      const table = r.json.Results.output1.value;
      expect(table.ColumnNames).toEqual(['age', 'income', 'Scored Labels', 'Scored Probabilities', 'Model']);
      expect(table.Values).toHaveLength(2);
      expect(table.Values[0][4]).toBe('initial');
    }
  });

  test('when RRS is called with a bad key or on the training service, then 401 or 400', async () => {
    const h = await emulator(azurite);
    const input = { Inputs: { input1: { ColumnNames: ['a'], Values: [['1']] } } };
    const bad = await call(h, 'POST', h.urls.classicScore, { bearer: h.keys.classicDefault.primary, json: input });
    expect(bad.status).toBe(401);
    expect(bad.json.error.details[0].code).toBe('ScoreRequestUnauthorized');
    const training = await call(h, 'POST', `${h.urls.trainingBes}/execute${V}`, {
      bearer: h.keys.training.primary,
      json: input,
    });
    expect(training.status).toBe(400);
    expect(training.json.error.code).toBe('InvalidOperation');
  });
});
