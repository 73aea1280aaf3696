import { ApplicationFailure } from '@temporalio/common';
import { Context } from '@temporalio/activity';
import type { AccessToken } from '@azure/core-auth';
import type { AzureMLLinkedService } from '../config/linked-services';
import { FailureType } from '../common/failures';
import type { ServiceUpdate } from '../common/models';
import type { ModelSource, UpdateKind, UpdateResult, UpdateServiceInput } from '../common/types';
import type { ActivityDeps } from './deps';
import type { CallContext } from './http';
import { ensureOk, failureFromError, failureFromResponse, parseErrorBody, retryAfterMs, send } from './http';
import type { ModelLocation } from './model';
import { resolveModelLocation } from './model';
import { blobError } from './storage';
import { BlobClient } from '@azure/storage-blob';

const ARM_PATH =
  /\/subscriptions\/[^/]+\/resourceGroups\/[^/]+\/providers\/Microsoft\.MachineLearning\/webServices\/[^/?]+/i;
const CLASSIC_PATH = /\/workspaces\/[^/]+\/webservices\/[^/]+\/endpoints\/[^/?]+/i;

/** Which update protocol a linked service's `updateResourceEndpoint` calls for. */
export function updateKind(ls: AzureMLLinkedService): UpdateKind {
  const url = ls.updateResourceEndpoint;
  if (!url) {
    throw ApplicationFailure.create({
      type: FailureType.ConfigError,
      nonRetryable: true,
      message: `AzureML linked service '${ls.name}' has no 'updateResourceEndpoint', so it cannot be updated`,
    });
  }
  if (ARM_PATH.test(url)) return 'arm';
  if (CLASSIC_PATH.test(url)) return 'classic';
  throw ApplicationFailure.create({
    type: FailureType.ConfigError,
    nonRetryable: true,
    message:
      `AzureML linked service '${ls.name}' field 'updateResourceEndpoint' is neither a classic endpoint ` +
      `(.../workspaces/{ws}/webservices/{id}/endpoints/{name}) nor an ARM web service ` +
      `(.../providers/Microsoft.MachineLearning/webServices/{name}?api-version=...)`,
  });
}

function stripQuery(u: string): string {
  return u.split('?')[0];
}

function sameBlob(a: string, b: string): boolean {
  return stripQuery(a).replace(/\/+$/, '') === stripQuery(b).replace(/\/+$/, '');
}

function resourceNotFound(ls: AzureMLLinkedService, name: string, available: string[]): ApplicationFailure {
  return ApplicationFailure.create({
    type: FailureType.TrainedModelResourceNotFound,
    nonRetryable: true,
    message:
      `scoring service of linked service '${ls.name}' has no trained-model resource named '${name}' ` +
      `(trainedModelName); it has: ${available.map((n) => `'${n}'`).join(', ') || 'none'}`,
  });
}

/** What one update call changes: a trained-model resource, on behalf of an activity or deployment request. */
interface UpdateTarget {
  trainedModelName: string;
  /** `activity 'X'` or `request Y`, for messages. */
  label: string;
  /**
   * Send nothing when the service already points at this blob. Only safe when the blob's path names one version
   * (a pinned copy, checked by ETag first): a path rewritten by a newer training would otherwise look deployed.
   */
  skipIfCurrent: boolean;
}

function updateContext(what: string, ls: AzureMLLinkedService, target: UpdateTarget, authField: string): CallContext {
  return {
    operation: `${what} (${target.label})`,
    linkedServiceName: ls.name,
    authField,
    urlField: 'updateResourceEndpoint',
  };
}

interface ClassicResource {
  Name: string;
  Location?: { BaseLocation?: string; RelativeLocation?: string };
}

async function updateClassic(
  deps: ActivityDeps,
  ls: AzureMLLinkedService,
  input: UpdateTarget,
  loc: ModelLocation,
): Promise<ServiceUpdate> {
  const act = Context.current();
  const endpoint = ls.updateResourceEndpoint!;
  const ctx = updateContext('classic endpoint update', ls, input, 'apiKey');
  const auth = { Authorization: `Bearer ${ls.apiKey.reveal()}` };
  const modelUrl = `${loc.baseLocation}${loc.relativeLocation}`;
  const read = async (): Promise<ClassicResource[]> => {
    const res = ensureOk(
      await send(
        deps.httpClient,
        {
          method: 'GET',
          url: endpoint,
          headers: auth,
          abortSignal: act.cancellationSignal,
          timeoutMs: deps.settings.requestTimeoutMs,
        },
        ctx,
      ),
      ctx,
    );
    return (res.json() as { Resources?: ClassicResource[] } | undefined)?.Resources ?? [];
  };
  const current = (resources: ClassicResource[]) => {
    const r = resources.find((x) => x.Name === input.trainedModelName);
    if (!r)
      throw resourceNotFound(
        ls,
        input.trainedModelName,
        resources.map((x) => x.Name),
      );
    return `${r.Location?.BaseLocation ?? ''}${(r.Location?.RelativeLocation ?? '').replace(/^\/+/, '')}`;
  };
  const before = current(await read());
  // A retried update whose first PATCH landed: the service already points at this model, so send nothing.
  const alreadyApplied = input.skipIfCurrent && sameBlob(before, modelUrl);
  if (!alreadyApplied) {
    const body = {
      Resources: [
        {
          Name: input.trainedModelName,
          Location: {
            BaseLocation: loc.baseLocation,
            RelativeLocation: loc.relativeLocation,
            SasBlobToken: loc.sasToken,
          },
        },
      ],
    };
    ensureOk(
      await send(
        deps.httpClient,
        {
          method: 'PATCH',
          url: endpoint,
          headers: auth,
          body,
          abortSignal: act.cancellationSignal,
          timeoutMs: deps.settings.requestTimeoutMs,
        },
        ctx,
      ),
      ctx,
    );
  }
  const after = current(await read());
  if (!sameBlob(after, modelUrl)) {
    throw ApplicationFailure.create({
      type: FailureType.UpdateNotApplied,
      message: `classic endpoint of linked service '${ls.name}' still points at ${stripQuery(after)} after the update; will retry`,
    });
  }
  return { kind: 'classic', target: stripQuery(endpoint), modelUrl: stripQuery(after), alreadyApplied };
}

interface ArmAsset {
  name?: string;
  type?: string;
  locationInfo?: { uri?: string; credentials?: string };
  [k: string]: unknown;
}

interface ArmWebService {
  location?: string;
  properties?: {
    packageType?: string;
    provisioningState?: string;
    assets?: Record<string, ArmAsset>;
    [k: string]: unknown;
  };
  [k: string]: unknown;
}

/**
 * The ARM token, always awaited. Not core-rest-pipeline's bearer policy: its token cycler refreshes in the background
 * near expiry and keeps retrying after the request is done; when that refresh finally fails (Entra throttling or an
 * outage) its promise rejects with nobody listening, and the unhandled rejection took the whole worker down (seen in
 * the faults soak). Here every failure reaches the activity, is mapped, and retried by Temporal. MSAL reports a tenant Entra does not know the same
 * way as an unreachable Entra (`endpoints_resolution_error`, before any token request); reading the tenant's OpenID
 * metadata ourselves tells which: Entra answers 400 `invalid_tenant` (AADSTS90002) for a tenant it does not know.
 */
async function armToken(deps: ActivityDeps, ls: AzureMLLinkedService, ctx: CallContext): Promise<AccessToken> {
  const act = Context.current();
  let token: AccessToken | null;
  try {
    token = await deps.credentialFor(ls).getToken(deps.settings.armScope, { abortSignal: act.cancellationSignal });
  } catch (err) {
    const e = err as { name?: string; message?: string };
    if (e?.name !== 'CredentialUnavailableError' || !/endpoints_resolution_error/.test(e.message ?? '')) {
      throw failureFromError(err, ctx);
    }
    const metadata = `${deps.settings.authorityHost.replace(/\/+$/, '')}/${encodeURIComponent(ls.tenant ?? '')}/v2.0/.well-known/openid-configuration`;
    const res = await send(
      deps.httpClient,
      { method: 'GET', url: metadata, abortSignal: act.cancellationSignal, timeoutMs: deps.settings.requestTimeoutMs },
      { ...ctx, urlField: 'tenant' },
    );
    if (res.status === 400 || res.status === 404) {
      const body = parseErrorBody(res);
      const aadsts = /AADSTS\d+/.exec(body.message ?? '')?.[0];
      throw ApplicationFailure.create({
        type: FailureType.AuthenticationFailed,
        nonRetryable: true,
        message:
          `Entra does not know tenant '${ls.tenant}' of linked service '${ls.name}' ` +
          `(${[res.status, body.code, aadsts].filter(Boolean).join(' ')}): check field 'tenant'`,
      });
    }
    throw ApplicationFailure.create({
      type: FailureType.NetworkError,
      message: `no token for linked service '${ls.name}': Entra's metadata for tenant '${ls.tenant}' answered ${res.status}; will retry`,
    });
  }
  if (!token) {
    throw ApplicationFailure.create({
      type: FailureType.ServiceError,
      message: `no token for linked service '${ls.name}': the credential returned none; will retry`,
    });
  }
  return token;
}

/** Fetch a new token this long before the current one expires (the credential's cache makes early calls cheap). */
const TOKEN_RENEW_MS = 30_000;

async function updateArm(
  deps: ActivityDeps,
  ls: AzureMLLinkedService,
  input: UpdateTarget,
  loc: ModelLocation,
): Promise<ServiceUpdate> {
  const act = Context.current();
  const resourceUrl = ls.updateResourceEndpoint!;
  const ctx = updateContext('ARM web service update', ls, input, 'servicePrincipalId/servicePrincipalKey/tenant');
  let token = await armToken(deps, ls, ctx);
  const call = async (method: 'GET' | 'PATCH', url: string, body?: unknown) => {
    if (token.expiresOnTimestamp - Date.now() < TOKEN_RENEW_MS) token = await armToken(deps, ls, ctx);
    const headers = { Authorization: `Bearer ${token.token}` };
    return send(
      deps.httpClient,
      { method, url, body, headers, abortSignal: act.cancellationSignal, timeoutMs: deps.settings.requestTimeoutMs },
      ctx,
    );
  };
  const modelUrl = `${loc.baseLocation}${loc.relativeLocation}`;

  const get = async () => ensureOk(await call('GET', resourceUrl), ctx).json() as ArmWebService;
  const findAsset = (ws: ArmWebService): [string, ArmAsset] => {
    const assets = ws.properties?.assets ?? {};
    const hit = Object.entries(assets).find(([, a]) => a.name === input.trainedModelName);
    if (!hit) {
      const resources = Object.values(assets).filter((a) => a.type === 'Resource');
      throw resourceNotFound(
        ls,
        input.trainedModelName,
        resources.map((a) => a.name ?? '?'),
      );
    }
    return hit;
  };

  const ws = await get();
  const [assetId, asset] = findAsset(ws);
  const alreadyApplied =
    input.skipIfCurrent &&
    sameBlob(asset.locationInfo?.uri ?? '', modelUrl) &&
    ws.properties?.provisioningState === 'Succeeded';
  if (!alreadyApplied) {
    const assets = { ...(ws.properties?.assets ?? {}) };
    // The scoring service reads the blob itself, so it gets a read-only SAS; the PATCH carries the whole assets map
    // because the service does not document merge-by-key for it.
    assets[assetId] = { ...asset, locationInfo: { ...asset.locationInfo, uri: `${modelUrl}${loc.sasToken}` } };
    const body = {
      location: ws.location,
      properties: { packageType: ws.properties?.packageType ?? 'Graph', assets },
    };
    const res = await call('PATCH', resourceUrl, body);
    ensureOk(res, ctx);
    await followArmOperation(
      deps,
      res.headers.get('azure-asyncoperation') ?? res.headers.get('location'),
      call,
      ctx,
      ls,
    );
  }
  const after = await get();
  const [, afterAsset] = findAsset(after);
  if (after.properties?.provisioningState !== 'Succeeded' || !sameBlob(afterAsset.locationInfo?.uri ?? '', modelUrl)) {
    throw ApplicationFailure.create({
      type: FailureType.UpdateNotApplied,
      message:
        `ARM web service of linked service '${ls.name}' is ${after.properties?.provisioningState ?? 'in an unknown state'} ` +
        `and points at ${stripQuery(afterAsset.locationInfo?.uri ?? '(nothing)')} after the update; will retry`,
    });
  }
  return {
    kind: 'arm',
    target: stripQuery(resourceUrl),
    modelUrl: stripQuery(afterAsset.locationInfo?.uri ?? ''),
    alreadyApplied,
  };
}

/** Poll an ARM long-running operation (Azure-AsyncOperation, else Location) until it ends. */
async function followArmOperation(
  deps: ActivityDeps,
  operationUrl: string | undefined,
  call: (method: 'GET', url: string) => ReturnType<typeof send>,
  ctx: CallContext,
  ls: AzureMLLinkedService,
): Promise<void> {
  if (!operationUrl) return; // synchronous completion; the read-back GET verifies it
  const act = Context.current();
  for (;;) {
    const res = await call('GET', operationUrl);
    if (res.status === 202) {
      act.heartbeat({ operation: 'arm', status: 'InProgress' });
      await act.sleep(retryAfterMs(res.headers.get('retry-after')) ?? deps.settings.armPollIntervalMs);
      continue;
    }
    if (res.status < 200 || res.status >= 300) throw failureFromResponse(res, ctx);
    const body = res.json() as
      | {
          status?: string;
          provisioningState?: string;
          error?: { code?: string; message?: string };
          errorInfo?: { code?: string; message?: string };
        }
      | undefined;
    const status = body?.status ?? body?.provisioningState;
    act.heartbeat({ operation: 'arm', status });
    if (!status || status === 'Succeeded') return;
    if (status === 'Failed' || status === 'Canceled' || status === 'Cancelled') {
      const e = body?.error ?? body?.errorInfo;
      throw ApplicationFailure.create({
        type: FailureType.ArmOperationFailed,
        nonRetryable: true,
        message: `ARM update of linked service '${ls.name}' ended ${status}${e ? `: ${e.code ?? ''} ${e.message ?? ''}` : ''}`,
      });
    }
    await act.sleep(retryAfterMs(res.headers.get('retry-after')) ?? deps.settings.armPollIntervalMs);
  }
}

/**
 * Heartbeat on a timer while `work` runs. The ARM operation heartbeats as it polls, but a throttled Entra token
 * request (the credential waits out Retry-After inside `getToken`) or a slow read can take longer than the heartbeat
 * timeout with no request of ours to hang a heartbeat on; the server would then time the attempt out and start
 * another next to it. The ticker also delivers a cancellation while a request is in flight. A request that hangs is
 * still bounded: by `requestTimeoutMs`, and the attempt by its start-to-close timeout.
 */
async function heartbeating<T>(act: Context, work: () => Promise<T>): Promise<T> {
  const timeoutMs = act.info.heartbeatTimeoutMs;
  if (!timeoutMs) return work();
  const timer = setInterval(() => act.heartbeat(), Math.max(50, Math.floor(timeoutMs / 3)));
  try {
    return await work();
  } finally {
    clearInterval(timer);
  }
}

/** Input of `applyModel`: point one trained-model resource at one blob version. */
export interface ApplyModelInput {
  linkedServiceName: string;
  trainedModelName: string;
  /** The blob to point the service at (a pinned copy, or a lineage entry to restore). */
  location: ModelSource;
  /** The ETag that blob must have: the model's version. */
  expectedEtag: string;
  /** `request X` / `rollback to job Y`, for messages. */
  label: string;
}

/**
 * The blob must still be the version being deployed: a pinned copy never changes, so a different ETag means someone
 * rewrote it; an unpinned model (a BES default location) rewritten by a later job is that job's model, not ours.
 */
async function checkVersion(input: ApplyModelInput, loc: ModelLocation): Promise<void> {
  const act = Context.current();
  const owner =
    input.location.kind === 'storage' ? input.location.linkedServiceName : input.location.trainingLinkedServiceName;
  const props = await new BlobClient(`${loc.baseLocation}${loc.relativeLocation}${loc.sasToken}`)
    .getProperties({ abortSignal: act.cancellationSignal })
    .catch((e: unknown) => {
      throw blobError(e, owner, loc.relativeLocation);
    });
  if (props.etag !== input.expectedEtag) {
    throw ApplicationFailure.create({
      type: FailureType.ModelSuperseded,
      nonRetryable: true,
      message:
        `${input.label}: the model blob ${loc.relativeLocation} is no longer the version to deploy ` +
        `(etag ${props.etag ?? 'none'}, expected ${input.expectedEtag}); nothing was sent`,
    });
  }
}

export function createUpdateActivities(deps: ActivityDeps) {
  const update = async (ls: AzureMLLinkedService, target: UpdateTarget, loc: ModelLocation) =>
    updateKind(ls) === 'classic' ? updateClassic(deps, ls, target, loc) : updateArm(deps, ls, target, loc);
  return {
    /**
     * Point the scoring service's trained-model resource at one model version, then read back that it does. Classic:
     * PATCH the non-default endpoint with its API key. ARM: service principal token, GET, set the asset's
     * locationInfo.uri, PATCH, follow the async operation. The read SAS is minted here and never leaves the activity.
     * Idempotent: the blob's path names one version (checked by ETag first), so a retry that finds the service on it
     * sends nothing.
     */
    async applyModel(input: ApplyModelInput): Promise<ServiceUpdate> {
      const act = Context.current();
      const ls = deps.azureML(input.linkedServiceName);
      updateKind(ls);
      const result = await heartbeating(act, async () => {
        const loc = await resolveModelLocation(deps, input.location, act.cancellationSignal);
        await checkVersion(input, loc);
        return update(ls, { trainedModelName: input.trainedModelName, label: input.label, skipIfCurrent: true }, loc);
      });
      act.log.info('scoring service updated', {
        linkedService: ls.name,
        kind: result.kind,
        alreadyApplied: result.alreadyApplied,
      });
      return result;
    },

    /**
     * The update of runs started before model identity existed (their histories call it): always sends, because its
     * input names a path, and a path is not a model version (the same path rewritten is a new model).
     */
    async updateScoringService(input: UpdateServiceInput): Promise<UpdateResult> {
      const act = Context.current();
      const ls = deps.azureML(input.step.linkedServiceName);
      updateKind(ls);
      const target = {
        trainedModelName: input.step.trainedModelName,
        label: `activity '${input.step.activityName}'`,
        skipIfCurrent: false,
      };
      const result = await heartbeating(act, async () =>
        update(ls, target, await resolveModelLocation(deps, input.model.source, act.cancellationSignal)),
      );
      act.log.info('scoring service updated', { linkedService: ls.name, kind: result.kind });
      return {
        ...result,
        activityName: input.step.activityName,
        linkedServiceName: ls.name,
        trainedModelName: input.step.trainedModelName,
      };
    },
  };
}
