import type { EmulatorContext } from '../context';
import type { Ctx } from '../http';
import { isRecord, jsonBody, send, simpleError } from '../http';
import type { KeyPair, RuntimeService } from '../state';
import { newKeyPair } from '../state';
import { checkResourceGroup, preflight, serviceForRoute } from './guard';
import { armResourceId, deepMerge, downConvert, upConvert, WEB_SERVICE_TYPE } from './resource-shape';
import { findService, lroHeaders, newOperation, present, runtimeOf } from './resources';
import { applyModelChange } from './trained-model';

function validateBody(ctx: Ctx, requireLocation: boolean): Record<string, unknown> | null {
  const body = jsonBody(ctx);
  if (body === undefined || body instanceof Error || !isRecord(body)) {
    simpleError(ctx, 400, 'InvalidRequestContent', 'The request content was invalid and could not be deserialized.');
    return null;
  }
  if (requireLocation && typeof body.location !== 'string') {
    simpleError(ctx, 400, 'LocationRequired', 'The location property is required for this definition.');
    return null;
  }
  if (body.properties !== undefined && !isRecord(body.properties)) {
    simpleError(ctx, 400, 'InvalidRequestContent', 'properties must be an object.');
    return null;
  }
  const props = body.properties;
  if (props?.packageType !== undefined && props.packageType !== 'Graph') {
    simpleError(
      ctx,
      400,
      'BadRequest',
      `Unsupported packageType ${JSON.stringify(props.packageType)}; only 'Graph' is supported.`,
    );
    return null;
  }
  return body;
}

function takeKeys(props: Record<string, unknown>): KeyPair | null {
  const k = props.keys;
  delete props.keys;
  if (isRecord(k) && typeof k.primary === 'string' && typeof k.secondary === 'string') {
    return { primary: k.primary, secondary: k.secondary };
  }
  return null;
}

export async function put(emu: EmulatorContext, ctx: Ctx): Promise<void> {
  const id = emu.state.identity;
  const [, rg, name] = ctx.params;
  if (!preflight(emu, ctx, 'Microsoft.MachineLearning/webServices/write', ctx.path)) return;
  if (!checkResourceGroup(emu, ctx)) return;
  const body = validateBody(ctx, true);
  if (!body) return;
  const apiVersion = ctx.url.searchParams.get('api-version')!;
  if (!isRecord(body.properties) || body.properties.packageType !== 'Graph') {
    return simpleError(ctx, 400, 'BadRequest', "properties.packageType is required and must be 'Graph'.");
  }
  const props = upConvert({ ...body.properties }, apiVersion);
  const keys = takeKeys(props);
  const nowIso = new Date(emu.now()).toISOString();
  let ws = findService(emu, rg, name);
  const created = !ws;
  if (ws && ws.properties.readOnly === true) {
    return simpleError(
      ctx,
      409,
      'ReadOnlyWebService',
      `Web service '${ws.name}' is read-only; it can only be deleted.`,
    );
  }
  const before = ws ? ws.properties : null;
  if (!ws) {
    const runtime: RuntimeService = {
      id: emu.ids.hex32(),
      label: name,
      kind: 'scoring',
      workspaceId: null,
      subscriptionNoDashes: id.subscriptionId.replace(/-/g, ''),
      keys: keys ?? newKeyPair(),
      inputs: [{ name: 'input1', kind: 'dataset' }],
      outputs: [{ name: 'output1', kind: 'dataset' }],
      requiredInputs: ['input1'],
      target: armResourceId(id.subscriptionId, id.resourceGroup, name),
    };
    emu.state.services.push(runtime);
    ws = {
      resourceId: armResourceId(id.subscriptionId, id.resourceGroup, name),
      subscriptionId: id.subscriptionId,
      resourceGroup: id.resourceGroup,
      name,
      location: body.location as string,
      tags: {},
      properties: {},
      runtimeId: runtime.id,
      lastOperationId: null,
    };
    emu.state.armWebServices.push(ws);
    props.createdOn = nowIso;
  } else {
    // PUT overwrites; without keys the service generates new ones (docs/spec/ml-studio-classic-api.md §4.5 [I]), which rotates BES/RRS keys.
    runtimeOf(emu, ws)!.keys = keys ?? newKeyPair();
    props.createdOn = ws.properties.createdOn ?? nowIso;
  }
  const sub = id.subscriptionId.replace(/-/g, '');
  ws.location = body.location as string;
  ws.tags = isRecord(body.tags) ? (body.tags as Record<string, string>) : {};
  ws.properties = {
    ...props,
    modifiedOn: nowIso,
    swaggerLocation: `${emu.baseUrl}/subscriptions/${sub}/services/${ws.runtimeId}/swagger.json`,
  };
  const change = await applyModelChange(emu, ws, before);
  const op = newOperation(emu, ws, 'put', change.outcome, change.error);
  change.apply?.(op);
  ws.lastOperationId = op.id;
  emu.store.save();
  if (created) {
    // The observed 201 body is minimal (REC17), but webservices.json requires `packageType`, the discriminator
    // of WebServiceProperties, and generated SDK clients cannot deserialize the body without it.
    return send(
      ctx,
      201,
      {
        id: ws.resourceId,
        name: ws.name,
        type: WEB_SERVICE_TYPE,
        location: ws.location,
        tags: ws.tags,
        properties: downConvert(
          { payloadsInBlobStorage: false, provisioningState: 'Provisioning', packageType: 'Graph' },
          apiVersion,
        ),
      },
      lroHeaders(emu, ctx, op, apiVersion),
    );
  }
  send(ctx, 200, present(emu, ws, apiVersion), lroHeaders(emu, ctx, op, apiVersion));
}

export async function patch(emu: EmulatorContext, ctx: Ctx): Promise<void> {
  const ws = serviceForRoute(emu, ctx, 'Microsoft.MachineLearning/webServices/write');
  if (!ws) return;
  const body = validateBody(ctx, false);
  if (!body) return;
  if (ws.properties.readOnly === true) {
    return simpleError(
      ctx,
      409,
      'ReadOnlyWebService',
      `Web service '${ws.name}' is read-only; it can only be deleted.`,
    );
  }
  const apiVersion = ctx.url.searchParams.get('api-version')!;
  const patchProps = upConvert({ ...((body.properties as Record<string, unknown> | undefined) ?? {}) }, apiVersion);
  const keys = takeKeys(patchProps);
  // Read-only fields in a GET-edit-PATCH round trip are ignored, not applied.
  for (const k of ['provisioningState', 'createdOn', 'modifiedOn', 'swaggerLocation']) delete patchProps[k];
  const before = ws.properties;
  let merged: Record<string, unknown>;
  if (emu.opts.arm.assetsPatch === 'replace' && isRecord(patchProps.assets)) {
    const assets = patchProps.assets;
    delete patchProps.assets;
    merged = { ...deepMerge(before, patchProps), assets };
  } else {
    merged = deepMerge(before, patchProps);
  }
  if (
    isRecord(patchProps.storageAccount) &&
    isRecord(before.storageAccount) &&
    patchProps.storageAccount.key === undefined
  ) {
    // A GET-edited body has no storage key; keep the stored one rather than losing it.
    (merged.storageAccount as Record<string, unknown>).key = before.storageAccount.key;
  }
  merged.modifiedOn = new Date(emu.now()).toISOString();
  ws.properties = merged;
  if (keys) runtimeOf(emu, ws)!.keys = keys;
  if (typeof body.location === 'string') ws.location = body.location;
  if (isRecord(body.tags)) ws.tags = body.tags as Record<string, string>;
  const change = await applyModelChange(emu, ws, before);
  const op = newOperation(emu, ws, 'patch', change.outcome, change.error);
  change.apply?.(op);
  ws.lastOperationId = op.id;
  emu.store.save();
  send(ctx, 200, present(emu, ws, apiVersion), lroHeaders(emu, ctx, op, apiVersion));
}
