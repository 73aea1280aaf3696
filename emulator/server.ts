import type { IncomingMessage, ServerResponse } from 'node:http';
import type { FaultAction, FaultEngine } from './faults';
import { parseFaultRules, parseJobFaultOptions } from './faults';
import type { Ctx } from './http';
import {
  besCategoryError,
  besError,
  entraError,
  jsonBody,
  maskedPathAndQuery,
  newCtx,
  readBody,
  send,
  simpleError,
} from './http';
import type { EmulatorInspection, EmulatorRoute, FaultRule, JobFaultOptions } from './types';

type Handler = (ctx: Ctx) => void | Promise<void>;

interface RouteDef {
  re: RegExp;
  methods: Partial<Record<string, { route: EmulatorRoute; handler: Handler }>>;
}

export interface ApiHandlers {
  bes: { submit: Handler; start: Handler; status: Handler; cancel: Handler; execute: Handler; swagger: Handler };
  classic: { get: Handler; patch: Handler; put: Handler };
  arm: {
    get: Handler;
    put: Handler;
    patch: Handler;
    remove: Handler;
    listKeys: Handler;
    list: Handler;
    operationStatus: Handler;
  };
  entra: { metadata: Handler; instanceDiscovery: Handler; keys: Handler; token: Handler };
  keyVault: { getSecret: Handler };
}

export interface AdminHooks {
  inspect(): EmulatorInspection;
  setFaults(rules: FaultRule[]): void;
  describeFaults(): unknown;
  setJobFaults(opts: JobFaultOptions): void;
}

export interface RequestLogEntry {
  at: string;
  atMs: number;
  method: string;
  path: string;
  route: string | null;
  status: number;
  durationMs: number;
  fault: string | null;
}

const SEG = '([^/]+)';
const BES_PREFIX = `/(workspaces|subscriptions)/${SEG}/services/${SEG}`;
const ARM_RES = `/subscriptions/${SEG}/resourcegroups/${SEG}/providers/microsoft\\.machinelearning/webservices/${SEG}`;

/** Paths exactly as on the real hosts; one server serves them all, told apart by shape. */
function routeTable(h: ApiHandlers): RouteDef[] {
  const r = (re: string, flags = ''): RegExp => new RegExp(`^${re}$`, flags);
  return [
    { re: r(`${BES_PREFIX}/jobs`), methods: { POST: { route: 'bes.submit', handler: h.bes.submit } } },
    {
      re: r(`${BES_PREFIX}/jobs/${SEG}`),
      methods: {
        GET: { route: 'bes.status', handler: h.bes.status },
        DELETE: { route: 'bes.cancel', handler: h.bes.cancel },
      },
    },
    { re: r(`${BES_PREFIX}/jobs/${SEG}/start`), methods: { POST: { route: 'bes.start', handler: h.bes.start } } },
    { re: r(`${BES_PREFIX}/execute`), methods: { POST: { route: 'rrs.execute', handler: h.bes.execute } } },
    { re: r(`${BES_PREFIX}/swagger\\.json`), methods: { GET: { route: 'bes.swagger', handler: h.bes.swagger } } },
    { re: r(`/workspaces/${SEG}/webservices`), methods: { GET: { route: 'classic.get', handler: h.classic.get } } },
    {
      re: r(`/workspaces/${SEG}/webservices/${SEG}`),
      methods: { GET: { route: 'classic.get', handler: h.classic.get } },
    },
    {
      re: r(`/workspaces/${SEG}/webservices/${SEG}/endpoints`),
      methods: { GET: { route: 'classic.get', handler: h.classic.get } },
    },
    {
      re: r(`/workspaces/${SEG}/webservices/${SEG}/endpoints/${SEG}`),
      methods: {
        GET: { route: 'classic.get', handler: h.classic.get },
        PATCH: { route: 'classic.patch', handler: h.classic.patch },
        PUT: { route: 'classic.put', handler: h.classic.put },
      },
    },
    // ARM is case-insensitive in resource group, provider and type names.
    {
      re: r(ARM_RES, 'i'),
      methods: {
        GET: { route: 'arm.get', handler: h.arm.get },
        PUT: { route: 'arm.put', handler: h.arm.put },
        PATCH: { route: 'arm.patch', handler: h.arm.patch },
        DELETE: { route: 'arm.delete', handler: h.arm.remove },
      },
    },
    { re: r(`${ARM_RES}/listkeys`, 'i'), methods: { GET: { route: 'arm.listKeys', handler: h.arm.listKeys } } },
    {
      re: r(`/subscriptions/${SEG}/resourcegroups/${SEG}/providers/microsoft\\.machinelearning/webservices`, 'i'),
      methods: { GET: { route: 'arm.list', handler: h.arm.list } },
    },
    {
      re: r(`/subscriptions/${SEG}/providers/microsoft\\.machinelearning/webservices`, 'i'),
      methods: { GET: { route: 'arm.list', handler: h.arm.list } },
    },
    {
      re: r(
        `/subscriptions/${SEG}/providers/microsoft\\.machinelearning/locations/${SEG}/(?:operationsstatus|operationresults)/${SEG}`,
        'i',
      ),
      methods: { GET: { route: 'arm.operation', handler: h.arm.operationStatus } },
    },
    {
      re: r(`/${SEG}/(?:v2\\.0/)?\\.well-known/openid-configuration`),
      methods: { GET: { route: 'entra.metadata', handler: h.entra.metadata } },
    },
    {
      re: r(`/${SEG}/discovery/instance`),
      methods: { GET: { route: 'entra.metadata', handler: h.entra.instanceDiscovery } },
    },
    {
      re: r(`/${SEG}/discovery/(?:v2\\.0/)?keys`),
      methods: { GET: { route: 'entra.metadata', handler: h.entra.keys } },
    },
    { re: r(`/${SEG}/oauth2/(?:v2\\.0/)?token`), methods: { POST: { route: 'token', handler: h.entra.token } } },
    // Key Vault get-secret; the SDK asks for the latest version with a trailing slash.
    {
      re: r(`/secrets/${SEG}(?:/([^/]*))?/?`),
      methods: { GET: { route: 'keyvault.getSecret', handler: h.keyVault.getSecret } },
    },
  ];
}

function family(route: EmulatorRoute): 'bes' | 'classic' | 'arm' | 'entra' {
  if (route.startsWith('bes.') || route.startsWith('rrs.')) return 'bes';
  if (route.startsWith('classic.')) return 'classic';
  // Key Vault errors have ARM's `{"error":{"code","message"}}` shape.
  if (route.startsWith('arm.') || route.startsWith('keyvault.')) return 'arm';
  return 'entra';
}

/** The error each API really answers with when throttled or failing, so clients parse faults like real errors. */
function sendFault(ctx: Ctx, route: EmulatorRoute, action: Extract<FaultAction, { type: 'status' }>): void {
  const headers: Record<string, string> = {};
  if (action.retryAfterSeconds !== undefined) headers['Retry-After'] = String(action.retryAfterSeconds);
  const f = family(route);
  if (f === 'bes') {
    if (action.status === 503) {
      return besCategoryError(
        ctx,
        'ServiceUnavailable',
        {
          code: 'RequestThrottled',
          message: 'Request was throttled for this endpoint. The maximum concurrency for the endpoint is 20.',
        },
        headers,
      );
    }
    if (action.status === 500) {
      return besCategoryError(
        ctx,
        'InternalError',
        { code: 'InternalError', message: 'An internal error occurred.' },
        headers,
      );
    }
    return besError(
      ctx,
      429,
      'TooManyRequests',
      'Too many requests.',
      { code: 'TooManyRequests', message: 'Rate limit exceeded. Retry later.' },
      headers,
    );
  }
  if (f === 'entra') {
    if (action.status === 429) {
      return entraError(
        ctx,
        429,
        'temporarily_unavailable',
        50196,
        'The server temporarily throttled the request. Retry after the interval in the Retry-After header.',
        headers,
      );
    }
    return entraError(
      ctx,
      action.status,
      'temporarily_unavailable',
      90033,
      'A transient error has occurred. Please try again.',
      headers,
    );
  }
  const code =
    action.status === 429 ? 'TooManyRequests' : action.status === 503 ? 'ServiceUnavailable' : 'InternalServerError';
  const message =
    action.status === 429
      ? 'The request was throttled. Retry after the interval in the Retry-After header.'
      : action.status === 503
        ? 'The service is temporarily unavailable.'
        : 'An internal server error occurred.';
  simpleError(ctx, action.status, code, message, {}, headers);
}

function isLoopback(addr: string | undefined): boolean {
  return addr === '127.0.0.1' || addr === '::1' || addr === '::ffff:127.0.0.1';
}

export interface RouterDeps {
  baseUrl: () => string;
  handlers: ApiHandlers;
  faults: FaultEngine;
  admin: AdminHooks;
  log: (entry: RequestLogEntry) => void;
  verbose: boolean;
}

export function createRequestHandler(deps: RouterDeps): (req: IncomingMessage, res: ServerResponse) => void {
  const routes = routeTable(deps.handlers);

  async function admin(ctx: Ctx): Promise<void> {
    if (!isLoopback(ctx.req.socket.remoteAddress))
      return simpleError(ctx, 403, 'Forbidden', 'Admin API is loopback only.');
    const key = `${ctx.method} ${ctx.path}`;
    ctx.body = await readBody(ctx.req);
    try {
      switch (key) {
        case 'GET /_emulator/health':
          return send(ctx, 200, { status: 'ok', url: deps.baseUrl() });
        case 'GET /_emulator/inspect':
          return send(ctx, 200, deps.admin.inspect());
        case 'GET /_emulator/faults':
          return send(ctx, 200, deps.admin.describeFaults());
        case 'PUT /_emulator/faults': {
          const rules = parseFaultRules(jsonBody(ctx) ?? []);
          deps.admin.setFaults(rules);
          return send(ctx, 200, deps.admin.describeFaults());
        }
        case 'PUT /_emulator/job-faults': {
          deps.admin.setJobFaults(parseJobFaultOptions(jsonBody(ctx) ?? {}));
          return send(ctx, 204);
        }
        default:
          return simpleError(ctx, 404, 'NotFound', `No admin route ${key}.`);
      }
    } catch (err) {
      simpleError(ctx, 400, 'BadRequest', (err as Error).message);
    }
  }

  async function dispatch(ctx: Ctx): Promise<void> {
    const def = routes.find((d) => d.re.test(ctx.path));
    if (!def) {
      ctx.body = await readBody(ctx.req);
      return simpleError(ctx, 404, 'NotFound', `No resource at ${ctx.method} ${ctx.path}.`);
    }
    const m = def.methods[ctx.method];
    if (!m) {
      ctx.body = await readBody(ctx.req);
      return simpleError(
        ctx,
        405,
        'MethodNotAllowed',
        `${ctx.method} is not supported on ${ctx.path}.`,
        {},
        {
          Allow: Object.keys(def.methods).join(', '),
        },
      );
    }
    ctx.route = m.route;
    ctx.params = (def.re.exec(ctx.path) ?? [])
      .slice(1)
      .filter((p) => p !== undefined)
      .map((p) => decodeURIComponent(p));
    ctx.body = await readBody(ctx.req);
    const decision = deps.faults.decide(m.route);
    ctx.fault = decision.label;
    if (decision.latencyMs > 0) await new Promise((resolve) => setTimeout(resolve, decision.latencyMs));
    const action = decision.action;
    if (action?.type === 'reset' && action.phase === 'before') {
      ctx.status = 0;
      ctx.req.socket.destroy();
      return;
    }
    if (action?.type === 'status') return sendFault(ctx, m.route, action);
    if (action?.type === 'reset') ctx.dropResponse = true;
    await m.handler(ctx);
  }

  return (req, res) => {
    const ctx = newCtx(req, res, deps.baseUrl());
    const isAdmin = ctx.path.startsWith('/_emulator/');
    const run = isAdmin ? admin(ctx) : dispatch(ctx);
    run
      .catch((err: unknown) => {
        if (deps.verbose) process.stderr.write(`[emulator] ${ctx.method} ${ctx.path} failed: ${String(err)}\n`);
        if (!res.headersSent && !ctx.dropResponse)
          simpleError(ctx, 500, 'InternalError', 'The emulator failed to handle the request.');
      })
      .finally(() => {
        if (isAdmin) return;
        const entry: RequestLogEntry = {
          at: new Date(ctx.startMs).toISOString(),
          atMs: ctx.startMs,
          method: ctx.method,
          path: maskedPathAndQuery(ctx.url),
          route: ctx.route,
          status: ctx.status,
          durationMs: Date.now() - ctx.startMs,
          fault: ctx.fault,
        };
        deps.log(entry);
        if (deps.verbose) {
          const fault = entry.fault ? ` fault=${entry.fault}` : '';
          process.stderr.write(
            `[emulator] ${entry.at} ${entry.method} ${entry.path} -> ${entry.status} (${entry.route ?? '-'}, ${entry.durationMs} ms${fault})\n`,
          );
        }
      });
  };
}
