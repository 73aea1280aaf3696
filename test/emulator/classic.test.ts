/* eslint-disable @typescript-eslint/no-explicit-any, @typescript-eslint/no-unsafe-return -- HTTP bodies are asserted with expect(), not typed. */
import { MODEL_HEADER } from '../../emulator';
import type { EmulatorHandle } from '../../emulator';
import { call, emulator, runTrainingJob, useAzurite, waitFor } from './helpers';

const azurite = useAzurite();

function score(h: EmulatorHandle, url = h.urls.classicScore, key = h.keys.classicRetrain.primary) {
  return call(h, 'POST', url, {
    bearer: key,
    json: { Inputs: { input1: { ColumnNames: ['a'], Values: [['1']] } }, GlobalParameters: {} },
  });
}

/** The PATCH body the retraining docs send: the .ilearner output's Results entry as the resource Location. */
function patchBody(name: string, result: any) {
  return {
    Resources: [
      {
        Name: name,
        Location: {
          BaseLocation: result.BaseLocation,
          RelativeLocation: result.RelativeLocation,
          SasBlobToken: result.SasBlobToken,
        },
      },
    ],
  };
}

describe('classic management API', () => {
  test('when web services and endpoints are listed, then both services, both endpoints, keys and Resources are returned', async () => {
    const h = await emulator(azurite);
    const ws = `${h.url}/workspaces/${h.ids.workspaceId}/webservices`;
    const list = await call(h, 'GET', ws, { bearer: h.keys.workspaceToken });
    expect(list.status).toBe(200);
    expect(list.json).toHaveLength(2);
    expect(list.json.find((w: any) => w.Id === h.ids.classicWebServiceId)).toMatchObject({
      WorkspaceId: h.ids.workspaceId,
      DefaultEndpointName: 'default',
    });
    const one = await call(h, 'GET', `${ws}/${h.ids.classicWebServiceId}`, { bearer: h.keys.classicRetrain.primary });
    expect(one.json).toMatchObject({ Id: h.ids.classicWebServiceId, DefaultEndpointName: 'default' });

    const eps = await call(h, 'GET', `${ws}/${h.ids.classicWebServiceId}/endpoints`, { bearer: h.keys.workspaceToken });
    expect(eps.json.map((e: any) => e.Name).sort()).toEqual(['default', 'retrain']);
    const retrain = eps.json.find((e: any) => e.Name === 'retrain');
    expect(retrain).toMatchObject({
      WebServiceId: h.ids.classicWebServiceId,
      PrimaryKey: h.keys.classicRetrain.primary,
      ApiLocation: h.urls.classicRetrainBes,
      Resources: [
        {
          Name: 'ADFV2Sample Model [trained model]',
          Kind: 'TrainedModel',
          Location: expect.objectContaining({ SasBlobToken: expect.stringMatching(/^\?/) }),
        },
      ],
    });
  });

  test('when an endpoint is addressed by name or by id, then GET returns the same endpoint', async () => {
    const h = await emulator(azurite);
    const byName = await call(h, 'GET', h.urls.classicUpdateResource, { bearer: h.keys.classicRetrain.primary });
    const byId = await call(
      h,
      'GET',
      h.urls.classicUpdateResource.replace(/retrain$/, h.ids.classicRetrainEndpointId),
      {
        bearer: h.keys.classicRetrain.primary,
      },
    );
    expect(byName.status).toBe(200);
    expect(byId.json).toEqual(byName.json);
  });

  test('when the non-default endpoint is PATCHed with a trained model, then 200, the Location changes and scoring answers with the new model', async () => {
    const h = await emulator(azurite);
    const { jobId, status } = await runTrainingJob(h);
    expect((await score(h)).headers[MODEL_HEADER]).toBe('initial');
    const r = await call(h, 'PATCH', h.urls.classicUpdateResource, {
      bearer: h.keys.classicRetrain.primary,
      json: patchBody(h.ids.trainedModelName, status.Results.output1),
    });
    expect(r.status).toBe(200);
    expect(r.text).toBe('');
    const ep = await call(h, 'GET', h.urls.classicUpdateResource, { bearer: h.keys.classicRetrain.primary });
    expect(ep.json.Resources[0].Location.RelativeLocation).toBe(status.Results.output1.RelativeLocation);
    const scored = await score(h);
    expect(scored.headers[MODEL_HEADER]).toBe(jobId);
    expect(scored.json.Results.output1.value.Values[0][3]).toBe(jobId);
    // The default endpoint keeps its model.
    expect((await score(h, h.urls.classicDefaultScore, h.keys.classicDefault.primary)).headers[MODEL_HEADER]).toBe(
      'initial',
    );
    const insp = h.inspect();
    const target = `${h.ids.workspaceId}/${h.ids.classicWebServiceId}/retrain`;
    expect(insp.liveModels[target]).toBe(jobId);
    expect(insp.updates).toEqual([
      expect.objectContaining({ kind: 'classic', target, resourceName: h.ids.trainedModelName, modelJobId: jobId }),
    ]);
    expect(insp.updates[0].blobUrl).not.toContain('sig=');
  });

  test('when an activation delay is configured, then the old model answers until the delay has passed', async () => {
    const h = await emulator(azurite, { classic: { activationDelayMs: 1000 } });
    const { jobId, status } = await runTrainingJob(h);
    const patchedAt = Date.now();
    const r = await call(h, 'PATCH', h.urls.classicUpdateResource, {
      bearer: h.keys.classicRetrain.primary,
      json: patchBody(h.ids.trainedModelName, status.Results.output1),
    });
    expect(r.status).toBe(200);
    expect((await score(h)).headers[MODEL_HEADER]).toBe('initial');
    await waitFor(async () => (await score(h)).headers[MODEL_HEADER] === jobId);
    expect(Date.now() - patchedAt).toBeGreaterThanOrEqual(950);
  });

  test('when the default endpoint is PATCHed, then 400 BadArgument (or the configured error) and nothing changes', async () => {
    const h = await emulator(azurite);
    const { status } = await runTrainingJob(h);
    const r = await call(h, 'PATCH', h.urls.classicDefaultUpdateResource, {
      bearer: h.keys.classicDefault.primary,
      json: patchBody(h.ids.trainedModelName, status.Results.output1),
    });
    expect(r.status).toBe(400);
    expect(r.json.error.code).toBe('BadArgument');
    expect(r.json.error.message).toContain('default endpoint');
    expect(h.inspect().updates).toHaveLength(0);

    const custom = await emulator(azurite, {
      classic: { defaultEndpointPatchError: { status: 409, code: 'Conflict' } },
    });
    const r2 = await call(custom, 'PATCH', custom.urls.classicDefaultUpdateResource, {
      bearer: custom.keys.workspaceToken,
      json: patchBody(custom.ids.trainedModelName, status.Results.output1),
    });
    expect(r2.status).toBe(409);
    expect(r2.json.error.code).toBe('Conflict');
  });

  test('when the resource Name is unknown, then 400 naming the updatable resources', async () => {
    const h = await emulator(azurite);
    const { status } = await runTrainingJob(h);
    const r = await call(h, 'PATCH', h.urls.classicUpdateResource, {
      bearer: h.keys.classicRetrain.primary,
      json: patchBody('Some Other Model [trained model]', status.Results.output1),
    });
    expect(r.status).toBe(400);
    expect(r.json.error.code).toBe('BadArgument');
    expect(r.json.error.message).toContain(h.ids.trainedModelName);
  });

  test('when the SAS is tampered, expired or the blob is missing, then 400 and the live model is unchanged', async () => {
    const h = await emulator(azurite, { jobs: { sasTtlSeconds: 1 } });
    const { status } = await runTrainingJob(h);
    const good = status.Results.output1;
    const tampered = { ...good, SasBlobToken: good.SasBlobToken.replace(/sig=[^&]+/, 'sig=AAAA') };
    const missing = { ...good, RelativeLocation: good.RelativeLocation.replace('model.ilearner', 'gone.ilearner') };
    const noSas = { ...good, SasBlobToken: '' };
    for (const loc of [tampered, missing, noSas]) {
      const r = await call(h, 'PATCH', h.urls.classicUpdateResource, {
        bearer: h.keys.classicRetrain.primary,
        json: patchBody(h.ids.trainedModelName, loc),
      });
      expect(r.status).toBe(400);
      expect(r.json.error.code).toBe('BadArgument');
      expect(r.text).not.toContain('sig=');
    }
    await new Promise((r) => setTimeout(r, 2100));
    const expired = await call(h, 'PATCH', h.urls.classicUpdateResource, {
      bearer: h.keys.classicRetrain.primary,
      json: patchBody(h.ids.trainedModelName, good),
    });
    expect(expired.status).toBe(400);
    expect(expired.json.error.message).toContain('403');
    expect(Object.values(h.inspect().liveModels).every((m) => m === 'initial')).toBe(true);
  });

  test('when the key is missing, wrong or belongs to another endpoint, then 401 ManagementRequestUnauthorized', async () => {
    const h = await emulator(azurite);
    for (const bearer of [undefined, 'nope', h.keys.classicDefault.primary, h.keys.training.primary]) {
      const r = await call(h, 'PATCH', h.urls.classicUpdateResource, { bearer, json: { Resources: [] } });
      expect(r.status).toBe(401);
      expect(r.json.error.code).toBe('ManagementRequestUnauthorized');
    }
    expect((await call(h, 'GET', h.urls.classicUpdateResource, { bearer: 'nope' })).status).toBe(401);
    // The workspace authorization token may manage any endpoint.
    expect(
      (await call(h, 'PATCH', h.urls.classicUpdateResource, { bearer: h.keys.workspaceToken, json: { Resources: [] } }))
        .status,
    ).toBe(200);
  });

  test('when the workspace, web service or endpoint does not exist, then 404 with the management error shape', async () => {
    const h = await emulator(azurite);
    const bearer = h.keys.workspaceToken;
    const other = '0'.repeat(32);
    const cases: [string, string][] = [
      [`${h.url}/workspaces/${other}/webservices`, 'WorkspaceNotFound'],
      [`${h.url}/workspaces/${h.ids.workspaceId}/webservices/${other}`, 'WebServiceIdNotFoundInWorkspace'],
      [h.urls.classicUpdateResource.replace(/retrain$/, 'nosuchendpoint'), 'EndpointNotFound'],
    ];
    for (const [url, code] of cases) {
      const r = await call(h, 'GET', url, { bearer });
      expect(r.status).toBe(404);
      expect(r.json).toEqual({ error: { code, message: expect.any(String) } });
      expect(r.headers['x-ms-request-id']).toBeTruthy();
    }
    const p = await call(h, 'PATCH', h.urls.classicUpdateResource.replace(/retrain$/, 'nosuchendpoint'), {
      bearer,
      json: { Resources: [] },
    });
    expect(p.status).toBe(404);
  });

  test('when patchSuccessStatus is 204, then a successful PATCH answers 204', async () => {
    const h = await emulator(azurite, { classic: { patchSuccessStatus: 204 } });
    const { status, jobId } = await runTrainingJob(h);
    const r = await call(h, 'PATCH', h.urls.classicUpdateResource, {
      bearer: h.keys.classicRetrain.primary,
      json: patchBody(h.ids.trainedModelName, status.Results.output1),
    });
    expect(r.status).toBe(204);
    expect((await score(h)).headers[MODEL_HEADER]).toBe(jobId);
  });

  test('when a new endpoint is PUT, then it gets its own keys, runtime URL and the current model', async () => {
    const h = await emulator(azurite);
    const url = h.urls.classicUpdateResource.replace(/retrain$/, 'endpoint2');
    const r = await call(h, 'PUT', url, {
      bearer: h.keys.workspaceToken,
      json: { Description: 'second', ThrottleLevel: 'Low', MaxConcurrentCalls: 4 },
    });
    expect(r.status).toBe(200);
    expect(r.json).toMatchObject({
      Name: 'endpoint2',
      Description: 'second',
      ThrottleLevel: 'Low',
      MaxConcurrentCalls: 4,
    });
    expect(r.json.PrimaryKey).not.toBe(h.keys.classicRetrain.primary);
    const scored = await score(h, `${r.json.ApiLocation}/execute?api-version=2.0&details=true`, r.json.PrimaryKey);
    expect(scored.status).toBe(200);
    expect(scored.headers[MODEL_HEADER]).toBe('initial');
    const bad = await call(h, 'PUT', h.urls.classicUpdateResource.replace(/retrain$/, 'Bad_Name'), {
      bearer: h.keys.workspaceToken,
      json: {},
    });
    expect(bad.status).toBe(400);
  });
});
