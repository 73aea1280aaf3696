import { Prng } from './random';
import type { EmulatorRoute, FaultRule, JobFaultOptions } from './types';

export type FaultAction =
  | { type: 'status'; status: 429 | 500 | 503; retryAfterSeconds?: number }
  | { type: 'reset'; phase: 'before' | 'after' };

export interface FaultDecision {
  latencyMs: number;
  action: FaultAction | null;
  /** Short label for the request log. */
  label: string | null;
}

interface LiveRule {
  rule: FaultRule;
  remaining: number;
}

/**
 * Decides, per request, which fault rules hit. Every latency rule that hits adds its delay; the first status/reset
 * rule that hits wins. Dice come from a PRNG re-seeded whenever the rules change, so the same rules and the same
 * request sequence give the same faults.
 */
export class FaultEngine {
  private rules: LiveRule[] = [];
  private prng: Prng;

  constructor(private readonly seed: number) {
    this.prng = new Prng(seed);
  }

  setRules(rules: FaultRule[]): void {
    this.rules = rules.map((rule) => ({ rule, remaining: rule.count ?? Number.POSITIVE_INFINITY }));
    this.prng = new Prng(this.seed);
  }

  /** Rules with their remaining counts (JSON-safe: unlimited is null). */
  describe(): (FaultRule & { remaining: number | null })[] {
    return this.rules.map((r) => ({ ...r.rule, remaining: Number.isFinite(r.remaining) ? r.remaining : null }));
  }

  decide(route: EmulatorRoute): FaultDecision {
    let latencyMs = 0;
    let action: FaultAction | null = null;
    const labels: string[] = [];
    for (const live of this.rules) {
      if (live.remaining <= 0 || !matches(live.rule, route)) continue;
      const kind = live.rule.kind;
      if (kind.type !== 'latency' && action) continue;
      const p = live.rule.probability ?? 1;
      if (p < 1 && this.prng.next() >= p) continue;
      live.remaining -= 1;
      if (kind.type === 'latency') {
        latencyMs += kind.ms;
        labels.push(`latency:${kind.ms}`);
      } else if (kind.type === 'reset') {
        action = { type: 'reset', phase: kind.phase ?? 'before' };
        labels.push(action.phase === 'after' ? 'reset-after' : 'reset');
      } else {
        action = { type: 'status', status: kind.status, retryAfterSeconds: kind.retryAfterSeconds };
        labels.push(String(kind.status));
      }
    }
    return { latencyMs, action, label: labels.length ? labels.join(',') : null };
  }
}

function matches(rule: FaultRule, route: EmulatorRoute): boolean {
  if (rule.routes === undefined || rule.routes === '*') return true;
  return rule.routes.includes(route);
}

const ROUTES: readonly EmulatorRoute[] = [
  'bes.submit',
  'bes.start',
  'bes.status',
  'bes.cancel',
  'rrs.execute',
  'classic.get',
  'classic.patch',
  'classic.put',
  'arm.get',
  'arm.put',
  'arm.patch',
  'arm.delete',
  'arm.list',
  'arm.listKeys',
  'arm.operation',
  'token',
  'entra.metadata',
];

/** Validate rules that arrive as JSON (CLI file, admin API) so a typo fails loudly instead of never firing. */
export function parseFaultRules(input: unknown): FaultRule[] {
  if (!Array.isArray(input)) throw new Error('Fault rules must be a JSON array.');
  return input.map((raw, i) => {
    const where = `fault rule ${i}`;
    if (typeof raw !== 'object' || raw === null) throw new Error(`${where}: must be an object.`);
    const r = raw as Record<string, unknown>;
    const kind = r.kind as Record<string, unknown> | undefined;
    if (!kind || typeof kind !== 'object') throw new Error(`${where}: kind is required.`);
    if (r.routes !== undefined && r.routes !== '*') {
      if (!Array.isArray(r.routes)) throw new Error(`${where}: routes must be '*' or an array.`);
      for (const route of r.routes) {
        if (!ROUTES.includes(route as EmulatorRoute)) throw new Error(`${where}: unknown route ${String(route)}.`);
      }
    }
    if (r.probability !== undefined && (typeof r.probability !== 'number' || r.probability < 0 || r.probability > 1)) {
      throw new Error(`${where}: probability must be a number in [0, 1].`);
    }
    if (r.count !== undefined && (typeof r.count !== 'number' || r.count < 0)) {
      throw new Error(`${where}: count must be a non-negative number.`);
    }
    switch (kind.type) {
      case 'latency':
        if (typeof kind.ms !== 'number' || kind.ms < 0) throw new Error(`${where}: latency needs ms >= 0.`);
        break;
      case 'status':
        if (kind.status === 429) {
          if (typeof kind.retryAfterSeconds !== 'number') throw new Error(`${where}: 429 needs retryAfterSeconds.`);
        } else if (kind.status !== 500 && kind.status !== 503) {
          throw new Error(`${where}: status must be 429, 500 or 503.`);
        }
        break;
      case 'reset':
        if (kind.phase !== undefined && kind.phase !== 'before' && kind.phase !== 'after') {
          throw new Error(`${where}: reset phase must be 'before' or 'after'.`);
        }
        break;
      default:
        throw new Error(`${where}: unknown kind ${String(kind.type)}.`);
    }
    return raw as FaultRule;
  });
}

export const ALL_ROUTES = ROUTES;

/** Validate job faults that arrive as JSON (admin API). */
export function parseJobFaultOptions(input: unknown): JobFaultOptions {
  if (typeof input !== 'object' || input === null || Array.isArray(input))
    throw new Error('Job faults must be a JSON object.');
  const o = input as Record<string, unknown>;
  const obj = (name: string): Record<string, unknown> | undefined => {
    const v = o[name];
    if (v === undefined || v === null) return undefined;
    if (typeof v !== 'object' || Array.isArray(v)) throw new Error(`${name} must be an object.`);
    const rec = v as Record<string, unknown>;
    if (rec.count !== undefined && (typeof rec.count !== 'number' || rec.count < 0))
      throw new Error(`${name}.count must be >= 0.`);
    if (rec.serviceId !== undefined && typeof rec.serviceId !== 'string')
      throw new Error(`${name}.serviceId must be a string.`);
    return rec;
  };
  const failNext = obj('failNext');
  if (failNext && typeof failNext.details !== 'string') throw new Error('failNext.details must be a string.');
  const slowNext = obj('slowNext');
  if (slowNext && (typeof slowNext.extraMs !== 'number' || slowNext.extraMs < 0))
    throw new Error('slowNext.extraMs must be >= 0.');
  obj('brokenNext');
  const metricsNext = obj('metricsNext');
  if (metricsNext) {
    const m = metricsNext.metrics;
    if (typeof m !== 'object' || m === null || Object.values(m).some((v) => typeof v !== 'number')) {
      throw new Error('metricsNext.metrics must map names to numbers.');
    }
  }
  return o;
}
