import type { BlobRef } from './blobs';
import { joinBlobUrl, modelIdentity, readBlob, resolveBlobRef } from './blobs';
import type { EmulatorContext } from './context';
import { knownAccounts } from './context';
import type { Ctx } from './http';
import { bearerToken, isRecord, jsonBody, send, simpleError } from './http';
import { liveModel, scheduleActivation } from './models';
import type { ClassicEndpoint, ClassicWebService, RuntimeService } from './state';
import { newKeyPair } from './state';

/** Endpoint names (docs/spec/ml-studio-classic-api.md §1.2): lowercase letters and digits, hyphens inside, at most 24 characters. */
const ENDPOINT_NAME_RE = /^[a-z0-9](?:[a-z0-9-]{0,22}[a-z0-9])?$/;

export function classicTarget(ws: ClassicWebService, ep: ClassicEndpoint): string {
  return `${ws.workspaceId}/${ws.id}/${ep.name}`;
}

export function createClassicHandlers(emu: EmulatorContext) {
  const serviceOf = (ep: ClassicEndpoint): RuntimeService | undefined =>
    emu.state.services.find((s) => s.id === ep.serviceId);

  function endpointJson(ws: ClassicWebService, ep: ClassicEndpoint): Record<string, unknown> {
    const service = serviceOf(ep);
    return {
      Name: ep.name,
      Description: ep.description,
      CreationTime: ep.creationTime,
      WorkspaceId: ws.workspaceId,
      WebServiceId: ws.id,
      HelpLocation: `${emu.baseUrl}/apihelp/workspaces/${ws.workspaceId}/webservices/${ws.id}/endpoints/${ep.serviceId}`,
      PrimaryKey: service?.keys.primary ?? null,
      SecondaryKey: service?.keys.secondary ?? null,
      ApiLocation: `${emu.baseUrl}/workspaces/${ws.workspaceId}/services/${ep.serviceId}`,
      ExperimentLocation: `${emu.baseUrl}/Home/ViewWorkspace/${ws.workspaceId}#/experiments/${ws.id}`,
      Version: ep.version,
      MaxConcurrentCalls: ep.maxConcurrentCalls,
      DiagnosticsTraceLevel: ep.diagnosticsTraceLevel,
      ThrottleLevel: ep.throttleLevel,
      Resources: ep.resources,
      PreventUpdate: false,
      SampleDataEnabled: false,
    };
  }

  function webServiceJson(ws: ClassicWebService): Record<string, unknown> {
    return {
      Id: ws.id,
      Name: ws.name,
      Description: ws.description,
      CreationTime: ws.creationTime,
      WorkspaceId: ws.workspaceId,
      DefaultEndpointName: ws.defaultEndpointName,
    };
  }

  interface Resolved {
    webServices: ClassicWebService[];
    ws: ClassicWebService | null;
    ep: ClassicEndpoint | null;
  }

  /** Look up workspace / web service / endpoint (by name, or by id docs/spec/ml-studio-classic-api.md §3.2) and check the key; null when answered. */
  function resolve(ctx: Ctx, needEndpoint: boolean): Resolved | null {
    const [workspaceId, webServiceId, endpointName] = ctx.params;
    const webServices = emu.state.classicWebServices.filter((w) => w.workspaceId === workspaceId);
    if (workspaceId !== emu.state.identity.workspaceId) {
      simpleError(ctx, 404, 'WorkspaceNotFound', `Workspace ${workspaceId} was not found.`);
      return null;
    }
    let ws: ClassicWebService | null = null;
    let ep: ClassicEndpoint | null = null;
    if (webServiceId !== undefined) {
      ws = webServices.find((w) => w.id === webServiceId) ?? null;
      if (!ws) {
        simpleError(
          ctx,
          404,
          'WebServiceIdNotFoundInWorkspace',
          `Web service ${webServiceId} was not found in workspace ${workspaceId}.`,
        );
        return null;
      }
    }
    if (ws && endpointName !== undefined) {
      ep = ws.endpoints.find((e) => e.name === endpointName || e.serviceId === endpointName) ?? null;
      if (!ep && needEndpoint) {
        simpleError(ctx, 404, 'EndpointNotFound', `Endpoint ${endpointName} was not found in web service ${ws.id}.`);
        return null;
      }
    }
    // Workspace authorization token, or the key of the endpoint addressed (or of any endpoint of the web service).
    const token = bearerToken(ctx);
    const candidates = ep ? [ep] : (ws ? [ws] : webServices).flatMap((w) => w.endpoints);
    const ok =
      !!token &&
      (token === emu.state.identity.workspaceToken ||
        candidates.some((e) => {
          const k = serviceOf(e)?.keys;
          return !!k && (token === k.primary || token === k.secondary);
        }));
    if (!ok) {
      simpleError(ctx, 401, 'ManagementRequestUnauthorized', 'Unauthorized');
      return null;
    }
    return { webServices, ws, ep };
  }

  function get(ctx: Ctx): void {
    const r = resolve(ctx, true);
    if (!r) return;
    const [, webServiceId, endpointName] = ctx.params;
    if (webServiceId === undefined) {
      return r.webServices.length ? send(ctx, 200, r.webServices.map(webServiceJson)) : send(ctx, 204);
    }
    const ws = r.ws!;
    if (endpointName !== undefined) return send(ctx, 200, endpointJson(ws, r.ep!));
    if (!ctx.path.endsWith('/endpoints')) return send(ctx, 200, webServiceJson(ws));
    const list = ws.endpoints.map((e) => endpointJson(ws, e));
    send(ctx, 200, list);
  }

  async function patch(ctx: Ctx): Promise<void> {
    const r = resolve(ctx, true);
    if (!r || !r.ws || !r.ep) return;
    const { ws, ep } = r;
    if (ep.isDefault) {
      const e = emu.opts.classic.defaultEndpointPatchError;
      return simpleError(
        ctx,
        e.status,
        e.code,
        `The default endpoint '${ep.name}' cannot be updated: default endpoints are kept in sync with the experiment. Add a non-default endpoint to retrain.`,
      );
    }
    const body = jsonBody(ctx);
    if (body === undefined || body instanceof Error || !isRecord(body)) {
      return simpleError(ctx, 400, 'BadArgument', 'The request body must be a JSON object.');
    }
    if (body.Resources !== undefined && !Array.isArray(body.Resources)) {
      return simpleError(ctx, 400, 'BadArgument', 'Resources must be an array.');
    }
    const updates: {
      index: number;
      location: ClassicEndpoint['resources'][number]['Location'];
      identity: string | null;
      url: string;
    }[] = [];
    for (const raw of (body.Resources as unknown[] | undefined) ?? []) {
      if (!isRecord(raw) || typeof raw.Name !== 'string' || !isRecord(raw.Location)) {
        return simpleError(ctx, 400, 'BadArgument', 'Each resource needs Name and Location.');
      }
      const index = ep.resources.findIndex((res) => res.Name === raw.Name);
      if (index < 0) {
        const e = emu.opts.classic.unknownResourceError;
        const names = ep.resources.map((res) => `'${res.Name}'`).join(', ') || 'none';
        return simpleError(
          ctx,
          e.status,
          e.code,
          `Resource '${raw.Name}' does not exist on endpoint '${ep.name}'. Updatable resources: ${names}.`,
        );
      }
      const loc = raw.Location;
      const ref: BlobRef = {
        BaseLocation: typeof loc.BaseLocation === 'string' ? loc.BaseLocation : null,
        RelativeLocation: typeof loc.RelativeLocation === 'string' ? loc.RelativeLocation : null,
        SasBlobToken: typeof loc.SasBlobToken === 'string' ? loc.SasBlobToken : null,
      };
      const target = resolveBlobRef(ref, knownAccounts(emu));
      if ('code' in target) {
        return simpleError(
          ctx,
          400,
          'BadArgument',
          `Resource '${raw.Name}': Location needs BaseLocation, RelativeLocation and SasBlobToken.`,
        );
      }
      // The service must be able to fetch the model through the SAS it was given (docs/spec/ml-studio-classic-api.md §3.4): read it now.
      const read = await readBlob(target);
      const e = emu.opts.classic.unreadableBlobError;
      const blobUrl = joinBlobUrl(ref.BaseLocation!, ref.RelativeLocation!);
      if (!read.ok) {
        return simpleError(
          ctx,
          e.status,
          e.code,
          `Unable to access the trained model blob ${blobUrl} with the provided SAS: ${read.status} ${read.code}.`,
        );
      }
      if (read.content.length === 0) {
        return simpleError(ctx, e.status, e.code, `The trained model blob ${blobUrl} is empty.`);
      }
      updates.push({
        index,
        location: {
          BaseLocation: ref.BaseLocation!,
          RelativeLocation: ref.RelativeLocation!,
          SasBlobToken: ref.SasBlobToken!,
        },
        identity: modelIdentity(read.content),
        url: blobUrl,
      });
    }
    if (typeof body.Description === 'string') ep.description = body.Description;
    if (typeof body.ThrottleLevel === 'string') ep.throttleLevel = body.ThrottleLevel;
    if (typeof body.MaxConcurrentCalls === 'number') ep.maxConcurrentCalls = body.MaxConcurrentCalls;
    if (typeof body.DiagnosticsTraceLevel === 'string') ep.diagnosticsTraceLevel = body.DiagnosticsTraceLevel;
    const now = emu.now();
    for (const u of updates) {
      const resource = ep.resources[u.index];
      resource.Location = u.location;
      // Location changes at once; the model serves calls after the activation delay (~30 s on the real service).
      scheduleActivation(emu, classicTarget(ws, ep), u.identity, now + emu.opts.classic.activationDelayMs);
      emu.state.updates.push({
        atMs: now,
        kind: 'classic',
        target: classicTarget(ws, ep),
        resourceName: resource.Name,
        modelJobId: u.identity,
        blobUrl: u.url,
      });
    }
    emu.store.save();
    send(ctx, emu.opts.classic.patchSuccessStatus);
  }

  function put(ctx: Ctx): void {
    const r = resolve(ctx, false);
    if (!r || !r.ws) return;
    const ws = r.ws;
    const name = ctx.params[2];
    if (!ENDPOINT_NAME_RE.test(name)) {
      return simpleError(
        ctx,
        400,
        'BadArgument',
        `Invalid endpoint name '${name}': use at most 24 lowercase letters, digits or inner hyphens.`,
      );
    }
    const body = jsonBody(ctx);
    const props = isRecord(body) ? body : {};
    let ep = r.ep;
    if (!ep) {
      const def = ws.endpoints.find((e) => e.isDefault)!;
      const defService = serviceOf(def)!;
      const service: RuntimeService = {
        ...defService,
        id: emu.ids.hex32(),
        label: `${ws.name} / ${name}`,
        keys: newKeyPair(),
        target: `${ws.workspaceId}/${ws.id}/${name}`,
      };
      emu.state.services.push(service);
      const now = new Date(emu.now()).toISOString();
      ep = {
        ...def,
        name,
        serviceId: service.id,
        isDefault: false,
        creationTime: now,
        version: now,
        description: '',
        resources: def.resources.map((res) => ({ ...res, Location: { ...res.Location } })),
      };
      ws.endpoints.push(ep);
      // A new endpoint is locked to the model version of the default endpoint at creation (docs/spec/ml-studio-classic-api.md §3.3 Version).
      const current = liveModel(emu, classicTarget(ws, def));
      scheduleActivation(emu, classicTarget(ws, ep), current, emu.now());
    }
    if (typeof props.Description === 'string') ep.description = props.Description;
    if (typeof props.ThrottleLevel === 'string') ep.throttleLevel = props.ThrottleLevel;
    if (typeof props.MaxConcurrentCalls === 'number') ep.maxConcurrentCalls = props.MaxConcurrentCalls;
    emu.store.save();
    send(ctx, 200, endpointJson(ws, ep));
  }

  return { get, patch, put };
}
