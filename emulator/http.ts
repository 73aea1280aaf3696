import type { IncomingMessage, ServerResponse } from 'node:http';
import { randomUUID } from 'node:crypto';
import type { EmulatorRoute } from './types';

/** Per-request state shared by the router, the fault layer and the API handlers. */
export interface Ctx {
  req: IncomingMessage;
  res: ServerResponse;
  method: string;
  url: URL;
  path: string;
  route: EmulatorRoute | null;
  params: string[];
  body: Buffer;
  requestId: string;
  startMs: number;
  /** Set by a `reset` fault with phase `after`: handle the request, then drop the connection instead of answering. */
  dropResponse: boolean;
  /** Fault applied to this request, for the request log. */
  fault: string | null;
  status: number;
}

export function newCtx(req: IncomingMessage, res: ServerResponse, base: string): Ctx {
  const url = new URL(req.url ?? '/', base);
  return {
    req,
    res,
    method: (req.method ?? 'GET').toUpperCase(),
    url,
    path: url.pathname,
    route: null,
    params: [],
    body: Buffer.alloc(0),
    requestId: randomUUID(),
    startMs: Date.now(),
    dropResponse: false,
    fault: null,
    status: 0,
  };
}

export async function readBody(req: IncomingMessage, limit = 16 * 1024 * 1024): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    const buf = chunk as Buffer;
    size += buf.length;
    if (size > limit) throw new Error('Request body too large');
    chunks.push(buf);
  }
  return Buffer.concat(chunks);
}

export function send(ctx: Ctx, status: number, body?: unknown, headers: Record<string, string> = {}): void {
  ctx.status = status;
  if (ctx.dropResponse) {
    // The request took effect but the client never learns it: the case that makes retries non-idempotent.
    ctx.status = 0;
    ctx.req.socket.destroy();
    return;
  }
  if (ctx.res.headersSent || ctx.res.destroyed) return;
  const h: Record<string, string> = { 'x-ms-request-id': ctx.requestId, ...headers };
  // Azure puts a correlation id on every error response, the id a support request asks for (the client's
  // x-ms-client-request-id when it sent one).
  if (status >= 400 && !Object.keys(h).some((k) => k.toLowerCase() === 'x-ms-correlation-request-id')) {
    h['x-ms-correlation-request-id'] = String(ctx.req.headers['x-ms-client-request-id'] ?? ctx.requestId);
  }
  let payload: Buffer | null = null;
  if (body !== undefined && status !== 204 && status !== 304) {
    if (Buffer.isBuffer(body)) payload = body;
    else if (typeof body === 'string' && h['Content-Type']) payload = Buffer.from(body, 'utf8');
    else {
      payload = Buffer.from(JSON.stringify(body), 'utf8');
      h['Content-Type'] = h['Content-Type'] ?? 'application/json; charset=utf-8';
    }
  }
  h['Content-Length'] = String(payload?.length ?? 0);
  ctx.res.writeHead(status, h);
  ctx.res.end(payload ?? undefined);
}

export function bearerToken(ctx: Ctx): string | null {
  const h = ctx.req.headers.authorization;
  if (!h) return null;
  const m = /^Bearer\s+(.+)$/i.exec(h.trim());
  return m ? m[1].trim() : null;
}

/** Parse a JSON body; undefined for an empty body, an Error for invalid JSON. */
export function jsonBody(ctx: Ctx): unknown {
  const text = ctx.body.toString('utf8').trim();
  if (!text) return undefined;
  try {
    return JSON.parse(text) as unknown;
  } catch (err) {
    return err instanceof Error ? err : new Error(String(err));
  }
}

export function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

const SECRET_QUERY_KEYS =
  /^(sig|client_secret|client_assertion|access_token|refresh_token|code|key|apikey|api_key|password|token|accountkey)$/i;

/** Path plus query with secret values replaced, for logs and inspection. */
export function maskedPathAndQuery(url: URL): string {
  if (!url.search) return url.pathname;
  const parts: string[] = [];
  for (const [k, v] of url.searchParams) {
    parts.push(`${encodeURIComponent(k)}=${SECRET_QUERY_KEYS.test(k) ? '***' : encodeURIComponent(v)}`);
  }
  return `${url.pathname}?${parts.join('&')}`;
}

/** Mask SAS signatures and keys inside free text (URLs, connection strings). */
export function maskText(text: string): string {
  return text
    .replace(/([?&](?:sig|client_secret|access_token|code)=)[^&\s"]*/gi, '$1***')
    .replace(/(AccountKey=)[^;\s"]*/gi, '$1***')
    .replace(/(SharedAccessSignature=)[^;\s"]*/gi, '$1***');
}

/** BES/RRS error body (docs/spec/ml-studio-classic-api.md §6.1): category at top level, specific code in details. */
export function besError(
  ctx: Ctx,
  status: number,
  category: string,
  categoryMessage: string,
  detail?: { code: string; message: string; target?: string },
  headers: Record<string, string> = {},
): void {
  const error: Record<string, unknown> = { code: category, message: categoryMessage };
  if (detail) error.details = [{ code: detail.code, target: detail.target ?? null, message: detail.message }];
  send(ctx, status, { error }, headers);
}

export const BES_CATEGORY: Record<string, [number, string, string]> = {
  BadArgument: [400, 'BadArgument', 'Invalid argument provided.'],
  BadUserArgument: [400, 'BadUserArgument', 'Invalid argument provided.'],
  InvalidOperation: [400, 'InvalidOperation', 'The request is invalid in the current context.'],
  Unauthorized: [401, 'Unauthorized', 'Request is unauthorized to access resource.'],
  NotFound: [404, 'NotFound', 'Resource not found.'],
  InternalError: [500, 'InternalError', 'The AzureML service has encountered an internal error.'],
  ServiceUnavailable: [503, 'ServiceUnavailable', 'Service is temporarily unavailable.'],
};

export function besCategoryError(
  ctx: Ctx,
  category: keyof typeof BES_CATEGORY,
  detail?: { code: string; message: string; target?: string },
  headers: Record<string, string> = {},
): void {
  const [status, code, message] = BES_CATEGORY[category];
  besError(ctx, status, code, message, detail, headers);
}

/** Classic management and ARM error body: `{"error":{"code","message"}}` (+ ARM details). */
export function simpleError(
  ctx: Ctx,
  status: number,
  code: string,
  message: string,
  extra: Record<string, unknown> = {},
  headers: Record<string, string> = {},
): void {
  send(ctx, status, { error: { code, message, ...extra } }, headers);
}

/** Entra error body (docs/spec/ml-studio-classic-api.md §6.4). */
export function entraError(
  ctx: Ctx,
  status: number,
  error: string,
  aadsts: number,
  description: string,
  headers: Record<string, string> = {},
): void {
  const traceId = randomUUID();
  const correlationId = ctx.req.headers['client-request-id'] ?? ctx.url.searchParams.get('client-request-id');
  const timestamp = new Date()
    .toISOString()
    .replace('T', ' ')
    .replace(/\.\d+Z$/, 'Z');
  send(
    ctx,
    status,
    {
      error,
      error_description: `AADSTS${aadsts}: ${description} Trace ID: ${traceId} Correlation ID: ${String(correlationId ?? randomUUID())} Timestamp: ${timestamp}`,
      error_codes: [aadsts],
      timestamp,
      trace_id: traceId,
      correlation_id: String(correlationId ?? randomUUID()),
      error_uri: `https://login.microsoftonline.com/error?code=${aadsts}`,
    },
    headers,
  );
}
