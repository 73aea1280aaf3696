/* eslint-disable @typescript-eslint/no-unsafe-return -- HTTP bodies are asserted with expect(), not typed. */
/**
 * The emulator against the published contracts (issue 11, point 7). Every ARM response body is validated against the
 * Microsoft.MachineLearning webservices.json of its api-version, checked in from Azure/azure-rest-api-specs under
 * test/fixtures/azure-rest-api-specs (see the README there); the validator is shown to fail on the defects it must
 * catch. Also: the service swagger BES publishes (and ARM's swaggerLocation names), correlation ids on 4xx, and
 * connection strings without BlobEndpoint for the emulator's own account versus an account it cannot reach.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { ClientSecretCredential } from '@azure/identity';
import {
  bearerTokenAuthenticationPolicy,
  createDefaultHttpClient,
  createEmptyPipeline,
  createPipelineRequest,
} from '@azure/core-rest-pipeline';
import type { HttpMethods } from '@azure/core-rest-pipeline';
import type { EmulatorHandle } from '../../emulator';
import type { SwaggerDoc } from '../helpers/swagger-schema';
import { responseSchema, validate } from '../helpers/swagger-schema';
import { call, emulator, getBlob, putBlob, requireExtraCa, uniqueName, useAzurite, waitFor } from './helpers';

const azurite = useAzurite();
const specs = join(__dirname, '..', 'fixtures', 'azure-rest-api-specs');
const VERSIONS = ['2016-05-01-preview', '2017-01-01'] as const;
const doc = (v: string): SwaggerDoc =>
  JSON.parse(readFileSync(join(specs, v, 'webservices.json'), 'utf8')) as SwaggerDoc;
const RG =
  '/subscriptions/{subscriptionId}/resourceGroups/{resourceGroupName}/providers/Microsoft.MachineLearning/webServices';
const RES = `${RG}/{webServiceName}`;
const SUB = '/subscriptions/{subscriptionId}/providers/Microsoft.MachineLearning/webServices';

async function armClient(h: EmulatorHandle) {
  const cred = new ClientSecretCredential(h.identity.tenant, h.identity.clientId, h.keys.clientSecret, {
    authorityHost: h.url,
    disableInstanceDiscovery: true,
  });
  return async (method: HttpMethods, url: string, body?: unknown) => {
    const pipeline = createEmptyPipeline();
    pipeline.addPolicy(
      bearerTokenAuthenticationPolicy({ credential: cred, scopes: 'https://management.azure.com/.default' }),
    );
    const request = createPipelineRequest({ url, method });
    if (body !== undefined) {
      request.body = JSON.stringify(body);
      request.headers.set('Content-Type', 'application/json');
    }
    const res = await pipeline.sendRequest(createDefaultHttpClient(), request);
    return { status: res.status, headers: res.headers, json: res.bodyAsText ? JSON.parse(res.bodyAsText) : undefined };
  };
}

function expectValid(spec: SwaggerDoc, pathKey: string, method: string, status: number, body: unknown): void {
  const schema = responseSchema(spec, pathKey, method, status);
  const errors = schema ? validate(spec, schema, body) : body === undefined ? [] : ['a body where none is declared'];
  if (errors.length) throw new Error(`${method} ${pathKey} ${status}:\n  ${errors.join('\n  ')}`);
}

describe('the schema validator', () => {
  const spec = doc('2017-01-01');
  const example = JSON.parse(readFileSync(join(specs, '2017-01-01', 'examples', 'putWebService.json'), 'utf8'));

  test("when the official example's responses are validated, then they pass", () => {
    expectValid(spec, RES, 'PUT', 200, example.responses['200'].body);
    expectValid(spec, RES, 'PUT', 201, example.responses['201'].body);
  });

  test('when a body has a lower-case column format, no packageType or an undeclared field, then it fails', () => {
    const body = structuredClone(example.responses['200'].body);
    body.properties.output.properties.output1.properties.age.format = 'int32';
    delete body.properties.packageType;
    body.properties.surprise = 1;
    const errors = validate(spec, responseSchema(spec, RES, 'PUT', 200)!, body).join('\n');
    expect(errors).toContain('$.properties.output.properties.output1.properties.age.format: "int32" is not one of');
    expect(errors).toContain("$.properties: required property 'packageType' is missing");
    expect(errors).toContain('$.properties.surprise: property not declared');
  });
});

describe.each(VERSIONS)('ARM responses, api-version %s, against webservices.json', (apiVersion) => {
  const spec = doc(apiVersion);

  test('when a client gets, creates, updates, lists, reads keys of and deletes web services, then every body matches the published schema', async () => {
    const h = await emulator(azurite);
    requireExtraCa(h);
    const armCall = await armClient(h);
    const sub = `${h.url}/subscriptions/${h.identity.subscriptionId}`;
    const res = (name: string) =>
      `${sub}/resourceGroups/${h.identity.resourceGroup}/providers/Microsoft.MachineLearning/webServices/${name}?api-version=${apiVersion}`;

    const got = await armCall('GET', res('myWebService'));
    expect(got.status).toBe(200);
    expectValid(spec, RES, 'GET', 200, got.json);
    const columns = got.json.properties.input.properties.input1.properties;
    expect(columns.age).toEqual({ type: 'Integer', format: 'Int32' });
    expect(columns.income).toEqual({ type: 'Number', format: 'Double' });

    // Create: a GET body turned into a PUT body, as the portal's "export" and SDK samples do.
    const name = uniqueName('ws');
    const { id: _id, name: _n, type: _t, ...putBody } = got.json;
    delete putBody.properties.provisioningState;
    const created = await armCall('PUT', res(name), putBody);
    expect(created.status).toBe(201);
    expect(created.json.properties.packageType).toBe('Graph');
    expectValid(spec, RES, 'PUT', 201, created.json);
    await waitFor(async () => (await armCall('GET', res(name))).json.properties.provisioningState === 'Succeeded');

    const updated = await armCall('PUT', res(name), putBody);
    expect(updated.status).toBe(200);
    expectValid(spec, RES, 'PUT', 200, updated.json);

    const patched = await armCall('PATCH', res(name), { properties: { description: 'patched', packageType: 'Graph' } });
    expect(patched.status).toBe(200);
    expectValid(spec, RES, 'PATCH', 200, patched.json);

    const byRg = await armCall(
      'GET',
      `${sub}/resourceGroups/${h.identity.resourceGroup}/providers/Microsoft.MachineLearning/webServices?api-version=${apiVersion}`,
    );
    expect(byRg.json.value.length).toBeGreaterThanOrEqual(2);
    expectValid(spec, RG, 'GET', 200, byRg.json);
    const bySub = await armCall(
      'GET',
      `${sub}/providers/Microsoft.MachineLearning/webServices?api-version=${apiVersion}`,
    );
    expectValid(spec, SUB, 'GET', 200, bySub.json);

    const keys = await armCall('GET', res(name).replace('?', '/listKeys?'));
    expectValid(spec, `${RES}/listKeys`, 'GET', 200, keys.json);

    const removed = await armCall('DELETE', res(name));
    expect(removed.status).toBe(202);
    expectValid(spec, RES, 'DELETE', 202, removed.json);
  });
});

describe('error responses and the service swagger', () => {
  test('when a request is refused with a 4xx, then the response carries x-ms-correlation-request-id', async () => {
    const h = await emulator(azurite);
    const arm = `${h.url}/subscriptions/${h.identity.subscriptionId}/resourceGroups/${h.identity.resourceGroup}/providers/Microsoft.MachineLearning/webServices/myWebService?api-version=2017-01-01`;
    const refused = [
      await call(h, 'GET', arm), // 401: no token
      await call(h, 'GET', `${h.urls.trainingBes}/jobs/nope?api-version=2.0`, { bearer: h.keys.training.primary }),
      await call(h, 'POST', `${h.urls.trainingBes}/jobs?api-version=2.0`, { bearer: 'wrong', json: {} }),
      await call(h, 'GET', `${h.urls.trainingBes}/jobs/x?api-version=1.0`, { bearer: h.keys.training.primary }),
    ];
    expect(refused.map((r) => r.status)).toEqual([401, 404, 401, 400]);
    for (const r of refused) expect(r.headers['x-ms-correlation-request-id']).toMatch(/\S+/);
  });

  test('when a client reads {service}/swagger.json (also the ARM swaggerLocation), then it gets the service swagger without a key', async () => {
    const h = await emulator(azurite);
    requireExtraCa(h);
    const doc1 = await call(h, 'GET', `${h.urls.trainingBes}/swagger.json?api-version=2.0`);
    expect(doc1.status).toBe(200);
    expect(doc1.json.swagger).toBe('2.0');
    expect(Object.keys(doc1.json.paths)).toEqual(
      expect.arrayContaining([
        '/jobs?api-version=2.0',
        '/jobs/{jobId}/start?api-version=2.0',
        '/jobs/{jobId}?api-version=2.0',
      ]),
    );
    expect(doc1.json.definitions.BatchExecutionRequest.properties.Inputs.properties).toHaveProperty('input1');
    const armCall = await armClient(h);
    const ws = await armCall(
      'GET',
      `${h.url}/subscriptions/${h.identity.subscriptionId}/resourceGroups/${h.identity.resourceGroup}/providers/Microsoft.MachineLearning/webServices/myWebService?api-version=2017-01-01`,
    );
    const doc2 = await call(h, 'GET', `${ws.json.properties.swaggerLocation as string}?api-version=2.0`);
    expect(doc2.status).toBe(200);
    expect(doc2.json.paths).toHaveProperty(['/execute?api-version=2.0&details=true']);
  });
});

describe('storage connection strings without BlobEndpoint', () => {
  async function runJob(h: EmulatorHandle, cs: string) {
    const container = uniqueName('cs');
    await putBlob(h, container, 'input/train.csv', 'age,label\n42,1\n');
    await putBlob(h, container, 'input/extra.csv', 'a\n1\n');
    const own = h.storage.connectionString;
    const body = {
      Inputs: {
        input1: { ConnectionString: cs, RelativeLocation: `${container}/input/train.csv` },
        input2: { ConnectionString: own, RelativeLocation: `${container}/input/extra.csv` },
      },
      Outputs: {
        output1: { ConnectionString: own, RelativeLocation: `${container}/output/model.ilearner` },
        output2: { ConnectionString: own, RelativeLocation: `${container}/output/eval.csv` },
      },
      GlobalParameters: {},
    };
    const key = h.keys.training.primary;
    const base = h.urls.trainingBes;
    const jobId = (await call(h, 'POST', `${base}/jobs?api-version=2.0`, { bearer: key, json: body })).json as string;
    await call(h, 'POST', `${base}/jobs/${jobId}/start?api-version=2.0`, { bearer: key });
    const status = await waitFor(async () => {
      const r = await call(h, 'GET', `${base}/jobs/${jobId}?api-version=2.0`, { bearer: key });
      return ['Finished', 'Failed'].includes(r.json.StatusCode) ? r.json : null;
    });
    return { status, container };
  }

  test("when the account is the emulator's own, then it resolves to its Azurite and the job reads the blob", async () => {
    const h = await emulator(azurite, { jobs: { runningMs: 100 } });
    const key = /AccountKey=([^;]+)/.exec(h.storage.connectionString)![1];
    const cs = `DefaultEndpointsProtocol=https;AccountName=${h.storage.accountName};AccountKey=${key}`;
    const { status, container } = await runJob(h, cs);
    expect(status.StatusCode).toBe('Finished');
    expect(await getBlob(h, container, 'output/model.ilearner')).toContain('ilearner');
  });

  test('when the account is not reachable, then the job fails saying so, not BlobNotFound', async () => {
    const h = await emulator(azurite, { jobs: { runningMs: 100 } });
    const cs = 'DefaultEndpointsProtocol=https;AccountName=someoneelse;AccountKey=a2V5a2V5a2V5';
    const { status } = await runJob(h, cs);
    expect(status.StatusCode).toBe('Failed');
    expect(status.Details).toContain("The remote name could not be resolved: 'someoneelse.blob.core.windows.net'");
    expect(status.Details).not.toContain('BlobNotFound');
    // The emulator never sent a request there: its request log only has its own routes, and no socket left loopback.
    expect(h.inspect().requests.every((r) => r.route !== null)).toBe(true);
  });
});
