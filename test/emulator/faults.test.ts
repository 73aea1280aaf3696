/* eslint-disable @typescript-eslint/no-unsafe-return -- HTTP bodies are asserted with expect(), not typed. */
import { ClientSecretCredential } from '@azure/identity';
import type { EmulatorHandle, FaultRule } from '../../emulator';
import { call, emulator, requireExtraCa, trainingRequest, useAzurite, waitFor } from './helpers';

const azurite = useAzurite();
const V = '?api-version=2.0';

function submit(h: EmulatorHandle, body: unknown) {
  return call(h, 'POST', `${h.urls.trainingBes}/jobs${V}`, { bearer: h.keys.training.primary, json: body });
}

function armGet(h: EmulatorHandle, token = 'x') {
  return call(h, 'GET', `${h.url}${h.ids.armResourceId}?api-version=2017-01-01`, { bearer: token });
}

describe('fault injection', () => {
  test('when a latency fault is set on a route, then responses on that route are delayed and the log says so', async () => {
    const h = await emulator(azurite, { faults: [{ routes: ['classic.get'], kind: { type: 'latency', ms: 400 } }] });
    const t0 = Date.now();
    const r = await call(h, 'GET', h.urls.classicUpdateResource, { bearer: h.keys.classicRetrain.primary });
    expect(r.status).toBe(200);
    expect(Date.now() - t0).toBeGreaterThanOrEqual(390);
    const t1 = Date.now();
    await call(h, 'POST', h.urls.classicScore, {
      bearer: h.keys.classicRetrain.primary,
      json: { Inputs: { input1: {} } },
    });
    expect(Date.now() - t1).toBeLessThan(300);
    const entry = h.inspect().requests.find((q) => q.route === 'classic.get')!;
    expect(entry.fault).toBe('latency:400');
    expect(entry.durationMs).toBeGreaterThanOrEqual(390);
  });

  test('when a 429 fault with a count is set, then that many requests get 429 with Retry-After, then service resumes', async () => {
    const h = await emulator(azurite, {
      faults: [{ routes: ['bes.submit'], count: 2, kind: { type: 'status', status: 429, retryAfterSeconds: 7 } }],
    });
    const { body } = await trainingRequest(h);
    for (let i = 0; i < 2; i++) {
      const r = await submit(h, body);
      expect(r.status).toBe(429);
      expect(r.headers['retry-after']).toBe('7');
      expect(r.json.error.code).toBe('TooManyRequests');
    }
    expect((await submit(h, body)).status).toBe(200);
    expect(h.inspect().jobs).toHaveLength(1);
  });

  test('when a 503 fault hits BES, then the body is ServiceUnavailable/RequestThrottled as the throttled runtime answered', async () => {
    const h = await emulator(azurite, {
      faults: [{ routes: ['bes.submit', 'bes.status'], kind: { type: 'status', status: 503 } }],
    });
    const { body } = await trainingRequest(h);
    const r = await submit(h, body);
    expect(r.status).toBe(503);
    expect(r.json.error).toMatchObject({
      code: 'ServiceUnavailable',
      message: 'Service is temporarily unavailable.',
      details: [{ code: 'RequestThrottled' }],
    });
    expect(r.headers['retry-after']).toBeUndefined();
    expect(h.inspect().jobs).toHaveLength(0);
  });

  test('when a 500 fault hits ARM and classic, then each answers in its own error shape', async () => {
    const h = await emulator(azurite, {
      faults: [{ routes: ['arm.get', 'classic.patch'], kind: { type: 'status', status: 500 } }],
    });
    const a = await armGet(h);
    expect(a.status).toBe(500);
    expect(a.json).toEqual({ error: { code: 'InternalServerError', message: expect.any(String) } });
    const c = await call(h, 'PATCH', h.urls.classicUpdateResource, {
      bearer: h.keys.classicRetrain.primary,
      json: { Resources: [] },
    });
    expect(c.status).toBe(500);
    expect(c.json.error.code).toBe('InternalServerError');
  });

  test('when a reset fault hits before handling, then the connection drops and no job is created', async () => {
    const h = await emulator(azurite, { faults: [{ routes: ['bes.submit'], count: 1, kind: { type: 'reset' } }] });
    const { body } = await trainingRequest(h);
    await expect(submit(h, body)).rejects.toThrow(/socket hang up|ECONNRESET/);
    expect(h.inspect().jobs).toHaveLength(0);
    const entry = h.inspect().requests.find((q) => q.route === 'bes.submit')!;
    expect(entry).toMatchObject({ status: 0, fault: 'reset' });
    expect((await submit(h, body)).status).toBe(200);
  });

  test('when a reset fault hits after handling, then the connection drops but the job was submitted', async () => {
    const h = await emulator(azurite, {
      faults: [{ routes: ['bes.submit'], count: 1, kind: { type: 'reset', phase: 'after' } }],
    });
    const { body } = await trainingRequest(h);
    await expect(submit(h, body)).rejects.toThrow(/socket hang up|ECONNRESET/);
    expect(h.inspect().jobs).toHaveLength(1);
    await submit(h, body);
    expect(h.inspect().jobs.map((j) => j.submitted)).toEqual([2, 2]);
  });

  test('when a global rule is set, then it hits every API route but never the admin API', async () => {
    const h = await emulator(azurite, { faults: [{ routes: '*', kind: { type: 'status', status: 503 } }] });
    expect((await armGet(h)).status).toBe(503);
    expect((await call(h, 'GET', `${h.url}/${h.identity.tenant}/v2.0/.well-known/openid-configuration`)).status).toBe(
      503,
    );
    expect((await call(h, 'GET', `${h.url}/_emulator/health`)).status).toBe(200);
    expect((await call(h, 'GET', `${h.url}/_emulator/inspect`)).status).toBe(200);
  });

  test('when faults are changed at runtime through the handle and the admin API, then new requests follow the new rules', async () => {
    const h = await emulator(azurite);
    expect((await armGet(h)).status).toBe(401);
    h.setFaults([{ routes: ['arm.get'], kind: { type: 'status', status: 503 } }]);
    expect((await armGet(h)).status).toBe(503);
    const put = await call(h, 'PUT', `${h.url}/_emulator/faults`, {
      json: [{ routes: ['arm.get'], count: 1, kind: { type: 'status', status: 429, retryAfterSeconds: 1 } }],
    });
    expect(put.status).toBe(200);
    expect(put.json).toEqual([expect.objectContaining({ count: 1, remaining: 1 })]);
    expect((await armGet(h)).status).toBe(429);
    expect((await armGet(h)).status).toBe(401);
    const invalid = await call(h, 'PUT', `${h.url}/_emulator/faults`, {
      json: [{ routes: ['bes.nope'], kind: { type: 'reset' } }],
    });
    expect(invalid.status).toBe(400);
    expect(invalid.json.error.message).toContain('bes.nope');
    expect((await call(h, 'PUT', `${h.url}/_emulator/faults`, { json: [] })).status).toBe(200);
  });

  test('when probabilistic rules run with the same seed, then the same requests get the same faults', async () => {
    const rules: FaultRule[] = [{ routes: ['arm.get'], probability: 0.5, kind: { type: 'status', status: 503 } }];
    const sequence = async (seed: number): Promise<number[]> => {
      const h = await emulator(azurite, { seed, faults: rules });
      const out: number[] = [];
      for (let i = 0; i < 24; i++) out.push((await armGet(h)).status);
      await h.close();
      return out;
    };
    const a = await sequence(42);
    const b = await sequence(42);
    const c = await sequence(43);
    expect(a).toEqual(b);
    expect(a).toContain(503);
    expect(a).toContain(401);
    expect(c).not.toEqual(a);
  });

  test('when the token endpoint returns 429 once, then ClientSecretCredential retries after Retry-After and the log shows the gap', async () => {
    const h = await emulator(azurite, {
      faults: [{ routes: ['token'], count: 1, kind: { type: 'status', status: 429, retryAfterSeconds: 1 } }],
    });
    requireExtraCa(h);
    const raw = await call(h, 'POST', `${h.url}/${h.identity.tenant}/oauth2/v2.0/token`, {
      body: 'grant_type=client_credentials',
      headers: { 'Content-Type': 'application/x-www-form-urlencoded' },
    });
    expect(raw.status).toBe(429);
    expect(raw.headers['retry-after']).toBe('1');
    expect(raw.json.error).toBe('temporarily_unavailable');

    h.setFaults([{ routes: ['token'], count: 1, kind: { type: 'status', status: 429, retryAfterSeconds: 1 } }]);
    const cred = new ClientSecretCredential(h.identity.tenant, h.identity.clientId, h.keys.clientSecret, {
      authorityHost: h.url,
      disableInstanceDiscovery: true,
    });
    // @azure/identity's pipeline retries a 429 after Retry-After; the request log proves the wait.
    expect((await cred.getToken('https://management.azure.com/.default')).token).toBeTruthy();
    const tokenCalls = h
      .inspect()
      .requests.filter((q) => q.route === 'token')
      .slice(1);
    expect(tokenCalls[0]).toMatchObject({ status: 429, fault: '429' });
    expect(tokenCalls[1].status).toBe(200);
    expect(tokenCalls[1].atMs - tokenCalls[0].atMs).toBeGreaterThanOrEqual(1000);
  });

  test('when job faults are set through the admin API, then the next job fails with the given Details', async () => {
    const h = await emulator(azurite);
    const r = await call(h, 'PUT', `${h.url}/_emulator/job-faults`, {
      json: { failNext: { details: 'Module: Train Model; out of memory' } },
    });
    expect(r.status).toBe(204);
    const { body } = await trainingRequest(h);
    const jobId = (await submit(h, body)).json;
    await call(h, 'POST', `${h.urls.trainingBes}/jobs/${jobId}/start${V}`, { bearer: h.keys.training.primary });
    const failed = await waitFor(async () => {
      const s = await call(h, 'GET', `${h.urls.trainingBes}/jobs/${jobId}${V}`, { bearer: h.keys.training.primary });
      return s.json.StatusCode === 'Failed' ? s.json : null;
    });
    expect(failed.Details).toBe('Module: Train Model; out of memory');
  });
});
