import { ApplicationFailure } from '@temporalio/common';
import type { HttpClient, PipelinePolicy, PipelineResponse } from '@azure/core-rest-pipeline';
import { createEmptyPipeline, createHttpHeaders, createPipelineRequest, isRestError } from '@azure/core-rest-pipeline';
import { FailureType } from '../common/failures';

/** Which linked service and field a remote call depends on, so a failure message can tell the user what to fix. */
export interface CallContext {
  /** e.g. "BES submit", "classic endpoint PATCH". */
  operation: string;
  linkedServiceName: string;
  /** Field of the linked service (or activity) to look at for auth/not-found errors. */
  authField: string;
  urlField: string;
}

export interface HttpCall {
  method: 'GET' | 'POST' | 'PATCH' | 'PUT' | 'DELETE';
  url: string;
  headers?: Record<string, string>;
  body?: unknown;
  abortSignal?: AbortSignal;
  timeoutMs: number;
  policies?: PipelinePolicy[];
}

export interface HttpResult {
  status: number;
  headers: PipelineResponse['headers'];
  text: string;
  json(): unknown;
}

/**
 * One HTTP call, no hidden retries: Temporal's retry policy is the only retry loop, so every attempt shows up in the
 * Web UI and Retry-After is honoured through `nextRetryDelay`.
 */
export async function send(httpClient: HttpClient, call: HttpCall, ctx: CallContext): Promise<HttpResult> {
  const pipeline = createEmptyPipeline();
  for (const p of call.policies ?? []) pipeline.addPolicy(p);
  const headers = createHttpHeaders({ Accept: 'application/json', ...call.headers });
  let body: string | undefined;
  if (call.body !== undefined) {
    body = typeof call.body === 'string' ? call.body : JSON.stringify(call.body);
    headers.set('Content-Type', 'application/json');
  }
  const request = createPipelineRequest({
    url: call.url,
    method: call.method,
    headers,
    body,
    abortSignal: call.abortSignal,
    timeout: call.timeoutMs,
  });
  let response: PipelineResponse;
  try {
    response = await pipeline.sendRequest(httpClient, request);
  } catch (err) {
    throw failureFromError(err, ctx);
  }
  const text = response.bodyAsText ?? '';
  return {
    status: response.status,
    headers: response.headers,
    text,
    json: () => parseJson(text),
  };
}

function parseJson(text: string): unknown {
  if (!text) return undefined;
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return undefined;
  }
}

/** Retry-After is seconds or an HTTP date. Returns milliseconds, or undefined. */
export function retryAfterMs(value: string | undefined, now = Date.now()): number | undefined {
  if (!value) return undefined;
  const seconds = Number(value);
  if (Number.isFinite(seconds)) return Math.max(0, seconds * 1000);
  const at = Date.parse(value);
  return Number.isNaN(at) ? undefined : Math.max(0, at - now);
}

interface ErrorBody {
  code?: string;
  message?: string;
  details?: { code?: string; target?: string; message?: string }[];
}

/** BES, classic management and ARM all answer `{"error":{code,message,details?}}`; Entra answers `{error, error_description}`. */
export function parseErrorBody(result: HttpResult): ErrorBody {
  const body = result.json();
  if (typeof body !== 'object' || body === null) return { message: result.text.slice(0, 300) || undefined };
  const e = (body as { error?: unknown }).error;
  if (typeof e === 'object' && e !== null) return e;
  if (typeof e === 'string') return { code: e, message: (body as { error_description?: string }).error_description };
  return {};
}

function describe(err: ErrorBody): string {
  const parts: string[] = [];
  if (err.code) parts.push(err.code);
  for (const d of err.details ?? []) {
    parts.push([d.code, d.target ? `(${d.target})` : '', d.message].filter(Boolean).join(' '));
  }
  if (!err.details?.length && err.message) parts.push(err.message);
  return parts.join(': ');
}

/** Map a non-2xx response to a failure with a stable type. 4xx are final; 429/5xx are retried. */
export function failureFromResponse(result: HttpResult, ctx: CallContext): ApplicationFailure {
  const err = parseErrorBody(result);
  const what = `${ctx.operation} for linked service '${ctx.linkedServiceName}' answered ${result.status}`;
  const detail = describe(err);
  const info = { status: result.status, code: err.code ?? null, details: err.details ?? [] };
  const final = (type: string, hint: string) =>
    ApplicationFailure.create({
      type,
      nonRetryable: true,
      message: `${what}${detail ? ` (${detail})` : ''}: ${hint}`,
      details: [info],
    });
  switch (result.status) {
    case 400:
      return final(FailureType.BadRequest, 'the request was rejected; see the codes above');
    case 401:
      return final(FailureType.Unauthorized, `check field '${ctx.authField}'`);
    case 403:
      return final(
        FailureType.Forbidden,
        `the identity in '${ctx.authField}' lacks access (Contributor or Owner needed)`,
      );
    case 404:
      return final(FailureType.NotFound, `check field '${ctx.urlField}'`);
    case 409:
      return final(FailureType.Conflict, 'a conflicting operation or a read-only resource');
    default:
      break;
  }
  const delay = retryAfterMs(result.headers.get('retry-after'));
  const throttled = result.status === 429 || result.status === 503;
  if (result.status >= 400 && result.status < 500 && !throttled && result.status !== 408) {
    return final(FailureType.BadRequest, 'the request was rejected');
  }
  return ApplicationFailure.create({
    type: throttled ? FailureType.Throttled : FailureType.ServiceError,
    message: `${what}${detail ? ` (${detail})` : ''}; will retry`,
    details: [info],
    nextRetryDelay: delay,
  });
}

interface AuthenticationErrorLike {
  name: string;
  statusCode?: number;
  errorResponse?: { error?: string; errorDescription?: string };
  message: string;
}

/**
 * @azure/identity reports Entra's refusals two ways: `AuthenticationError` (with the status and OAuth error) and, for
 * errors MSAL raised (ClientSecretCredential in identity 4.x), `AuthenticationRequiredError`, whose message starts
 * with the OAuth error code (`invalid_client: ... AADSTS7000215 ...`) and carries no status.
 */
function isAuthenticationError(err: unknown): err is AuthenticationErrorLike {
  const name = (err as { name?: string } | null)?.name;
  return typeof err === 'object' && (name === 'AuthenticationError' || name === 'AuthenticationRequiredError');
}

/** OAuth 2.0 token-endpoint errors (RFC 6749 §5.2) that say the credential itself is wrong. */
const OAUTH_REFUSALS = new Set(['invalid_client', 'unauthorized_client', 'invalid_scope', 'invalid_tenant']);
/**
 * `invalid_request` and `invalid_grant` also cover transient conditions, so they count as refusals only with an Entra
 * code that names a configuration problem: tenant not found or malformed (90002, 900023), application not in the
 * tenant (700016), invalid or expired secret (7000215, 7000222), application disabled (7000112), resource (scope)
 * unknown (500011), required parameter missing (90014, 900144).
 */
const AADSTS_REFUSALS = new Set([
  'AADSTS90002',
  'AADSTS900023',
  'AADSTS700016',
  'AADSTS7000215',
  'AADSTS7000222',
  'AADSTS7000112',
  'AADSTS500011',
  'AADSTS90014',
  'AADSTS900144',
]);

/** A token refusal that no retry can fix, as a final failure naming the linked service's fields; else undefined. */
export function tokenRefusal(err: unknown, linkedServiceName: string): ApplicationFailure | undefined {
  if (!isAuthenticationError(err)) return undefined;
  const status = err.statusCode ?? 0;
  const code = err.errorResponse?.error ?? /^([a-z_]+):/.exec(err.message)?.[1] ?? 'unknown';
  const aadsts = /AADSTS\d+/.exec(`${err.errorResponse?.errorDescription ?? ''} ${err.message}`)?.[0];
  if (status === 429 || status >= 500) return undefined;
  if (!OAUTH_REFUSALS.has(code) && !(aadsts && AADSTS_REFUSALS.has(aadsts))) return undefined;
  return ApplicationFailure.create({
    type: FailureType.AuthenticationFailed,
    nonRetryable: true,
    message: `Entra refused the service principal of linked service '${linkedServiceName}' (${[
      status || '',
      code,
      aadsts,
    ]
      .filter(Boolean)
      .join(' ')}): check fields 'servicePrincipalId', 'servicePrincipalKey' and 'tenant'`,
  });
}

/** Node's codes for a certificate chain that does not verify or does not match the host. */
const TLS_TRUST_ERRORS = new Set([
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'SELF_SIGNED_CERT_IN_CHAIN',
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
  'CERT_HAS_EXPIRED',
  'ERR_TLS_CERT_ALTNAME_INVALID',
]);

/** Map a thrown error (network, abort, token acquisition) to a failure. Never uses instanceof: realms differ. */
export function failureFromError(err: unknown, ctx: CallContext): ApplicationFailure | Error {
  if (err instanceof ApplicationFailure) return err;
  const name = (err as { name?: string })?.name;
  if (name === 'AbortError') return err as Error; // cancellation: let Temporal see it as such
  if (isAuthenticationError(err)) {
    const refused = tokenRefusal(err, ctx.linkedServiceName);
    if (refused) return refused;
    // Throttling, an Entra outage or a network error on the way: worth another attempt.
    const status = err.statusCode ? ` answered ${err.statusCode}` : ' failed';
    return ApplicationFailure.create({
      type: err.statusCode === 429 ? FailureType.Throttled : FailureType.ServiceError,
      message: `token request for linked service '${ctx.linkedServiceName}'${status} (${err.message.split('\n')[0].slice(0, 200)}); will retry`,
    });
  }
  if (name === 'CredentialUnavailableError') {
    return ApplicationFailure.create({
      type: FailureType.NetworkError,
      message: `no token for linked service '${ctx.linkedServiceName}': ${(err as Error).message.split('\n')[0]}`,
    });
  }
  if (isRestError(err)) {
    if (err.statusCode) {
      return ApplicationFailure.create({
        type: err.statusCode === 429 || err.statusCode >= 500 ? FailureType.Throttled : FailureType.ServiceError,
        message: `${ctx.operation} for linked service '${ctx.linkedServiceName}' failed: ${err.statusCode} ${err.code ?? ''}`,
      });
    }
    if (err.code && TLS_TRUST_ERRORS.has(err.code)) {
      // Retrying cannot fix an untrusted certificate: say what to configure instead.
      return ApplicationFailure.create({
        type: FailureType.ConfigError,
        nonRetryable: true,
        message:
          `${ctx.operation} for linked service '${ctx.linkedServiceName}': the server's TLS certificate is not trusted ` +
          `(${err.code}); check field '${ctx.urlField}', or give the worker the CA through NODE_EXTRA_CA_CERTS`,
      });
    }
    return ApplicationFailure.create({
      type: FailureType.NetworkError,
      message: `${ctx.operation} for linked service '${ctx.linkedServiceName}' could not connect (${err.code ?? err.message}); will retry`,
    });
  }
  return ApplicationFailure.create({
    type: FailureType.NetworkError,
    message: `${ctx.operation} for linked service '${ctx.linkedServiceName}' failed: ${(err as Error)?.message ?? String(err)}`,
  });
}

export function ensureOk(result: HttpResult, ctx: CallContext): HttpResult {
  if (result.status >= 200 && result.status < 300) return result;
  throw failureFromResponse(result, ctx);
}
