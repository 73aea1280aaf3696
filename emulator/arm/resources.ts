import { randomUUID } from 'node:crypto';
import type { EmulatorContext } from '../context';
import type { Ctx } from '../http';
import { isRecord, simpleError } from '../http';
import type { ArmOperation, ArmWebService, RuntimeService } from '../state';
import { downConvert, locationSegment, WEB_SERVICE_TYPE } from './resource-shape';

// Stored web services and their long-running operations, and how ARM responses present them.

export function armHeaders(ctx: Ctx, write: boolean): Record<string, string> {
  const correlation = String(ctx.req.headers['x-ms-client-request-id'] ?? randomUUID());
  return {
    'x-ms-correlation-request-id': correlation,
    [write ? 'x-ms-ratelimit-remaining-subscription-writes' : 'x-ms-ratelimit-remaining-subscription-reads']: write
      ? '1199'
      : '11999',
  };
}

export function findService(emu: EmulatorContext, rg: string, name: string): ArmWebService | undefined {
  return emu.state.armWebServices.find(
    (w) => w.resourceGroup.toLowerCase() === rg.toLowerCase() && w.name.toLowerCase() === name.toLowerCase(),
  );
}

export function notFound(ctx: Ctx, name: string): void {
  simpleError(ctx, 404, 'NotFound', 'The specified resource was not found.', {
    details: [
      { code: 'WebServiceNotFound', message: `No Web Service could be found with the provided name: ${name}.` },
    ],
  });
}

export function runtimeOf(emu: EmulatorContext, ws: ArmWebService): RuntimeService | undefined {
  return emu.state.services.find((s) => s.id === ws.runtimeId);
}

function operation(emu: EmulatorContext, opId: string | null): ArmOperation | undefined {
  return opId ? emu.state.armOperations.find((o) => o.id === opId) : undefined;
}

function provisioningState(emu: EmulatorContext, ws: ArmWebService): string {
  const op = operation(emu, ws.lastOperationId);
  if (!op) return 'Succeeded';
  if (emu.now() < op.endMs) return 'Provisioning';
  return op.outcome;
}

/** GET shape: no keys, no storage key, no commitment plan (docs/spec/ml-studio-classic-api.md §4.2). */
export function present(emu: EmulatorContext, ws: ArmWebService, apiVersion: string): Record<string, unknown> {
  const props: Record<string, unknown> = { ...ws.properties, provisioningState: provisioningState(emu, ws) };
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

export function opUrl(
  emu: EmulatorContext,
  op: ArmOperation,
  kind: 'operationsStatus' | 'operationresults',
  apiVersion: string,
): string {
  return `${emu.baseUrl}/subscriptions/${op.subscriptionId}/providers/Microsoft.MachineLearning/locations/${op.locationSegment}/${kind}/${op.id}?api-version=${apiVersion}`;
}

export function newOperation(
  emu: EmulatorContext,
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

export function lroHeaders(
  emu: EmulatorContext,
  ctx: Ctx,
  op: ArmOperation,
  apiVersion: string,
): Record<string, string> {
  return {
    ...armHeaders(ctx, true),
    'Azure-AsyncOperation': opUrl(emu, op, 'operationsStatus', apiVersion),
    'Azure-AsyncOperationPercentComplete': '0',
  };
}
