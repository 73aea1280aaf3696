import type { EmulatorContext } from '../context';
import type { Ctx } from '../http';
import { send } from '../http';
import { checkResourceGroup, preflight } from './guard';
import { armHeaders, findService, lroHeaders, newOperation, opUrl } from './resources';

export function remove(emu: EmulatorContext, ctx: Ctx): void {
  const [, rg, name] = ctx.params;
  if (!preflight(emu, ctx, 'Microsoft.MachineLearning/webServices/delete', ctx.path)) return;
  if (!checkResourceGroup(emu, ctx)) return;
  const ws = findService(emu, rg, name);
  // Observed: 204 without async headers for a name that does not exist (REC17).
  if (!ws) return send(ctx, 204, undefined, armHeaders(ctx, true));
  const apiVersion = ctx.url.searchParams.get('api-version')!;
  const op = newOperation(emu, ws, 'delete', 'Succeeded', null);
  emu.state.armWebServices = emu.state.armWebServices.filter((w) => w !== ws);
  emu.state.services = emu.state.services.filter((s) => s.id !== ws.runtimeId);
  delete emu.state.models[ws.resourceId];
  emu.store.save();
  send(ctx, 202, undefined, {
    ...lroHeaders(emu, ctx, op, apiVersion),
    Location: opUrl(emu, op, 'operationresults', apiVersion),
    'Retry-After': '1',
  });
}
