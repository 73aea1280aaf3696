import { ApplicationFailure } from '@temporalio/common';
import { Context } from '@temporalio/activity';
import type { AccessToken } from '@azure/core-auth';
import type { AzureMLLinkedService } from '../config/linked-services';
import { FailureType } from '../common/failures';
import type { ServiceUpdate } from '../common/models';
import type { ActivityDeps } from './deps';
import type { CallContext } from './http';
import { ensureOk, failureFromError, failureFromResponse, parseErrorBody, retryAfterMs, send } from './http';
import type { ModelLocation } from './model';
import type { UpdateTarget } from './update-target';
import { resourceNotFound, sameBlob, stripQuery, updateContext } from './update-target';

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

export async function updateArm(
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
