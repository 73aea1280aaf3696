// Over 450 lines: one file per emulated API keeps the ARM contract's cases (every verb, api-version, error) together.
/* eslint-disable @typescript-eslint/no-explicit-any, @typescript-eslint/no-unsafe-return -- HTTP bodies are asserted with expect(), not typed. */
import { ClientSecretCredential } from '@azure/identity';
import type { TokenCredential } from '@azure/core-auth';
import {
  bearerTokenAuthenticationPolicy,
  createDefaultHttpClient,
  createEmptyPipeline,
  createPipelineRequest,
} from '@azure/core-rest-pipeline';
import type { HttpMethods } from '@azure/core-rest-pipeline';
import { MODEL_HEADER } from '../../emulator';
import type { EmulatorHandle } from '../../emulator';
import { call, emulator, requireExtraCa, runTrainingJob, useAzurite, waitFor } from './helpers';

const azurite = useAzurite();
const ARM_SCOPE = 'https://management.azure.com/.default';

function credential(
  h: EmulatorHandle,
  tenant = h.identity.tenant,
  secret = h.keys.clientSecret,
): ClientSecretCredential {
  // MSAL's instance discovery otherwise goes to the fixed host login.microsoftonline.com, whatever the authority.
  return new ClientSecretCredential(tenant, h.identity.clientId, secret, {
    authorityHost: h.url,
    disableInstanceDiscovery: true,
  });
}

/** A bare core-rest-pipeline pipeline, as an ARM client built on it would send requests. */
async function arm(cred: TokenCredential, method: HttpMethods, url: string, body?: unknown) {
  const pipeline = createEmptyPipeline();
  pipeline.addPolicy(bearerTokenAuthenticationPolicy({ credential: cred, scopes: ARM_SCOPE }));
  const request = createPipelineRequest({ url, method });
  if (body !== undefined) {
    request.body = JSON.stringify(body);
    request.headers.set('Content-Type', 'application/json');
  }
  const res = await pipeline.sendRequest(createDefaultHttpClient(), request);
  return { status: res.status, headers: res.headers, json: res.bodyAsText ? JSON.parse(res.bodyAsText) : undefined };
}

async function rawToken(
  h: EmulatorHandle,
  form: Record<string, string>,
  path = `/${h.identity.tenant}/oauth2/v2.0/token`,
) {
  return call(h, 'POST', `${h.url}${path}`, {
    body: new URLSearchParams(form).toString(),
    headers: { 'Content-Type': 'application/x-www-form-urlencoded' },
  });
}

function resourceUrl(h: EmulatorHandle, apiVersion = '2016-05-01-preview', name = 'myWebService'): string {
  return `${h.url}/subscriptions/${h.identity.subscriptionId}/resourceGroups/${h.identity.resourceGroup}/providers/Microsoft.MachineLearning/webServices/${name}?api-version=${apiVersion}`;
}

async function pollOperation(cred: TokenCredential, asyncUrl: string) {
  const seen: string[] = [];
  const final = await waitFor(async () => {
    const r = await arm(cred, 'GET', asyncUrl);
    expect(r.status).toBe(200);
    seen.push(r.json.status);
    return r.json.status === 'Provisioning' ? null : r.json;
  });
  return { final, seen };
}

describe('Entra token endpoint', () => {
  test('when ClientSecretCredential uses the emulator as authority host with the tenant domain or GUID, then it gets a token', async () => {
    const h = await emulator(azurite);
    requireExtraCa(h);
    for (const tenant of [h.identity.tenant, h.ids.tenantId]) {
      const token = await credential(h, tenant).getToken(ARM_SCOPE);
      expect(token.token.split('.')).toHaveLength(3);
      expect(token.expiresOnTimestamp).toBeGreaterThan(Date.now() + 3000_000);
    }
    const routes = h.inspect().requests.map((r) => `${r.method} ${r.path.split('?')[0]}`);
    expect(routes).toContain(`GET /${h.identity.tenant}/v2.0/.well-known/openid-configuration`);
    expect(routes).toContain(`POST /${h.ids.tenantId}/oauth2/v2.0/token`);
  });

  test('when AZURE_AUTHORITY_HOST from the emulator env is set, then ClientSecretCredential picks it up', async () => {
    const h = await emulator(azurite);
    requireExtraCa(h);
    const saved = process.env.AZURE_AUTHORITY_HOST;
    process.env.AZURE_AUTHORITY_HOST = h.env.AZURE_AUTHORITY_HOST;
    try {
      const cred = new ClientSecretCredential(h.identity.tenant, h.identity.clientId, h.keys.clientSecret, {
        disableInstanceDiscovery: true,
      });
      expect((await cred.getToken(ARM_SCOPE)).token).toBeTruthy();
    } finally {
      if (saved === undefined) delete process.env.AZURE_AUTHORITY_HOST;
      else process.env.AZURE_AUTHORITY_HOST = saved;
    }
  });

  test('when the client secret is wrong, then 401 invalid_client AADSTS7000215 and the credential fails', async () => {
    const h = await emulator(azurite);
    requireExtraCa(h);
    const r = await rawToken(h, {
      grant_type: 'client_credentials',
      client_id: h.identity.clientId,
      client_secret: 'wrong',
      scope: ARM_SCOPE,
    });
    expect(r.status).toBe(401);
    expect(r.json).toMatchObject({ error: 'invalid_client', error_codes: [7000215] });
    expect(r.json.error_description).toMatch(/^AADSTS7000215: Invalid client secret provided/);
    expect(r.json.trace_id).toBeTruthy();
    await expect(credential(h, h.identity.tenant, 'wrong').getToken(ARM_SCOPE)).rejects.toThrow(
      /invalid_client|AADSTS7000215/,
    );
  });

  test('when the tenant is wrong, then 400 AADSTS90002 on metadata and token, and the credential fails', async () => {
    const h = await emulator(azurite);
    requireExtraCa(h);
    const meta = await call(h, 'GET', `${h.url}/othercompany.com/v2.0/.well-known/openid-configuration`);
    expect(meta.status).toBe(400);
    expect(meta.json).toMatchObject({ error: 'invalid_tenant', error_codes: [90002] });
    const tok = await rawToken(
      h,
      {
        grant_type: 'client_credentials',
        client_id: h.identity.clientId,
        client_secret: h.keys.clientSecret,
        scope: ARM_SCOPE,
      },
      '/othercompany.com/oauth2/v2.0/token',
    );
    expect(tok.status).toBe(400);
    expect(tok.json.error_codes).toEqual([90002]);
    await expect(credential(h, 'othercompany.com').getToken(ARM_SCOPE)).rejects.toThrow();
  });

  test('when the client id, grant or scope is wrong, then Entra-shaped 400s', async () => {
    const h = await emulator(azurite);
    const base = {
      grant_type: 'client_credentials',
      client_id: h.identity.clientId,
      client_secret: h.keys.clientSecret,
      scope: ARM_SCOPE,
    };
    let r = await rawToken(h, { ...base, client_id: '00000000-0000-0000-0000-000000000000' });
    expect(r.json).toMatchObject({ error: 'unauthorized_client', error_codes: [700016] });
    r = await rawToken(h, { ...base, grant_type: 'password' });
    expect(r.json).toMatchObject({ error: 'unsupported_grant_type' });
    r = await rawToken(h, { ...base, scope: 'https://management.azure.com/user_impersonation' });
    expect(r.json).toMatchObject({ error: 'invalid_scope', error_codes: [1002012] });
    r = await rawToken(h, { ...base, client_secret: '' });
    expect(r.status).toBe(401);
    expect(r.json.error_codes).toEqual([7000218]);
  });

  test('when the v1 endpoint is used with resource, then it issues a token with string numbers that ARM accepts', async () => {
    const h = await emulator(azurite);
    const r = await rawToken(
      h,
      {
        grant_type: 'client_credentials',
        client_id: h.identity.clientId,
        client_secret: h.keys.clientSecret,
        resource: 'https://management.azure.com/',
      },
      `/${h.ids.tenantId}/oauth2/token`,
    );
    expect(r.status).toBe(200);
    expect(r.json).toMatchObject({
      token_type: 'Bearer',
      expires_in: '3599',
      resource: 'https://management.azure.com/',
    });
    expect(typeof r.json.expires_on).toBe('string');
    const get = await call(h, 'GET', resourceUrl(h), { bearer: r.json.access_token });
    expect(get.status).toBe(200);
  });

  test('when a token has expired, then ARM answers 401 ExpiredAuthenticationToken', async () => {
    const h = await emulator(azurite, { token: { lifetimeSeconds: 1 } });
    const r = await rawToken(h, {
      grant_type: 'client_credentials',
      client_id: h.identity.clientId,
      client_secret: h.keys.clientSecret,
      scope: ARM_SCOPE,
    });
    expect(r.json.expires_in).toBe(1);
    await new Promise((res) => setTimeout(res, 2100));
    const get = await call(h, 'GET', resourceUrl(h), { bearer: r.json.access_token });
    expect(get.status).toBe(401);
    expect(get.json.error.code).toBe('ExpiredAuthenticationToken');
  });
});

describe('ARM Microsoft.MachineLearning/webServices', () => {
  test('when the web service is read through a bearer-token pipeline, then keys, storage key and commitment plan are hidden', async () => {
    const h = await emulator(azurite);
    requireExtraCa(h);
    const cred = credential(h);
    const preview = await arm(cred, 'GET', resourceUrl(h));
    expect(preview.status).toBe(200);
    expect(preview.json).toMatchObject({
      id: h.ids.armResourceId,
      name: 'myWebService',
      type: 'Microsoft.MachineLearning/webServices',
      location: 'South Central US',
    });
    const p = preview.json.properties;
    expect(p).toMatchObject({
      provisioningState: 'Succeeded',
      packageType: 'Graph',
      storageAccount: { name: h.storage.accountName },
    });
    expect(p.keys).toBeUndefined();
    expect(p.storageAccount.key).toBeUndefined();
    expect(p.commitmentPlan).toBeUndefined();
    expect(p.payloadsInBlobStorage).toBeUndefined();
    expect(p.package.nodes.node4.parameters['Append score columns to output']).toBe('True');
    const asset = Object.values(p.assets as Record<string, any>).find((a) => a.type === 'Resource');
    expect(asset).toMatchObject({
      name: h.ids.trainedModelName,
      locationInfo: { uri: expect.stringMatching(/\.ilearner$/) },
    });

    const stable = await arm(cred, 'GET', resourceUrl(h, '2017-01-01'));
    expect(stable.json.properties.package.nodes.node4.parameters['Append score columns to output']).toEqual({
      value: 'True',
    });
    expect(stable.json.properties.payloadsInBlobStorage).toBe(false);
  });

  test('when listKeys is called, then it returns the keys that BES and RRS of the ARM service accept', async () => {
    const h = await emulator(azurite);
    requireExtraCa(h);
    const url = resourceUrl(h).replace('?', '/listKeys?');
    const r = await arm(credential(h), 'GET', url);
    expect(r.status).toBe(200);
    expect(r.json).toEqual({ primary: h.keys.arm.primary, secondary: h.keys.arm.secondary });
    const scored = await call(h, 'POST', h.urls.armScore, {
      bearer: r.json.secondary,
      json: { Inputs: { input1: { ColumnNames: ['a'], Values: [['1']] } } },
    });
    expect(scored.status).toBe(200);
  });

  test('when the trained-model asset is PATCHed with a new uri, then the LRO goes Provisioning to Succeeded and the new model goes live', async () => {
    const h = await emulator(azurite, { arm: { provisioningMs: 800 } });
    requireExtraCa(h);
    const cred = credential(h);
    const { jobId, status } = await runTrainingJob(h);
    const model = status.Results.output1;
    const current = (await arm(cred, 'GET', resourceUrl(h))).json;
    const [assetId, asset] = Object.entries(current.properties.assets as Record<string, any>).find(
      ([, a]) => a.name === h.ids.trainedModelName,
    )!;
    const body = {
      location: current.location,
      properties: {
        packageType: 'Graph',
        assets: {
          ...current.properties.assets,
          [assetId]: { ...asset, locationInfo: { uri: `${model.BaseLocation}${model.RelativeLocation}` } },
        },
      },
    };
    const patch = await arm(cred, 'PATCH', resourceUrl(h), body);
    expect(patch.status).toBe(200);
    expect(patch.json.properties.provisioningState).toBe('Provisioning');
    const asyncUrl = patch.headers.get('azure-asyncoperation')!;
    expect(asyncUrl).toMatch(
      /\/subscriptions\/[0-9a-f-]+\/providers\/Microsoft\.MachineLearning\/locations\/southcentralus\/operationsStatus\/[0-9a-f-]+\?api-version=2016-05-01-preview$/,
    );
    // Until the operation ends, the old model serves.
    expect(
      (
        await call(h, 'POST', h.urls.armScore, {
          bearer: h.keys.arm.primary,
          json: { Inputs: { input1: { ColumnNames: [], Values: [] } } },
        })
      ).headers[MODEL_HEADER],
    ).toBe('initial');
    const { final, seen } = await pollOperation(cred, asyncUrl);
    expect(seen[0]).toBe('Provisioning');
    expect(final).toMatchObject({ status: 'Succeeded', percentComplete: 1, endTime: expect.any(String) });
    const after = await arm(cred, 'GET', resourceUrl(h));
    expect(after.json.properties.provisioningState).toBe('Succeeded');
    expect(after.json.properties.assets[assetId].locationInfo.uri).toBe(
      `${model.BaseLocation}${model.RelativeLocation}`,
    );
    expect(after.json.properties.assets.asset1).toBeDefined();
    const scored = await call(h, 'POST', h.urls.armScore, {
      bearer: h.keys.arm.primary,
      json: { Inputs: { input1: { ColumnNames: [], Values: [] } } },
    });
    expect(scored.headers[MODEL_HEADER]).toBe(jobId);
    const insp = h.inspect();
    expect(insp.liveModels[h.ids.armResourceId]).toBe(jobId);
    expect(insp.updates).toEqual([
      expect.objectContaining({
        kind: 'arm',
        target: h.ids.armResourceId,
        resourceName: h.ids.trainedModelName,
        modelJobId: jobId,
      }),
    ]);
  });

  test('when the asset uri carries a SAS, then the model is read through it; when the blob is unreadable, then the LRO ends Failed', async () => {
    const h = await emulator(azurite);
    requireExtraCa(h);
    const cred = credential(h);
    const { jobId, status } = await runTrainingJob(h);
    const m = status.Results.output1;
    const patchAsset = (uri: string) => ({
      properties: { packageType: 'Graph', assets: { asset3: { locationInfo: { uri } } } },
    });

    const ok = await arm(
      cred,
      'PATCH',
      resourceUrl(h, '2017-01-01'),
      patchAsset(`${m.BaseLocation}${m.RelativeLocation}${m.SasBlobToken}`),
    );
    expect(ok.status).toBe(200);
    expect((await pollOperation(cred, ok.headers.get('azure-asyncoperation')!)).final.status).toBe('Succeeded');
    expect(h.inspect().liveModels[h.ids.armResourceId]).toBe(jobId);

    const bad = await arm(
      cred,
      'PATCH',
      resourceUrl(h),
      patchAsset(`${m.BaseLocation}${m.RelativeLocation.replace('model', 'nothere')}`),
    );
    expect(bad.status).toBe(200);
    const { final } = await pollOperation(cred, bad.headers.get('azure-asyncoperation')!);
    expect(final.status).toBe('Failed');
    expect(final.error.code).toBe('UpdateWebServiceResourceFailed');
    expect((await arm(cred, 'GET', resourceUrl(h))).json.properties.provisioningState).toBe('Failed');
    expect(h.inspect().liveModels[h.ids.armResourceId]).toBe(jobId);
  });

  test('when there is no token or a bad token, then 401 with the ARM error shape and a WWW-Authenticate challenge', async () => {
    const h = await emulator(azurite);
    requireExtraCa(h);
    const none = await call(h, 'GET', resourceUrl(h));
    expect(none.status).toBe(401);
    expect(none.json.error.code).toBe('AuthenticationFailed');
    expect(none.headers['www-authenticate']).toMatch(/^Bearer authorization_uri=/);
    const fake: TokenCredential = {
      getToken: async () => ({ token: 'eyJhbGciOiJIUzI1NiJ9.e30.c2ln', expiresOnTimestamp: Date.now() + 3600_000 }),
    };
    const bad = await arm(fake, 'GET', resourceUrl(h));
    expect(bad.status).toBe(401);
    expect(bad.json.error.code).toBe('InvalidAuthenticationToken');
    const patch = await arm(fake, 'PATCH', resourceUrl(h), { properties: {} });
    expect(patch.status).toBe(401);
  });

  test('when the web service, resource group or subscription does not exist, then 404 with WebServiceNotFound or the ARM code', async () => {
    const h = await emulator(azurite);
    requireExtraCa(h);
    const cred = credential(h);
    const missing = await arm(cred, 'GET', resourceUrl(h, '2016-05-01-preview', 'nope'));
    expect(missing.status).toBe(404);
    expect(missing.json).toEqual({
      error: {
        code: 'NotFound',
        message: 'The specified resource was not found.',
        details: [
          { code: 'WebServiceNotFound', message: 'No Web Service could be found with the provided name: nope.' },
        ],
      },
    });
    expect((await arm(cred, 'PATCH', resourceUrl(h, '2016-05-01-preview', 'nope'), { properties: {} })).status).toBe(
      404,
    );
    const rg = await arm(cred, 'GET', resourceUrl(h).replace(h.identity.resourceGroup, 'OtherRG'));
    expect(rg.json.error.code).toBe('ResourceGroupNotFound');
    const sub = await arm(
      cred,
      'GET',
      resourceUrl(h).replace(h.identity.subscriptionId, '00000000-0000-0000-0000-000000000000'),
    );
    expect(sub.json.error.code).toBe('SubscriptionNotFound');
    const noVersion = await arm(cred, 'GET', resourceUrl(h).split('?')[0]);
    expect(noVersion.status).toBe(400);
    expect(noVersion.json.error.code).toBe('MissingApiVersionParameter');
    const badVersion = await arm(cred, 'GET', resourceUrl(h, '2020-01-01'));
    expect(badVersion.json.error.code).toBe('NoRegisteredProviderFound');
    // Resource group, provider and type are case-insensitive in ARM.
    const lower = await arm(
      cred,
      'GET',
      resourceUrl(h)
        .replace('Microsoft.MachineLearning/webServices', 'microsoft.machinelearning/webservices')
        .replace(h.identity.resourceGroup, h.identity.resourceGroup.toLowerCase()),
    );
    expect(lower.status).toBe(200);
  });

  test('when the principal has no role, then 403 AuthorizationFailed', async () => {
    const h = await emulator(azurite, { arm: { principalHasRole: false } });
    requireExtraCa(h);
    const r = await arm(credential(h), 'GET', resourceUrl(h));
    expect(r.status).toBe(403);
    expect(r.json.error.code).toBe('AuthorizationFailed');
  });

  test('when a web service is PUT, updated, listed and deleted, then 201/200 with LRO headers, 202 with Location, then 404', async () => {
    const h = await emulator(azurite);
    requireExtraCa(h);
    const cred = credential(h);
    const url = resourceUrl(h, '2017-01-01', 'otherService');
    const definition = (await arm(cred, 'GET', resourceUrl(h, '2017-01-01'))).json;
    const body = {
      location: 'South Central US',
      tags: { team: 'ml' },
      properties: { ...definition.properties, title: 'Other' },
    };
    const created = await arm(cred, 'PUT', url, body);
    expect(created.status).toBe(201);
    // Minimal, as recorded (REC17), plus the packageType discriminator webservices.json requires.
    expect(created.json.properties).toEqual({
      payloadsInBlobStorage: false,
      provisioningState: 'Provisioning',
      packageType: 'Graph',
    });
    expect(created.headers.get('azure-asyncoperation')).toContain('/operationsStatus/');
    await pollOperation(cred, created.headers.get('azure-asyncoperation')!);
    const keys1 = (await arm(cred, 'GET', url.replace('?', '/listKeys?'))).json;

    const updated = await arm(cred, 'PUT', url, body);
    expect(updated.status).toBe(200);
    expect(updated.json.properties.title).toBe('Other');
    const keys2 = (await arm(cred, 'GET', url.replace('?', '/listKeys?'))).json;
    expect(keys2.primary).not.toBe(keys1.primary);

    const byRg = await arm(
      cred,
      'GET',
      `${h.url}/subscriptions/${h.identity.subscriptionId}/resourceGroups/${h.identity.resourceGroup}/providers/Microsoft.MachineLearning/webServices?api-version=2017-01-01`,
    );
    expect(byRg.json.value.map((w: any) => w.name).sort()).toEqual(['myWebService', 'otherService']);
    const bySub = await arm(
      cred,
      'GET',
      `${h.url}/subscriptions/${h.identity.subscriptionId}/providers/Microsoft.MachineLearning/webServices?api-version=2017-01-01`,
    );
    expect(bySub.json.value).toHaveLength(2);

    const del = await arm(cred, 'DELETE', url);
    expect(del.status).toBe(202);
    const location = del.headers.get('location')!;
    expect(location).toContain('/operationresults/');
    expect(del.headers.get('azure-asyncoperation')).toContain('/operationsStatus/');
    await waitFor(async () => (await arm(cred, 'GET', location)).status === 204);
    expect((await arm(cred, 'GET', url)).status).toBe(404);
    expect((await arm(cred, 'DELETE', url)).status).toBe(204);
  });

  test('when a read-only web service is PATCHed, then 409', async () => {
    const h = await emulator(azurite);
    requireExtraCa(h);
    const cred = credential(h);
    const r1 = await arm(cred, 'PATCH', resourceUrl(h), { properties: { readOnly: true } });
    expect(r1.status).toBe(200);
    const r2 = await arm(cred, 'PATCH', resourceUrl(h), { properties: { title: 'x' } });
    expect(r2.status).toBe(409);
    expect(r2.json.error.code).toBe('ReadOnlyWebService');
  });
});
