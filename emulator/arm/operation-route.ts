import type { EmulatorContext } from '../context';
import type { Ctx } from '../http';
import { send, simpleError } from '../http';
import { preflight } from './guard';
import { armHeaders, opUrl } from './resources';

export function operationStatus(emu: EmulatorContext, ctx: Ctx): void {
  const [, , opId] = ctx.params;
  if (!preflight(emu, ctx, 'Microsoft.MachineLearning/locations/operationsStatus/read', ctx.path)) return;
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
        Location: opUrl(emu, op, 'operationresults', apiVersion),
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
