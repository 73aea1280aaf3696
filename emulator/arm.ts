import { randomUUID } from 'node:crypto';
import type { BlobTarget } from './blobs';
import { accountFromConnectionString } from './azurite';
import { modelIdentity, readBlob, resolveBlobUrl } from './blobs';
import type { EmulatorContext } from './context';
import { knownAccounts } from './context';
import type { Ctx } from './http';
import { bearerToken, isRecord, jsonBody, maskText, send, simpleError } from './http';
import { scheduleActivation } from './models';
import type { ArmOperation, ArmWebService, KeyPair, RuntimeService } from './state';
import { newKeyPair } from './state';
import { isArmAudience, verifyToken } from './tokens';

export const ARM_API_VERSIONS = ['2016-05-01-preview', '2017-01-01'];
export const WEB_SERVICE_TYPE = 'Microsoft.MachineLearning/webServices';
const PREVIEW = '2016-05-01-preview';

/** ARM location segment for a display name: "South Central US" → "southcentralus". */
export function locationSegment(location: string): string {
  return location.replace(/\s+/g, '').toLowerCase();
}

export function armResourceId(subscriptionId: string, resourceGroup: string, name: string): string {
  return `/subscriptions/${subscriptionId}/resourceGroups/${resourceGroup}/providers/Microsoft.MachineLearning/webServices/${name}`;
}

/** Merge-patch of plain objects (null deletes, arrays and scalars replace), the usual ARM PATCH reading (docs/spec/ml-studio-classic-api.md §4.5 [I]). */
export function deepMerge(target: Record<string, unknown>, patch: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = { ...target };
  for (const [k, v] of Object.entries(patch)) {
    if (v === null) delete out[k];
    else if (isRecord(v) && isRecord(out[k])) out[k] = deepMerge(out[k], v);
    else out[k] = v;
  }
  return out;
}

/** 2016-05-01-preview has string maps where 2017-01-01 has `{value, certificateThumbprint}` (docs/spec/ml-studio-classic-api.md §4.4). */
function paramsToPreview(params: unknown): unknown {
  if (!isRecord(params)) return params;
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(params)) out[k] = isRecord(v) && 'value' in v ? v.value : v;
  return out;
}

function paramsFromPreview(params: unknown): unknown {
  if (!isRecord(params)) return params;
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(params)) out[k] = isRecord(v) ? v : { value: v };
  return out;
}

function mapPackageNodes(pkg: unknown, fn: (p: unknown) => unknown): unknown {
  if (!isRecord(pkg) || !isRecord(pkg.nodes)) return pkg;
  const nodes: Record<string, unknown> = {};
  for (const [k, node] of Object.entries(pkg.nodes)) {
    nodes[k] = isRecord(node) && node.parameters !== undefined ? { ...node, parameters: fn(node.parameters) } : node;
  }
  return { ...pkg, nodes };
}

/** Bring a request's properties to the stored 2017-01-01 shape. */
function upConvert(props: Record<string, unknown>, apiVersion: string): Record<string, unknown> {
  if (apiVersion !== PREVIEW) return props;
  const out = { ...props };
  if (out.parameters !== undefined) out.parameters = paramsFromPreview(out.parameters);
  if (out.package !== undefined) out.package = mapPackageNodes(out.package, paramsFromPreview);
  return out;
}

function downConvert(props: Record<string, unknown>, apiVersion: string): Record<string, unknown> {
  if (apiVersion !== PREVIEW) return props;
  const out = { ...props };
  delete out.payloadsInBlobStorage;
  delete out.payloadsLocation;
  if (out.parameters !== undefined) out.parameters = paramsToPreview(out.parameters);
  if (out.package !== undefined) out.package = mapPackageNodes(out.package, paramsToPreview);
  return out;
}

/** The asset that holds the trained model: the configured name, else any Resource named "... [trained model]". */
export function trainedModelAsset(
  props: Record<string, unknown>,
  preferredName: string,
): { key: string; asset: Record<string, unknown> } | null {
  const assets = isRecord(props.assets) ? props.assets : {};
  const resources = Object.entries(assets).filter(([, a]) => isRecord(a) && a.type === 'Resource') as [
    string,
    Record<string, unknown>,
  ][];
  const pick =
    resources.find(([, a]) => a.name === preferredName) ??
    resources.find(([, a]) => typeof a.name === 'string' && a.name.endsWith('[trained model]')) ??
    resources[0];
  return pick ? { key: pick[0], asset: pick[1] } : null;
}

function assetUri(asset: Record<string, unknown> | undefined): { uri: string | null; credentials: string | null } {
  const info = asset && isRecord(asset.locationInfo) ? asset.locationInfo : {};
  return {
    uri: typeof info.uri === 'string' ? info.uri : null,
    credentials: typeof info.credentials === 'string' && info.credentials ? info.credentials : null,
  };
}

/**
 * Read the model an asset points at: through the SAS in the URI when present, else with the key of a known account
 * (the Azurite the emulator runs), else with a connection string in `credentials` (docs/spec/ml-studio-classic-api.md §4.4, open question 8).
 */
async function readAssetModel(
  emu: EmulatorContext,
  uri: string,
  credentials: string | null,
): Promise<{ ok: true; identity: string | null; url: string } | { ok: false; message: string }> {
  const accounts = knownAccounts(emu);
  const fromCreds = credentials ? accountFromConnectionString(credentials) : null;
  if (fromCreds) accounts.push(fromCreds);
  const target: BlobTarget | null = resolveBlobUrl(uri, accounts);
  const safeUri = maskText(uri);
  if (!target) return { ok: false, message: `The trained model location '${safeUri}' is not a blob URL.` };
  const read = await readBlob(target);
  if (!read.ok) {
    return { ok: false, message: `Unable to access the trained model blob '${safeUri}': ${read.status} ${read.code}.` };
  }
  if (read.content.length === 0) return { ok: false, message: `The trained model blob '${safeUri}' is empty.` };
  return { ok: true, identity: modelIdentity(read.content), url: target.url };
}

/** The resource definition of the seeded ARM scoring service (shape of SPEC17's getWebService example + REC17). */
export function seedArmProperties(emu: EmulatorContext, runtimeId: string, modelUrl: string, trainedModelName: string) {
  const now = new Date(emu.now()).toISOString();
  const sub = emu.state.identity.subscriptionId;
  const column = (type: string, format?: string) => (format ? { type, format } : { type });
  return {
    title: 'ADFV2Sample [Predictive Exp.]',
    description: 'Scoring web service updated with models retrained by the training web service.',
    createdOn: now,
    modifiedOn: now,
    provisioningState: 'Succeeded',
    readOnly: false,
    swaggerLocation: `${emu.baseUrl}/subscriptions/${sub.replace(/-/g, '')}/services/${runtimeId}/swagger.json`,
    exposeSampleData: false,
    realtimeConfiguration: { maxConcurrentCalls: 4 },
    diagnostics: { level: 'None' },
    storageAccount: { name: emu.storage.accountName, key: emu.storage.accountKey },
    machineLearningWorkspace: { id: emu.state.identity.workspaceId },
    commitmentPlan: {
      id: `/subscriptions/${sub}/resourceGroups/${emu.state.identity.resourceGroup}/providers/Microsoft.MachineLearning/commitmentPlans/defaultCommitmentPlan`,
    },
    input: {
      title: '',
      description: '',
      type: 'object',
      properties: {
        input1: {
          type: 'object',
          properties: { age: column('Integer', 'Int32'), income: column('Number', 'Double'), label: column('String') },
        },
      },
    },
    output: {
      title: '',
      description: '',
      type: 'object',
      properties: {
        output1: {
          type: 'object',
          properties: { 'Scored Labels': column('String'), 'Scored Probabilities': column('Number', 'Double') },
        },
      },
    },
    exampleRequest: { inputs: { input1: [['42', '51000', '1']] }, globalParameters: {} },
    assets: {
      asset1: {
        name: 'Score Model',
        type: 'Module',
        locationInfo: { uri: 'aml://module/401b4f92e7244d5aa0bd5ebd73e4b5bb', credentials: '' },
      },
      asset2: {
        name: 'Select Columns in Dataset',
        type: 'Module',
        locationInfo: { uri: 'aml://module/506153734175476c4f62416c57734963', credentials: '' },
      },
      asset3: {
        name: trainedModelName,
        type: 'Resource',
        locationInfo: { uri: modelUrl },
        outputPorts: { 'Results dataset': { type: 'Dataset' } },
      },
    },
    parameters: {},
    payloadsInBlobStorage: false,
    packageType: 'Graph',
    package: {
      nodes: {
        node1: { inputId: 'input1' },
        node2: {
          assetId: 'asset2',
          parameters: {
            'Column Selection': { value: '{"isFilter":true,"rules":[{"ruleType":"AllColumns","exclude":false}]}' },
          },
        },
        node3: { assetId: 'asset3' },
        node4: { assetId: 'asset1', parameters: { 'Append score columns to output': { value: 'True' } } },
        node5: { outputId: 'output1' },
      },
      edges: [
        { sourceNodeId: 'node1', sourcePortId: 'output', targetNodeId: 'node2', targetPortId: 'Dataset' },
        { sourceNodeId: 'node2', sourcePortId: 'Results dataset', targetNodeId: 'node4', targetPortId: 'Dataset' },
        {
          sourceNodeId: 'node3',
          sourcePortId: 'Results dataset',
          targetNodeId: 'node4',
          targetPortId: 'Trained model',
        },
        { sourceNodeId: 'node4', sourcePortId: 'Scored dataset', targetNodeId: 'node5', targetPortId: 'input' },
      ],
      graphParameters: {},
    },
  };
}

export function createArmHandlers(emu: EmulatorContext) {
  const id = emu.state.identity;

  function armHeaders(ctx: Ctx, write: boolean): Record<string, string> {
    const correlation = String(ctx.req.headers['x-ms-client-request-id'] ?? randomUUID());
    return {
      'x-ms-correlation-request-id': correlation,
      [write ? 'x-ms-ratelimit-remaining-subscription-writes' : 'x-ms-ratelimit-remaining-subscription-reads']: write
        ? '1199'
        : '11999',
    };
  }

  function unauthorized(ctx: Ctx, code: string, message: string): void {
    simpleError(
      ctx,
      401,
      code,
      message,
      {},
      {
        'WWW-Authenticate': `Bearer authorization_uri="${emu.baseUrl}/${id.tenantId}", error="invalid_token", error_description="${message.replace(/"/g, "'")}"`,
      },
    );
  }

  /** Token, api-version, role and subscription checks shared by every ARM route; false when already answered. */
  function preflight(ctx: Ctx, action: string, scope: string): boolean {
    const token = bearerToken(ctx);
    if (!token) {
      unauthorized(ctx, 'AuthenticationFailed', "Authentication failed. The 'Authorization' header is missing.");
      return false;
    }
    const nowS = Math.floor(emu.now() / 1000);
    const v = verifyToken(id.tokenSigningKey, token, nowS);
    if (!v.ok) {
      if (v.reason === 'expired') {
        const exp = new Date((v.exp ?? 0) * 1000).toISOString();
        unauthorized(
          ctx,
          'ExpiredAuthenticationToken',
          `The access token expiry UTC time '${exp}' is earlier than current UTC time '${new Date(nowS * 1000).toISOString()}'.`,
        );
      } else {
        unauthorized(ctx, 'InvalidAuthenticationToken', 'The access token is invalid.');
      }
      return false;
    }
    if (!isArmAudience(v.claims.aud)) {
      unauthorized(
        ctx,
        'InvalidAuthenticationTokenAudience',
        `The access token has been obtained for wrong audience or resource '${v.claims.aud}'. It should exactly match with one of the allowed audiences 'https://management.core.windows.net/','https://management.azure.com/'.`,
      );
      return false;
    }
    if (v.claims.tid !== id.tenantId) {
      unauthorized(
        ctx,
        'InvalidAuthenticationTokenTenant',
        `The access token is from the wrong issuer '${v.claims.iss}'.`,
      );
      return false;
    }
    const apiVersion = ctx.url.searchParams.get('api-version');
    if (!apiVersion) {
      simpleError(
        ctx,
        400,
        'MissingApiVersionParameter',
        'The api-version query parameter (?api-version=) is required for all requests.',
      );
      return false;
    }
    if (!ARM_API_VERSIONS.includes(apiVersion)) {
      simpleError(
        ctx,
        400,
        'NoRegisteredProviderFound',
        `No registered resource provider found for location '${locationSegment(id.region)}' and API version '${apiVersion}' for type 'webServices'. The supported api-versions are '${ARM_API_VERSIONS.join(', ')}'.`,
      );
      return false;
    }
    if (!emu.opts.arm.principalHasRole) {
      simpleError(
        ctx,
        403,
        'AuthorizationFailed',
        `The client '${v.claims.appid}' with object id '${v.claims.oid}' does not have authorization to perform action '${action}' over scope '${scope}' or the scope is invalid. If access was recently granted, please refresh your credentials.`,
      );
      return false;
    }
    if (ctx.params[0].toLowerCase() !== id.subscriptionId.toLowerCase()) {
      simpleError(ctx, 404, 'SubscriptionNotFound', `The subscription '${ctx.params[0]}' could not be found.`);
      return false;
    }
    return true;
  }

  function checkResourceGroup(ctx: Ctx): boolean {
    if (ctx.params[1].toLowerCase() === id.resourceGroup.toLowerCase()) return true;
    simpleError(ctx, 404, 'ResourceGroupNotFound', `Resource group '${ctx.params[1]}' could not be found.`);
    return false;
  }

  function findService(rg: string, name: string): ArmWebService | undefined {
    return emu.state.armWebServices.find(
      (w) => w.resourceGroup.toLowerCase() === rg.toLowerCase() && w.name.toLowerCase() === name.toLowerCase(),
    );
  }

  function notFound(ctx: Ctx, name: string): void {
    simpleError(ctx, 404, 'NotFound', 'The specified resource was not found.', {
      details: [
        { code: 'WebServiceNotFound', message: `No Web Service could be found with the provided name: ${name}.` },
      ],
    });
  }

  function runtimeOf(ws: ArmWebService): RuntimeService | undefined {
    return emu.state.services.find((s) => s.id === ws.runtimeId);
  }

  function operation(opId: string | null): ArmOperation | undefined {
    return opId ? emu.state.armOperations.find((o) => o.id === opId) : undefined;
  }

  function provisioningState(ws: ArmWebService): string {
    const op = operation(ws.lastOperationId);
    if (!op) return 'Succeeded';
    if (emu.now() < op.endMs) return 'Provisioning';
    return op.outcome;
  }

  /** GET shape: no keys, no storage key, no commitment plan (docs/spec/ml-studio-classic-api.md §4.2). */
  function present(ws: ArmWebService, apiVersion: string): Record<string, unknown> {
    const props: Record<string, unknown> = { ...ws.properties, provisioningState: provisioningState(ws) };
    delete props.keys;
    delete props.commitmentPlan;
    if (isRecord(props.storageAccount)) props.storageAccount = { name: props.storageAccount.name };
    return {
      id: ws.resourceId,
      name: ws.name,
      type: WEB_SERVICE_TYPE,
      location: ws.location,
      tags: ws.tags,
      properties: downConvert(props, apiVersion),
    };
  }

  function opUrl(op: ArmOperation, kind: 'operationsStatus' | 'operationresults', apiVersion: string): string {
    return `${emu.baseUrl}/subscriptions/${op.subscriptionId}/providers/Microsoft.MachineLearning/locations/${op.locationSegment}/${kind}/${op.id}?api-version=${apiVersion}`;
  }

  function newOperation(
    ws: ArmWebService,
    kind: ArmOperation['kind'],
    outcome: ArmOperation['outcome'],
    error: ArmOperation['error'],
  ): ArmOperation {
    const start = emu.now();
    const op: ArmOperation = {
      id: emu.ids.guid(),
      subscriptionId: ws.subscriptionId,
      locationSegment: locationSegment(ws.location),
      resourceId: ws.resourceId,
      kind,
      startMs: start,
      endMs: start + emu.opts.arm.provisioningMs,
      outcome,
      error,
    };
    emu.state.armOperations.push(op);
    if (emu.state.armOperations.length > 1000) emu.state.armOperations.splice(0, emu.state.armOperations.length - 1000);
    return op;
  }

  /**
   * Re-read the trained model when its location changed and schedule it to go live when the operation succeeds.
   * An unreadable blob makes the operation end Failed, the way an LRO reports a bad definition.
   */
  async function applyModelChange(
    ws: ArmWebService,
    before: Record<string, unknown> | null,
  ): Promise<{
    outcome: ArmOperation['outcome'];
    error: ArmOperation['error'];
    apply: ((op: ArmOperation) => void) | null;
  }> {
    const preferred = emu.state.topology.trainedModelName;
    const now = trainedModelAsset(ws.properties, preferred);
    if (!now) return { outcome: 'Succeeded', error: null, apply: null };
    const prev = before ? trainedModelAsset(before, preferred) : null;
    const loc = assetUri(now.asset);
    const prevLoc = assetUri(prev?.asset);
    if (prev && loc.uri === prevLoc.uri && loc.credentials === prevLoc.credentials) {
      return { outcome: 'Succeeded', error: null, apply: null };
    }
    if (!loc.uri) {
      return {
        outcome: 'Failed',
        error: {
          code: 'UpdateWebServiceResourceFailed',
          message: `Asset '${String(now.asset.name)}' has no locationInfo.uri.`,
        },
        apply: null,
      };
    }
    const read = await readAssetModel(emu, loc.uri, loc.credentials);
    if (!read.ok)
      return {
        outcome: 'Failed',
        error: { code: 'UpdateWebServiceResourceFailed', message: read.message },
        apply: null,
      };
    return {
      outcome: 'Succeeded',
      error: null,
      apply: (op) => {
        scheduleActivation(emu, ws.resourceId, read.identity, op.endMs);
        emu.state.updates.push({
          atMs: op.startMs,
          kind: 'arm',
          target: ws.resourceId,
          resourceName: typeof now.asset.name === 'string' ? now.asset.name : now.key,
          modelJobId: read.identity,
          blobUrl: read.url,
        });
      },
    };
  }

  function lroHeaders(ctx: Ctx, op: ArmOperation, apiVersion: string): Record<string, string> {
    return {
      ...armHeaders(ctx, true),
      'Azure-AsyncOperation': opUrl(op, 'operationsStatus', apiVersion),
      'Azure-AsyncOperationPercentComplete': '0',
    };
  }

  function get(ctx: Ctx): void {
    const [, rg, name] = ctx.params;
    if (!preflight(ctx, 'Microsoft.MachineLearning/webServices/read', ctx.path)) return;
    if (!checkResourceGroup(ctx)) return;
    const ws = findService(rg, name);
    if (!ws) return notFound(ctx, name);
    send(ctx, 200, present(ws, ctx.url.searchParams.get('api-version')!), armHeaders(ctx, false));
  }

  function listKeys(ctx: Ctx): void {
    const [, rg, name] = ctx.params;
    if (!preflight(ctx, 'Microsoft.MachineLearning/webServices/listKeys/read', ctx.path)) return;
    if (!checkResourceGroup(ctx)) return;
    const ws = findService(rg, name);
    if (!ws) return notFound(ctx, name);
    const keys = runtimeOf(ws)?.keys;
    send(ctx, 200, { primary: keys?.primary ?? null, secondary: keys?.secondary ?? null }, armHeaders(ctx, false));
  }

  function list(ctx: Ctx): void {
    if (!preflight(ctx, 'Microsoft.MachineLearning/webServices/read', ctx.path)) return;
    const rg = ctx.params[1];
    if (rg !== undefined && !checkResourceGroup(ctx)) return;
    const apiVersion = ctx.url.searchParams.get('api-version')!;
    const value = emu.state.armWebServices
      .filter((w) => rg === undefined || w.resourceGroup.toLowerCase() === rg.toLowerCase())
      .map((w) => {
        // List results are sparse (docs/spec/ml-studio-classic-api.md §4.2): identity and headline properties only.
        const full = present(w, apiVersion);
        const p = full.properties as Record<string, unknown>;
        return {
          ...full,
          properties: {
            title: p.title,
            description: p.description,
            createdOn: p.createdOn,
            modifiedOn: p.modifiedOn,
            provisioningState: p.provisioningState,
            readOnly: p.readOnly,
            swaggerLocation: p.swaggerLocation,
            packageType: p.packageType,
          },
        };
      });
    send(ctx, 200, { value, nextLink: null }, armHeaders(ctx, false));
  }

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

  async function put(ctx: Ctx): Promise<void> {
    const [, rg, name] = ctx.params;
    if (!preflight(ctx, 'Microsoft.MachineLearning/webServices/write', ctx.path)) return;
    if (!checkResourceGroup(ctx)) return;
    const body = validateBody(ctx, true);
    if (!body) return;
    const apiVersion = ctx.url.searchParams.get('api-version')!;
    if (!isRecord(body.properties) || body.properties.packageType !== 'Graph') {
      return simpleError(ctx, 400, 'BadRequest', "properties.packageType is required and must be 'Graph'.");
    }
    const props = upConvert({ ...body.properties }, apiVersion);
    const keys = takeKeys(props);
    const nowIso = new Date(emu.now()).toISOString();
    let ws = findService(rg, name);
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
      runtimeOf(ws)!.keys = keys ?? newKeyPair();
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
    const change = await applyModelChange(ws, before);
    const op = newOperation(ws, 'put', change.outcome, change.error);
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
        lroHeaders(ctx, op, apiVersion),
      );
    }
    send(ctx, 200, present(ws, apiVersion), lroHeaders(ctx, op, apiVersion));
  }

  async function patch(ctx: Ctx): Promise<void> {
    const [, rg, name] = ctx.params;
    if (!preflight(ctx, 'Microsoft.MachineLearning/webServices/write', ctx.path)) return;
    if (!checkResourceGroup(ctx)) return;
    const ws = findService(rg, name);
    if (!ws) return notFound(ctx, name);
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
    if (keys) runtimeOf(ws)!.keys = keys;
    if (typeof body.location === 'string') ws.location = body.location;
    if (isRecord(body.tags)) ws.tags = body.tags as Record<string, string>;
    const change = await applyModelChange(ws, before);
    const op = newOperation(ws, 'patch', change.outcome, change.error);
    change.apply?.(op);
    ws.lastOperationId = op.id;
    emu.store.save();
    send(ctx, 200, present(ws, apiVersion), lroHeaders(ctx, op, apiVersion));
  }

  function remove(ctx: Ctx): void {
    const [, rg, name] = ctx.params;
    if (!preflight(ctx, 'Microsoft.MachineLearning/webServices/delete', ctx.path)) return;
    if (!checkResourceGroup(ctx)) return;
    const ws = findService(rg, name);
    // Observed: 204 without async headers for a name that does not exist (REC17).
    if (!ws) return send(ctx, 204, undefined, armHeaders(ctx, true));
    const apiVersion = ctx.url.searchParams.get('api-version')!;
    const op = newOperation(ws, 'delete', 'Succeeded', null);
    emu.state.armWebServices = emu.state.armWebServices.filter((w) => w !== ws);
    emu.state.services = emu.state.services.filter((s) => s.id !== ws.runtimeId);
    delete emu.state.models[ws.resourceId];
    emu.store.save();
    send(ctx, 202, undefined, {
      ...lroHeaders(ctx, op, apiVersion),
      Location: opUrl(op, 'operationresults', apiVersion),
      'Retry-After': '1',
    });
  }

  function operationStatus(ctx: Ctx): void {
    const [, , opId] = ctx.params;
    if (!preflight(ctx, 'Microsoft.MachineLearning/locations/operationsStatus/read', ctx.path)) return;
    const op = emu.state.armOperations.find((o) => o.id.toLowerCase() === opId.toLowerCase());
    if (!op) return simpleError(ctx, 404, 'NotFound', `Operation ${opId} was not found.`);
    const now = emu.now();
    const done = now >= op.endMs;
    const results = ctx.path.toLowerCase().includes('/operationresults/');
    const apiVersion = ctx.url.searchParams.get('api-version')!;
    if (results) {
      // Location-header polling: 202 while running, then the outcome (DOC-ARMASYNC).
      if (!done) {
        return send(ctx, 202, undefined, {
          ...armHeaders(ctx, false),
          Location: opUrl(op, 'operationresults', apiVersion),
          'Retry-After': '1',
        });
      }
      if (op.outcome === 'Failed' && op.error) return simpleError(ctx, 400, op.error.code, op.error.message);
      return send(ctx, 204, undefined, armHeaders(ctx, false));
    }
    const fraction = Math.min(1, Math.max(0, (now - op.startMs) / Math.max(1, op.endMs - op.startMs)));
    const body: Record<string, unknown> = {
      id: `/subscriptions/${op.subscriptionId}/providers/Microsoft.MachineLearning/locations/${op.locationSegment}/operationsStatus/${op.id}`,
      name: op.id,
      status: done ? op.outcome : 'Provisioning',
      startTime: new Date(op.startMs).toISOString(),
      percentComplete: done ? 1 : Math.round(fraction * 100) / 100,
    };
    if (done) body.endTime = new Date(op.endMs).toISOString();
    if (done && op.error) body.error = op.error;
    send(ctx, 200, body, armHeaders(ctx, false));
  }

  return { get, put, patch, remove, listKeys, list, operationStatus };
}
