/**
 * The update activity in isolation: MockActivityEnvironment and scripted HTTP and credential. The protocols themselves
 * run against the emulator in test/e2e and test/durability; this file pins what is about timing.
 */
import { MockActivityEnvironment } from '@temporalio/testing';
import { DefaultLogger } from '@temporalio/worker';
import type { HttpClient, PipelineRequest, PipelineResponse } from '@azure/core-rest-pipeline';
import { createHttpHeaders } from '@azure/core-rest-pipeline';
import type { AccessToken, TokenCredential } from '@azure/core-auth';
import { createUpdateActivities } from '../../activities/update';
import type { ActivityDeps } from '../../activities/deps';
import { DEFAULT_ACTIVITY_SETTINGS } from '../../activities/deps';
import type { AzureMLLinkedService } from '../../config/linked-services';
import { Secret } from '../../config/secret';
import type { UpdateServiceInput } from '../../common/types';

const quiet = new DefaultLogger('ERROR');
const RESOURCE =
  'https://arm.example/subscriptions/s/resourceGroups/g/providers/Microsoft.MachineLearning/webServices/scoring?api-version=2017-01-01';
const MODEL = 'https://acct.blob.example/models/model.ilearner';

const scoring: AzureMLLinkedService = {
  kind: 'AzureML',
  name: 'scoringArm',
  file: 'scoringArm.json',
  mlEndpoint: 'https://bes.example/workspaces/w/services/s/jobs',
  apiKey: new Secret('scoring-key'),
  updateResourceEndpoint: RESOURCE,
  servicePrincipalId: 'app',
  servicePrincipalKey: new Secret('sp-secret'),
  tenant: 'tenant',
};

function webService(uri: string) {
  return {
    location: 'westus',
    properties: {
      packageType: 'Graph',
      provisioningState: 'Succeeded',
      assets: { asset1: { name: 'Model [trained model]', type: 'Resource', locationInfo: { uri } } },
    },
  };
}

/** ARM answers: GET (old model), PATCH (synchronous), GET (new model). */
function arm(): HttpClient & { requests: PipelineRequest[] } {
  const replies = [webService('https://acct.blob.example/models/old.ilearner'), {}, webService(`${MODEL}?sig=x`)];
  const requests: PipelineRequest[] = [];
  return {
    requests,
    async sendRequest(request: PipelineRequest): Promise<PipelineResponse> {
      requests.push(request);
      const body = replies.shift();
      if (!body) throw new Error(`unexpected request ${request.method} ${request.url}`);
      return { request, status: 200, headers: createHttpHeaders(), bodyAsText: JSON.stringify(body) };
    },
  };
}

function deps(httpClient: HttpClient, credential: TokenCredential): ActivityDeps {
  return {
    httpClient,
    settings: DEFAULT_ACTIVITY_SETTINGS,
    azureML: () => scoring,
    storage: (name) => ({ kind: 'Storage', type: 'AzureStorage', name, file: 'x', connectionString: new Secret('cs') }),
    storageAccess: (ls) => ({
      linkedServiceName: ls.name,
      location: (p) => ({ baseLocation: 'https://acct.blob.example/', relativeLocation: p }),
      besBlobRef: (p) => ({ ConnectionString: 'x', RelativeLocation: p }),
      properties: async () => ({ etag: 'e', contentLength: 1, lastModified: '' }),
      readSas: () => '?sig=x',
      download: async () => {
        throw new Error('not used');
      },
      pin: async () => {
        throw new Error('not used');
      },
    }),
    credentialFor: () => credential,
  };
}

const input: UpdateServiceInput = {
  step: { activityName: 'update', linkedServiceName: 'scoringArm', trainedModelName: 'Model [trained model]' },
  model: {
    source: { kind: 'storage', linkedServiceName: 'Storage', filePath: 'models/model.ilearner' },
    url: MODEL,
    container: 'models',
    blobName: 'model.ilearner',
    etag: 'e',
    contentLength: 1,
    lastModified: '',
  },
};

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('update activity', () => {
  test('when the token request takes longer than the heartbeat timeout, then the activity keeps heartbeating through it', async () => {
    // Entra throttling: the credential waits out Retry-After inside getToken, where no request of ours runs.
    const slowToken: TokenCredential = {
      getToken: async (): Promise<AccessToken> => {
        await sleep(600);
        return { token: 'tok', expiresOnTimestamp: Date.now() + 3_600_000 };
      },
    };
    const http = arm();
    const env = new MockActivityEnvironment({ heartbeatTimeoutMs: 150 }, { logger: quiet });
    const beats: number[] = [];
    const t0 = Date.now();
    env.on('heartbeat', () => beats.push(Date.now() - t0));
    const r = await env.run(createUpdateActivities(deps(http, slowToken)).updateScoringService, input);
    expect(r).toMatchObject({ kind: 'arm', alreadyApplied: false, modelUrl: MODEL });
    expect(http.requests.map((q) => q.method)).toEqual(['GET', 'PATCH', 'GET']);
    // Every gap between heartbeats (and before the first) is well inside the 150 ms timeout.
    const gaps = beats.map((b, i) => b - (i ? beats[i - 1] : 0));
    expect(beats.length).toBeGreaterThanOrEqual(10);
    expect(Math.max(...gaps)).toBeLessThan(150);
  });

  test('when the activity has no heartbeat timeout, then it sends no timer heartbeats', async () => {
    const token: TokenCredential = {
      getToken: async () => ({ token: 'tok', expiresOnTimestamp: Date.now() + 3_600_000 }),
    };
    const env = new MockActivityEnvironment(undefined, { logger: quiet });
    const beats: unknown[] = [];
    env.on('heartbeat', (d: unknown) => beats.push(d));
    await env.run(createUpdateActivities(deps(arm(), token)).updateScoringService, input);
    expect(beats).toEqual([]);
  });
});
