import { createHash } from 'node:crypto';
import type { EmulatorContext } from './context';
import type { Ctx } from './http';
import { entraError, send } from './http';
import { isKnownAudience, issueToken } from './tokens';

const NO_CACHE = { 'Cache-Control': 'no-store, no-cache', Pragma: 'no-cache' };

/**
 * Entra ID (login.microsoftonline.com) for the client-credentials flow: what MSAL (through @azure/identity's
 * ClientSecretCredential) requests, plus the v1 endpoint ADF-era clients used.
 */
export function createEntraHandlers(emu: EmulatorContext) {
  const id = emu.state.identity;
  const host = new URL(emu.baseUrl).host;

  /** The tenant GUID for a path segment given as GUID or verified domain; null when unknown. */
  function tenantOf(segment: string): string | null {
    const s = decodeURIComponent(segment).toLowerCase();
    if (s === id.tenantId.toLowerCase() || s === id.tenantDomain.toLowerCase()) return id.tenantId;
    return null;
  }

  function tenantNotFound(ctx: Ctx, segment: string, error = 'invalid_request'): void {
    entraError(
      ctx,
      400,
      error,
      90002,
      `Tenant '${decodeURIComponent(segment)}' not found. Check to make sure you have the correct tenant ID and are signing into the correct cloud.`,
      NO_CACHE,
    );
  }

  /** `{tenant}/v2.0/.well-known/openid-configuration` and the v1 variant; endpoints name the tenant GUID as Entra does. */
  function metadata(ctx: Ctx): void {
    const segment = ctx.params[0];
    const multi = ['common', 'organizations'].includes(segment.toLowerCase());
    const tid = multi ? '{tenantid}' : tenantOf(segment);
    if (!tid) return tenantNotFound(ctx, segment, 'invalid_tenant');
    const v2 = ctx.path.includes('/v2.0/');
    const authBase = `${emu.baseUrl}/${multi ? segment : tid}`;
    const suffix = v2 ? '/v2.0' : '';
    send(ctx, 200, {
      token_endpoint: `${authBase}/oauth2${suffix}/token`,
      token_endpoint_auth_methods_supported: ['client_secret_post', 'private_key_jwt', 'client_secret_basic'],
      jwks_uri: `${authBase}/discovery${suffix}/keys`,
      response_modes_supported: ['query', 'fragment', 'form_post'],
      subject_types_supported: ['pairwise'],
      id_token_signing_alg_values_supported: ['RS256'],
      response_types_supported: ['code', 'id_token', 'code id_token', 'id_token token'],
      scopes_supported: ['openid', 'profile', 'email', 'offline_access'],
      issuer: v2 ? `${emu.baseUrl}/${tid}/v2.0` : `${emu.baseUrl}/${tid}/`,
      request_uri_parameter_supported: false,
      userinfo_endpoint: `${emu.baseUrl}/oidc/userinfo`,
      authorization_endpoint: `${authBase}/oauth2${suffix}/authorize`,
      device_authorization_endpoint: `${authBase}/oauth2${suffix}/devicecode`,
      http_logout_supported: true,
      frontchannel_logout_supported: true,
      end_session_endpoint: `${authBase}/oauth2${suffix}/logout`,
      claims_supported: ['sub', 'iss', 'aud', 'exp', 'iat', 'tid', 'oid', 'appid'],
      kerberos_endpoint: `${authBase}/kerberos`,
      tenant_region_scope: 'NA',
      cloud_instance_name: 'microsoftonline.com',
      cloud_graph_host_name: 'graph.windows.net',
      msgraph_host: 'graph.microsoft.com',
      rbac_url: 'https://pas.windows.net',
    });
  }

  /** Instance discovery: the emulator is its own single-alias cloud. */
  function instanceDiscovery(ctx: Ctx): void {
    const segment = ctx.params[0];
    send(ctx, 200, {
      tenant_discovery_endpoint: `${emu.baseUrl}/${segment}/v2.0/.well-known/openid-configuration`,
      'api-version': '1.1',
      metadata: [{ preferred_network: host, preferred_cache: host, aliases: [host] }],
    });
  }

  function keys(ctx: Ctx): void {
    // Access tokens here are HMAC-signed and opaque to clients; no public keys to publish.
    send(ctx, 200, { keys: [] });
  }

  function token(ctx: Ctx): void {
    const segment = ctx.params[0];
    const v2 = ctx.path.includes('/v2.0/');
    const tid = tenantOf(segment);
    if (!tid) return tenantNotFound(ctx, segment);
    const ct = String(ctx.req.headers['content-type'] ?? '');
    if (!ct.toLowerCase().startsWith('application/x-www-form-urlencoded')) {
      return entraError(
        ctx,
        400,
        'invalid_request',
        900144,
        "The request body must contain the following parameter: 'grant_type'.",
        NO_CACHE,
      );
    }
    const form = new URLSearchParams(ctx.body.toString('utf8'));
    let clientId = form.get('client_id');
    let clientSecret = form.get('client_secret');
    // client_secret_basic: credentials in the Authorization header instead of the body.
    const basic = /^Basic\s+(.+)$/i.exec(String(ctx.req.headers.authorization ?? ''));
    if (basic) {
      const decoded = Buffer.from(basic[1], 'base64').toString('utf8');
      const colon = decoded.indexOf(':');
      if (colon > 0) {
        clientId = clientId ?? decodeURIComponent(decoded.slice(0, colon));
        clientSecret = clientSecret ?? decodeURIComponent(decoded.slice(colon + 1));
      }
    }
    const grant = form.get('grant_type');
    const missing = (p: string): void =>
      entraError(
        ctx,
        400,
        'invalid_request',
        900144,
        `The request body must contain the following parameter: '${p}'.`,
        NO_CACHE,
      );
    if (!grant) return missing('grant_type');
    if (grant !== 'client_credentials') {
      return entraError(
        ctx,
        400,
        'unsupported_grant_type',
        70003,
        `The app requested an unsupported grant type '${grant}'.`,
        NO_CACHE,
      );
    }
    if (!clientId) return missing('client_id');
    if (clientId.toLowerCase() !== id.clientId.toLowerCase()) {
      return entraError(
        ctx,
        400,
        'unauthorized_client',
        700016,
        `Application with identifier '${clientId}' was not found in the directory '${decodeURIComponent(segment)}'. This can happen if the application has not been installed by the administrator of the tenant or consented to by any user in the tenant.`,
        NO_CACHE,
      );
    }
    if (!clientSecret) {
      return entraError(
        ctx,
        401,
        'invalid_client',
        7000218,
        "The request body must contain the following parameter: 'client_assertion' or 'client_secret'.",
        NO_CACHE,
      );
    }
    if (clientSecret !== id.clientSecret) {
      return entraError(
        ctx,
        401,
        'invalid_client',
        7000215,
        `Invalid client secret provided. Ensure the secret being sent in the request is the client secret value, not the client secret ID, for a secret added to app '${id.clientId}'.`,
        NO_CACHE,
      );
    }
    let resource: string;
    if (v2) {
      const scope = form.get('scope');
      if (!scope) return missing('scope');
      const scopes = scope.split(/\s+/).filter(Boolean);
      if (scopes.length !== 1 || !scopes[0].endsWith('/.default')) {
        return entraError(
          ctx,
          400,
          'invalid_scope',
          1002012,
          `The provided value for scope ${scope} is not valid. Client credential flows must have a scope value with /.default suffixed to the resource identifier (application ID URI).`,
          NO_CACHE,
        );
      }
      resource = scopes[0].slice(0, -'/.default'.length);
    } else {
      const r = form.get('resource');
      if (!r) return missing('resource');
      resource = r;
    }
    if (!isKnownAudience(resource)) {
      return entraError(
        ctx,
        400,
        'invalid_resource',
        500011,
        `The resource principal named ${resource} was not found in the tenant named ${decodeURIComponent(segment)}. This can happen if the application has not been installed by the administrator of the tenant.`,
        NO_CACHE,
      );
    }
    const now = Math.floor(emu.now() / 1000);
    const lifetime = emu.opts.token.lifetimeSeconds;
    const oid = createHash('sha256').update(id.clientId).digest('hex');
    const accessToken = issueToken(id.tokenSigningKey, {
      aud: v2 ? resource.replace(/\/+$/, '') : resource,
      iss: v2 ? `${emu.baseUrl}/${tid}/v2.0` : `${emu.baseUrl}/${tid}/`,
      iat: now,
      nbf: now,
      exp: now + lifetime,
      tid,
      appid: id.clientId,
      oid: `${oid.slice(0, 8)}-${oid.slice(8, 12)}-${oid.slice(12, 16)}-${oid.slice(16, 20)}-${oid.slice(20, 32)}`,
      ver: v2 ? '2.0' : '1.0',
    });
    if (v2) {
      return send(
        ctx,
        200,
        { token_type: 'Bearer', expires_in: lifetime, ext_expires_in: lifetime, access_token: accessToken },
        NO_CACHE,
      );
    }
    // The v1 endpoint returns its numbers as strings (docs/spec/ml-studio-classic-api.md §4.1).
    send(
      ctx,
      200,
      {
        token_type: 'Bearer',
        expires_in: String(lifetime),
        ext_expires_in: String(lifetime),
        expires_on: String(now + lifetime),
        not_before: String(now),
        resource,
        access_token: accessToken,
      },
      NO_CACHE,
    );
  }

  return { metadata, instanceDiscovery, keys, token };
}
