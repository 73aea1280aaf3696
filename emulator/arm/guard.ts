import type { EmulatorContext } from '../context';
import type { Ctx } from '../http';
import { bearerToken, simpleError } from '../http';
import type { ArmWebService } from '../state';
import { isArmAudience, verifyToken } from '../tokens';
import { ARM_API_VERSIONS, locationSegment } from './resource-shape';
import { findService, notFound } from './resources';

function unauthorized(emu: EmulatorContext, ctx: Ctx, code: string, message: string): void {
  simpleError(
    ctx,
    401,
    code,
    message,
    {},
    {
      'WWW-Authenticate': `Bearer authorization_uri="${emu.baseUrl}/${emu.state.identity.tenantId}", error="invalid_token", error_description="${message.replace(/"/g, "'")}"`,
    },
  );
}

/** Token, api-version, role and subscription checks shared by every ARM route; false when already answered. */
export function preflight(emu: EmulatorContext, ctx: Ctx, action: string, scope: string): boolean {
  const id = emu.state.identity;
  const token = bearerToken(ctx);
  if (!token) {
    unauthorized(emu, ctx, 'AuthenticationFailed', "Authentication failed. The 'Authorization' header is missing.");
    return false;
  }
  const nowS = Math.floor(emu.now() / 1000);
  const v = verifyToken(id.tokenSigningKey, token, nowS);
  if (!v.ok) {
    if (v.reason === 'expired') {
      const exp = new Date((v.exp ?? 0) * 1000).toISOString();
      unauthorized(
        emu,
        ctx,
        'ExpiredAuthenticationToken',
        `The access token expiry UTC time '${exp}' is earlier than current UTC time '${new Date(nowS * 1000).toISOString()}'.`,
      );
    } else {
      unauthorized(emu, ctx, 'InvalidAuthenticationToken', 'The access token is invalid.');
    }
    return false;
  }
  if (!isArmAudience(v.claims.aud)) {
    unauthorized(
      emu,
      ctx,
      'InvalidAuthenticationTokenAudience',
      `The access token has been obtained for wrong audience or resource '${v.claims.aud}'. It should exactly match with one of the allowed audiences 'https://management.core.windows.net/','https://management.azure.com/'.`,
    );
    return false;
  }
  if (v.claims.tid !== id.tenantId) {
    unauthorized(
      emu,
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

export function checkResourceGroup(emu: EmulatorContext, ctx: Ctx): boolean {
  if (ctx.params[1].toLowerCase() === emu.state.identity.resourceGroup.toLowerCase()) return true;
  simpleError(ctx, 404, 'ResourceGroupNotFound', `Resource group '${ctx.params[1]}' could not be found.`);
  return false;
}

/** The checks above, then the web service the path names; undefined when the request has already been answered. */
export function serviceForRoute(emu: EmulatorContext, ctx: Ctx, action: string): ArmWebService | undefined {
  const [, rg, name] = ctx.params;
  if (!preflight(emu, ctx, action, ctx.path)) return undefined;
  if (!checkResourceGroup(emu, ctx)) return undefined;
  const ws = findService(emu, rg, name);
  if (!ws) notFound(ctx, name);
  return ws;
}
