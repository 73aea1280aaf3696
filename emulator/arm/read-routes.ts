import type { EmulatorContext } from '../context';
import type { Ctx } from '../http';
import { send } from '../http';
import { checkResourceGroup, preflight, serviceForRoute } from './guard';
import { armHeaders, present, runtimeOf } from './resources';

export function get(emu: EmulatorContext, ctx: Ctx): void {
  const ws = serviceForRoute(emu, ctx, 'Microsoft.MachineLearning/webServices/read');
  if (!ws) return;
  send(ctx, 200, present(emu, ws, ctx.url.searchParams.get('api-version')!), armHeaders(ctx, false));
}

export function listKeys(emu: EmulatorContext, ctx: Ctx): void {
  const ws = serviceForRoute(emu, ctx, 'Microsoft.MachineLearning/webServices/listKeys/read');
  if (!ws) return;
  const keys = runtimeOf(emu, ws)?.keys;
  send(ctx, 200, { primary: keys?.primary ?? null, secondary: keys?.secondary ?? null }, armHeaders(ctx, false));
}

export function list(emu: EmulatorContext, ctx: Ctx): void {
  if (!preflight(emu, ctx, 'Microsoft.MachineLearning/webServices/read', ctx.path)) return;
  const rg = ctx.params[1];
  if (rg !== undefined && !checkResourceGroup(emu, ctx)) return;
  const apiVersion = ctx.url.searchParams.get('api-version')!;
  const value = emu.state.armWebServices
    .filter((w) => rg === undefined || w.resourceGroup.toLowerCase() === rg.toLowerCase())
    .map((w) => {
      // List results are sparse (docs/spec/ml-studio-classic-api.md §4.2): identity and headline properties only.
      const full = present(emu, w, apiVersion);
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
