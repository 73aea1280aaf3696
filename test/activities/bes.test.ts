/**
 * BES activities in isolation: MockActivityEnvironment (heartbeats, cancellation, heartbeat details of an earlier
 * attempt) and a scripted HTTP client. The same activities run against the emulator in test/e2e.
 */
import { MockActivityEnvironment } from '@temporalio/testing';
import { DefaultLogger } from '@temporalio/worker';
import { ApplicationFailure, CancelledFailure } from '@temporalio/common';
import type { HttpClient, PipelineRequest, PipelineResponse } from '@azure/core-rest-pipeline';
import { createHttpHeaders, RestError } from '@azure/core-rest-pipeline';
import { createBesActivities } from '../../activities/bes';
import type { ActivityDeps } from '../../activities/deps';
import { DEFAULT_ACTIVITY_SETTINGS } from '../../activities/deps';
import type { AzureMLLinkedService } from '../../config/linked-services';
import { Secret } from '../../config/secret';
import { FailureType } from '../../common/failures';
import type { BatchExecutionStep } from '../../common/types';

const quiet = new DefaultLogger('ERROR');

type Reply = { status: number; body?: unknown; headers?: Record<string, string> };

function scripted(replies: Reply[]): HttpClient & { requests: PipelineRequest[] } {
  const requests: PipelineRequest[] = [];
  return {
    requests,
    async sendRequest(request: PipelineRequest): Promise<PipelineResponse> {
      requests.push(request);
      const r = replies.shift();
      if (!r) throw new Error(`unexpected request ${request.method} ${request.url}`);
      return {
        request,
        status: r.status,
        headers: createHttpHeaders(r.headers),
        bodyAsText: r.body === undefined ? '' : typeof r.body === 'string' ? r.body : JSON.stringify(r.body),
      };
    },
  };
}

const training: AzureMLLinkedService = {
  kind: 'AzureML',
  name: 'trainingEndpoint',
  file: 'trainingEndpoint.json',
  mlEndpoint: 'https://bes.example/workspaces/w/services/s/jobs',
  apiKey: new Secret('the-api-key-123'),
};

function deps(httpClient: HttpClient): ActivityDeps {
  return {
    httpClient,
    settings: DEFAULT_ACTIVITY_SETTINGS,
    azureML: () => training,
    storage: (name) => ({ kind: 'Storage', type: 'AzureStorage', name, file: 'x', connectionString: new Secret('cs') }),
    storageAccess: (ls) => ({
      linkedServiceName: ls.name,
      location: (p) => ({ baseLocation: 'https://acct/', relativeLocation: p }),
      besBlobRef: (p) => ({
        ConnectionString: 'DefaultEndpointsProtocol=https;AccountName=a;AccountKey=k',
        RelativeLocation: p,
      }),
      properties: async () => ({ etag: 'e', contentLength: 1, lastModified: '' }),
      readSas: () => '?sig=x',
      download: async () => {
        throw new Error('not used');
      },
      pin: async () => {
        throw new Error('not used');
      },
    }),
    credentialFor: () => {
      throw new Error('not used');
    },
  };
}

const step: BatchExecutionStep = {
  activityName: 'train',
  linkedServiceName: 'trainingEndpoint',
  webServiceInputs: { input1: { linkedServiceName: 'Storage', filePath: 'data/train.csv' } },
  webServiceOutputs: { output1: { linkedServiceName: 'Storage', filePath: 'models/model.ilearner' } },
  globalParameters: { 'Database query': 'select 1' },
};

describe('BES activities', () => {
  test('when submitting, then the body follows BES 2.0 and the job id is heartbeated before returning', async () => {
    const http = scripted([{ status: 200, body: '"abc123"' }]);
    const env = new MockActivityEnvironment(undefined, { logger: quiet });
    const beats: unknown[] = [];
    env.on('heartbeat', (d: unknown) => beats.push(d));
    const r = await env.run(createBesActivities(deps(http)).submitTrainingJob, { step });
    expect(r).toEqual({ jobId: 'abc123', adopted: false });
    expect(beats).toEqual([{ jobId: 'abc123' }]);
    const req = http.requests[0];
    expect(req.method).toBe('POST');
    expect(req.url).toBe('https://bes.example/workspaces/w/services/s/jobs?api-version=2.0');
    expect(req.headers.get('authorization')).toBe('Bearer the-api-key-123');
    expect(JSON.parse(req.body as string)).toEqual({
      Inputs: { input1: { ConnectionString: expect.any(String), RelativeLocation: 'data/train.csv' } },
      Outputs: { output1: { ConnectionString: expect.any(String), RelativeLocation: 'models/model.ilearner' } },
      GlobalParameters: { 'Database query': 'select 1' },
    });
  });

  test('when an earlier attempt heartbeated a job that is still NotStarted, then the retry adopts it without submitting', async () => {
    const http = scripted([{ status: 200, body: { StatusCode: 'NotStarted', Results: null, Details: null } }]);
    const env = new MockActivityEnvironment({ attempt: 2, heartbeatDetails: { jobId: 'orphan1' } }, { logger: quiet });
    const r = await env.run(createBesActivities(deps(http)).submitTrainingJob, { step });
    expect(r).toEqual({ jobId: 'orphan1', adopted: true });
    expect(http.requests.map((q) => q.method)).toEqual(['GET']);
  });

  test('when BES rejects an output extension, then the failure is final and names the output field', async () => {
    const http = scripted([
      {
        status: 400,
        body: {
          error: {
            code: 'BadArgument',
            message: 'Invalid argument provided.',
            details: [
              { code: 'InvalidBlobExtension', target: 'output1', message: 'has an invalid or missing file extension' },
            ],
          },
        },
      },
    ]);
    const err = await new MockActivityEnvironment(undefined, { logger: quiet })
      .run(createBesActivities(deps(http)).submitTrainingJob, { step })
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ApplicationFailure);
    expect(err).toMatchObject({ type: FailureType.BadRequest, nonRetryable: true });
    expect((err as Error).message).toContain('InvalidBlobExtension (output1)');
    expect((err as Error).message).toContain('typeProperties.webServiceOutputs.output1.filePath');
    expect((err as Error).message).not.toContain('the-api-key-123');
  });

  test('when BES answers 503 with Retry-After, then the failure is retryable with that delay', async () => {
    const http = scripted([
      {
        status: 503,
        body: { error: { code: 'ServiceUnavailable', details: [{ code: 'RequestThrottled' }] } },
        headers: { 'Retry-After': '7' },
      },
    ]);
    const err = await new MockActivityEnvironment(undefined, { logger: quiet })
      .run(createBesActivities(deps(http)).submitTrainingJob, { step })
      .catch((e: unknown) => e);
    expect(err).toMatchObject({ type: FailureType.Throttled, nonRetryable: false });
    expect((err as ApplicationFailure).nextRetryDelay).toBe(7000);
  });

  test('when the key is refused, then the failure is final and points at apiKey', async () => {
    const http = scripted([
      { status: 401, body: { error: { code: 'Unauthorized', details: [{ code: 'ScoreRequestUnauthorized' }] } } },
    ]);
    const err = await new MockActivityEnvironment(undefined, { logger: quiet })
      .run(createBesActivities(deps(http)).submitTrainingJob, { step })
      .catch((e: unknown) => e);
    expect(err).toMatchObject({ type: FailureType.Unauthorized, nonRetryable: true });
    expect((err as Error).message).toContain("linked service 'trainingEndpoint'");
    expect((err as Error).message).toContain("field 'apiKey'");
  });

  test('when the server certificate is not trusted, then the failure is final and says how to trust it', async () => {
    const http: HttpClient = {
      sendRequest: async () => {
        throw new RestError('unable to verify the first certificate', { code: 'UNABLE_TO_VERIFY_LEAF_SIGNATURE' });
      },
    };
    const err = await new MockActivityEnvironment(undefined, { logger: quiet })
      .run(createBesActivities(deps(http)).submitTrainingJob, { step })
      .catch((e: unknown) => e);
    expect(err).toMatchObject({ type: FailureType.ConfigError, nonRetryable: true });
    expect((err as Error).message).toContain('NODE_EXTRA_CA_CERTS');
    expect((err as Error).message).toContain("field 'mlEndpoint'");
  });

  test('when a retried start finds the job already running, then it counts as started', async () => {
    const http = scripted([
      { status: 400, body: { error: { code: 'InvalidOperation', details: [{ code: 'CannotStartJob' }] } } },
      { status: 200, body: { StatusCode: 'Running', Results: null, Details: null } },
    ]);
    const r = await new MockActivityEnvironment(undefined, { logger: quiet }).run(
      createBesActivities(deps(http)).startTrainingJob,
      {
        linkedServiceName: 'trainingEndpoint',
        jobId: 'j',
      },
    );
    expect(r).toEqual({ started: false });
  });

  test('when polling, then it heartbeats each poll and returns on the first status change', async () => {
    const http = scripted([
      { status: 200, body: { StatusCode: 1, Results: null, Details: null } },
      { status: 200, body: { StatusCode: 'Running', Results: null, Details: null } },
      {
        status: 200,
        body: {
          StatusCode: 'Finished',
          Results: {
            output1: {
              ConnectionString: null,
              BaseLocation: 'https://a/',
              RelativeLocation: 'm/x.ilearner',
              SasBlobToken: '?sig=s',
            },
          },
          Details: null,
        },
      },
    ]);
    const env = new MockActivityEnvironment(undefined, { logger: quiet });
    const beats: unknown[] = [];
    env.on('heartbeat', (d: unknown) => beats.push(d));
    const r = await env.run(createBesActivities(deps(http)).waitForTrainingJob, {
      linkedServiceName: 'trainingEndpoint',
      jobId: 'j',
      lastStatus: 'Running' as const,
      pollIntervalMs: 5,
    });
    expect(r).toEqual({ status: 'Finished', outputs: { output1: 'm/x.ilearner' } });
    expect(beats).toHaveLength(3);
    expect(JSON.stringify(r)).not.toContain('sig=');
  });

  test('when the job fails, then the failure is final and carries the BES Details', async () => {
    const details = 'Module: Reader; taskStatusCode=400. Error: blob not found';
    const http = scripted([{ status: 200, body: { StatusCode: 'Failed', Results: null, Details: details } }]);
    const err = await new MockActivityEnvironment(undefined, { logger: quiet })
      .run(createBesActivities(deps(http)).waitForTrainingJob, {
        linkedServiceName: 'trainingEndpoint',
        jobId: 'j',
        lastStatus: 'Running' as const,
        pollIntervalMs: 5,
      })
      .catch((e: unknown) => e);
    expect(err).toMatchObject({ type: FailureType.BesJobFailed, nonRetryable: true });
    expect((err as Error).message).toContain(details);
  });

  test('when the activity is cancelled while polling, then it stops with a cancellation', async () => {
    const replies: Reply[] = Array.from({ length: 1000 }, () => ({ status: 200, body: { StatusCode: 'Running' } }));
    const env = new MockActivityEnvironment(undefined, { logger: quiet });
    const p = env.run(createBesActivities(deps(scripted(replies))).waitForTrainingJob, {
      linkedServiceName: 'trainingEndpoint',
      jobId: 'j',
      lastStatus: 'Running' as const,
      pollIntervalMs: 20,
    });
    await new Promise((r) => setTimeout(r, 60));
    env.cancel();
    await expect(p).rejects.toBeInstanceOf(CancelledFailure);
  });

  test('when waiting until the end within the heartbeat window, then a Running status is polled on and Finished returns', async () => {
    const http = scripted([
      { status: 200, body: { StatusCode: 'Running', Results: null, Details: null } },
      { status: 200, body: { StatusCode: 'Running', Results: null, Details: null } },
      {
        status: 200,
        body: { StatusCode: 'Finished', Results: { output1: { RelativeLocation: 'm/x.ilearner' } }, Details: null },
      },
    ]);
    const env = new MockActivityEnvironment({ scheduledTimestampMs: Date.now() }, { logger: quiet });
    const r = await env.run(createBesActivities(deps(http)).waitForTrainingJob, {
      linkedServiceName: 'trainingEndpoint',
      jobId: 'j',
      lastStatus: 'NotStarted' as const,
      pollIntervalMs: 5,
      untilEnd: true,
    });
    expect(r).toEqual({ status: 'Finished', outputs: { output1: 'm/x.ilearner' } });
    expect(http.requests).toHaveLength(3);
  });

  test('when waiting until the end past the heartbeat window, then one check asks for a retry with a benign BesJobRunning', async () => {
    const http = scripted([{ status: 200, body: { StatusCode: 'Running', Results: null, Details: null } }]);
    const env = new MockActivityEnvironment(
      { scheduledTimestampMs: Date.now() - 10_000, attempt: 7 },
      { logger: quiet },
    );
    const err = await env
      .run(
        createBesActivities({
          ...deps(http),
          settings: { ...DEFAULT_ACTIVITY_SETTINGS, trainingHeartbeatWindowMs: 5_000 },
        }).waitForTrainingJob,
        {
          linkedServiceName: 'trainingEndpoint',
          jobId: 'j',
          lastStatus: 'Running' as const,
          pollIntervalMs: 5,
          untilEnd: true,
        },
      )
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ApplicationFailure);
    expect(err).toMatchObject({ type: FailureType.BesJobRunning, category: 'BENIGN' });
    expect((err as ApplicationFailure).nonRetryable).toBeFalsy();
    expect(http.requests).toHaveLength(1);
  });
  test('when the worker slots run short, a wait inside the heartbeat window gives its slot back after one check', async () => {
    const http = scripted([{ status: 200, body: { StatusCode: 'Running', Results: null, Details: null } }]);
    const env = new MockActivityEnvironment({ scheduledTimestampMs: Date.now(), attempt: 1 }, { logger: quiet });
    const err = await env
      .run(createBesActivities({ ...deps(http), slotsShort: () => true }).waitForTrainingJob, {
        linkedServiceName: 'trainingEndpoint',
        jobId: 'j',
        lastStatus: 'Running' as const,
        pollIntervalMs: 5,
        untilEnd: true,
      })
      .catch((e: unknown) => e);
    expect(err).toMatchObject({ type: FailureType.BesJobRunning, category: 'BENIGN' });
    expect(http.requests).toHaveLength(1);
  });
});
