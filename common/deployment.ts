/**
 * How a trained model becomes live: the quality gate, approval, verification by scoring and the fan-out policy. Pure
 * code shared by the config parser (ADF pipeline `annotations`), the `retrainAndUpdate` input check and the workflows,
 * so one grammar and one evaluation serve all three.
 */
import { parseAdfTimespan } from './duration';

export type GateOperator = '>=' | '>' | '<=' | '<';

/**
 * One threshold. Absolute: `AUC >= 0.80`. Relative to the live model's recorded metrics: `AUC >= live - 0.02` (no more
 * than 0.02 below the live model), `LogLoss <= live + 0.01`. A relative rule passes when no model with that metric is
 * live yet (there is nothing to compare with), and says so.
 */
export interface GateRule {
  metric: string;
  op: GateOperator;
  /** A number, or the live model's value of the same metric plus `offset`. */
  threshold: number | { live: true; offset: number };
  /** The rule as written, for messages. */
  text: string;
}

export interface QualityGatePolicy {
  rules: GateRule[];
  /** The training activity's output port that holds the evaluation CSV. Default: its one `.csv` output. */
  metricsOutput?: string;
}

export interface ApprovalPolicy {
  required: boolean;
  /** ADF timespan `[d.]hh:mm:ss`; when it passes without a decision the run ends Rejected. Default 1 day. */
  timeout: string;
}

export interface VerificationPolicy {
  /** Call the scoring endpoint after each update and confirm the new model answers. Default on. */
  enabled: boolean;
  /**
   * RRS `Inputs` for the call. Default: one empty row for `input1`, which the emulator answers; a real service needs a
   * row of its input schema.
   */
  input?: Record<string, unknown>;
  /** Output column naming the model that scored (the emulator's `Model`). Absent in the answer: answered-only check. */
  modelColumn: string;
  /** How long the new model may take to answer (ML Studio switches about 30 s after the update). */
  timeoutSeconds: number;
  intervalSeconds: number;
}

export type FanOutMode = 'best-effort' | 'all-or-nothing';

export interface FanOutPolicy {
  /** `best-effort` (ADF's behaviour): each service on its own. `all-or-nothing`: one failure rolls the others back. */
  mode: FanOutMode;
  /** Scoring services updated at once. */
  parallel: number;
}

/** What a pipeline (annotations) or a `retrainAndUpdate` input (`deployment`) declares; every part is optional. */
export interface DeploymentPolicy {
  gate?: QualityGatePolicy;
  approval?: ApprovalPolicy;
  verification?: Partial<VerificationPolicy>;
  fanOut?: Partial<FanOutPolicy>;
}

export const DEFAULT_APPROVAL_TIMEOUT = '1.00:00:00';
export const DEFAULT_VERIFICATION: VerificationPolicy = {
  enabled: true,
  modelColumn: 'Model',
  timeoutSeconds: 120,
  intervalSeconds: 5,
};
export const DEFAULT_FAN_OUT: FanOutPolicy = { mode: 'best-effort', parallel: 4 };

export function verificationOf(p: DeploymentPolicy | undefined): VerificationPolicy {
  return { ...DEFAULT_VERIFICATION, ...(p?.verification ?? {}) };
}

export function fanOutOf(p: DeploymentPolicy | undefined): FanOutPolicy {
  return { ...DEFAULT_FAN_OUT, ...(p?.fanOut ?? {}) };
}

const RULE_RE =
  /^\s*([A-Za-z_][\w .()-]*?)\s*(>=|<=|>|<)\s*(?:(live)\s*(?:([+-])\s*(\d+(?:\.\d+)?|\.\d+))?|(-?\d+(?:\.\d+)?|-?\.\d+))\s*$/;

/** `AUC >= 0.80`, `AUC >= live - 0.02`, `LogLoss <= live`. Returns an error message instead of throwing. */
export function parseGateRule(text: string): GateRule | string {
  const m = RULE_RE.exec(text);
  if (!m) {
    return `'${text}' is not a threshold: write 'METRIC >= 0.80' or 'METRIC >= live - 0.02' (operators >=, >, <=, <)`;
  }
  const [, metric, op, live, sign, offset, value] = m;
  if (live) {
    const n = offset === undefined ? 0 : Number(offset) * (sign === '-' ? -1 : 1);
    return { metric: metric.trim(), op: op as GateOperator, threshold: { live: true, offset: n }, text: text.trim() };
  }
  return { metric: metric.trim(), op: op as GateOperator, threshold: Number(value), text: text.trim() };
}

/** Marks an ADF pipeline annotation as ours; ADF itself treats annotations as tags and ignores them. */
export const ANNOTATION_PREFIX = 'retrain:';

function options(words: string[], where: string, known: string[]): Record<string, string> | string {
  const out: Record<string, string> = {};
  for (const w of words) {
    const eq = w.indexOf('=');
    const k = eq > 0 ? w.slice(0, eq) : w;
    if (!known.includes(k)) return `${where}: unknown option '${k}' (known: ${known.join(', ')})`;
    out[k] = eq > 0 ? w.slice(eq + 1) : 'true';
  }
  return out;
}

function positive(v: string | undefined, what: string): number | string | undefined {
  if (v === undefined) return undefined;
  const n = Number(v);
  return Number.isFinite(n) && n > 0 ? n : `${what} must be a positive number, got '${v}'`;
}

/**
 * Read our annotations from an ADF pipeline's `annotations` array. Each is one line:
 *
 * ```
 * retrain:gate AUC >= 0.80
 * retrain:gate AUC >= live - 0.02
 * retrain:metrics output2
 * retrain:approval required timeout=2.00:00:00
 * retrain:fanout all-or-nothing parallel=2
 * retrain:verify timeout=120 interval=5 column=Model input={"input1":{"ColumnNames":["age"],"Values":[["42"]]}}
 * retrain:verify off
 * ```
 *
 * Other annotations (plain tags) are left alone. Problems come back as `{ index, message }`, never thrown.
 */
export function policyFromAnnotations(annotations: unknown[]): {
  policy: DeploymentPolicy | undefined;
  problems: { index: number; message: string }[];
} {
  const policy: DeploymentPolicy = {};
  const problems: { index: number; message: string }[] = [];
  annotations.forEach((raw, index) => {
    if (typeof raw !== 'string' || !raw.trim().toLowerCase().startsWith(ANNOTATION_PREFIX)) return;
    const line = raw.trim().slice(ANNOTATION_PREFIX.length);
    const space = line.search(/\s|$/);
    const directive = line.slice(0, space).toLowerCase();
    const rest = line.slice(space).trim();
    const problem = (message: string) => problems.push({ index, message: `'${raw}': ${message}` });
    switch (directive) {
      case 'gate': {
        const rule = parseGateRule(rest);
        if (typeof rule === 'string') return problem(rule);
        policy.gate = { ...policy.gate, rules: [...(policy.gate?.rules ?? []), rule] };
        return;
      }
      case 'metrics': {
        if (!/^[\w-]+$/.test(rest)) return problem('name the output port that holds the evaluation CSV, e.g. output2');
        policy.gate = { rules: policy.gate?.rules ?? [], metricsOutput: rest };
        return;
      }
      case 'approval': {
        const words = rest.split(/\s+/).filter(Boolean);
        if (words[0] !== 'required' && words[0] !== 'none') {
          return problem("write 'retrain:approval required [timeout=d.hh:mm:ss]' or 'retrain:approval none'");
        }
        const o = options(words.slice(1), 'approval', ['timeout']);
        if (typeof o === 'string') return problem(o);
        const timeout = o.timeout ?? DEFAULT_APPROVAL_TIMEOUT;
        if (!(Number(parseAdfTimespan(timeout)) > 0)) return problem(`timeout '${timeout}' is not [d.]hh:mm:ss`);
        policy.approval = { required: words[0] === 'required', timeout };
        return;
      }
      case 'fanout': {
        const words = rest.split(/\s+/).filter(Boolean);
        if (words[0] !== 'best-effort' && words[0] !== 'all-or-nothing') {
          return problem("write 'retrain:fanout best-effort|all-or-nothing [parallel=N]'");
        }
        const o = options(words.slice(1), 'fanout', ['parallel']);
        if (typeof o === 'string') return problem(o);
        const parallel = positive(o.parallel, 'parallel');
        if (typeof parallel === 'string') return problem(parallel);
        if (parallel !== undefined && !Number.isInteger(parallel)) return problem('parallel must be a whole number');
        policy.fanOut = { mode: words[0], ...(parallel !== undefined && { parallel }) };
        return;
      }
      case 'verify': {
        if (rest === 'off') {
          policy.verification = { enabled: false };
          return;
        }
        // `input=` takes the rest of the line (JSON may contain spaces).
        const at = rest.search(/(^|\s)input=/);
        const head = at >= 0 ? rest.slice(0, at) : rest;
        const o = options(head.split(/\s+/).filter(Boolean), 'verify', ['timeout', 'interval', 'column']);
        if (typeof o === 'string') return problem(o);
        const v: Partial<VerificationPolicy> = { enabled: true };
        const timeout = positive(o.timeout, 'timeout');
        const interval = positive(o.interval, 'interval');
        if (typeof timeout === 'string') return problem(timeout);
        if (typeof interval === 'string') return problem(interval);
        if (timeout !== undefined) v.timeoutSeconds = timeout;
        if (interval !== undefined) v.intervalSeconds = interval;
        if (o.column !== undefined) v.modelColumn = o.column;
        if (at >= 0) {
          const json = rest.slice(at).trim().slice('input='.length);
          try {
            const parsed = JSON.parse(json) as unknown;
            if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed))
              throw new Error('not an object');
            v.input = parsed as Record<string, unknown>;
          } catch (e) {
            return problem(`input must be a JSON object of RRS Inputs: ${(e as Error).message}`);
          }
        }
        policy.verification = v;
        return;
      }
      default:
        return problem(`unknown directive '${directive}' (known: gate, metrics, approval, fanout, verify)`);
    }
  });
  const empty = Object.keys(policy).length === 0;
  return { policy: empty ? undefined : policy, problems };
}

/** Check a `deployment` object given as JSON (the `retrainAndUpdate` input). Returns problems as `path: message`. */
export function checkDeploymentPolicy(p: unknown, path: string): string[] {
  if (p === undefined) return [];
  if (typeof p !== 'object' || p === null || Array.isArray(p)) return [`${path} must be an object`];
  const d = p as Record<string, unknown>;
  const problems: string[] = [];
  for (const k of Object.keys(d)) {
    if (!['gate', 'approval', 'verification', 'fanOut'].includes(k)) {
      problems.push(`${path}.${k} is not a deployment setting (gate, approval, verification, fanOut)`);
    }
  }
  const gate = d.gate as Record<string, unknown> | undefined;
  if (gate !== undefined) {
    if (!Array.isArray(gate.rules)) problems.push(`${path}.gate.rules must be an array`);
    else {
      gate.rules.forEach((r, i) => {
        const rule = r as Partial<GateRule> | string;
        const text = typeof rule === 'string' ? rule : rule?.text;
        if (typeof text !== 'string' || typeof parseGateRule(text) === 'string') {
          problems.push(
            `${path}.gate.rules[${i}]: ${typeof text === 'string' ? (parseGateRule(text) as string) : 'give the rule as a string, e.g. "AUC >= 0.80"'}`,
          );
        }
      });
    }
    if (gate.metricsOutput !== undefined && typeof gate.metricsOutput !== 'string') {
      problems.push(`${path}.gate.metricsOutput must be an output port name`);
    }
  }
  const approval = d.approval as Record<string, unknown> | undefined;
  if (approval !== undefined) {
    if (typeof approval.required !== 'boolean') problems.push(`${path}.approval.required must be true or false`);
    const timeout = approval.timeout;
    if (timeout !== undefined && !(typeof timeout === 'string' && Number(parseAdfTimespan(timeout)) > 0)) {
      problems.push(
        `${path}.approval.timeout '${typeof timeout === 'string' ? timeout : JSON.stringify(timeout)}' is not [d.]hh:mm:ss`,
      );
    }
  }
  const v = d.verification as Record<string, unknown> | undefined;
  if (v !== undefined) {
    for (const k of ['timeoutSeconds', 'intervalSeconds']) {
      if (v[k] !== undefined && !(typeof v[k] === 'number' && v[k] > 0)) {
        problems.push(`${path}.verification.${k} must be a positive number`);
      }
    }
    if (v.input !== undefined && (typeof v.input !== 'object' || v.input === null || Array.isArray(v.input))) {
      problems.push(`${path}.verification.input must be an object of RRS Inputs`);
    }
  }
  const f = d.fanOut as Record<string, unknown> | undefined;
  if (f !== undefined) {
    if (f.mode !== undefined && f.mode !== 'best-effort' && f.mode !== 'all-or-nothing') {
      problems.push(`${path}.fanOut.mode must be 'best-effort' or 'all-or-nothing'`);
    }
    if (
      f.parallel !== undefined &&
      !(typeof f.parallel === 'number' && Number.isInteger(f.parallel) && f.parallel > 0)
    ) {
      problems.push(`${path}.fanOut.parallel must be a whole number > 0`);
    }
  }
  return problems;
}

/** The `deployment` of a `retrainAndUpdate` input: as DeploymentPolicy, with gate rules written as strings. */
export type DeploymentPolicyInput = Omit<DeploymentPolicy, 'gate'> & {
  gate?: { rules: (string | GateRule)[]; metricsOutput?: string };
};

/** Parse the rules of a checked input (`checkDeploymentPolicy` found no problem). */
export function normalizeDeploymentPolicy(p: DeploymentPolicyInput | undefined): DeploymentPolicy | undefined {
  if (!p) return undefined;
  if (!p.gate) return p as DeploymentPolicy;
  const rules = p.gate.rules.map((r) => {
    const parsed = parseGateRule(typeof r === 'string' ? r : r.text);
    if (typeof parsed === 'string') throw new Error(parsed);
    return parsed;
  });
  return { ...p, gate: { ...p.gate, rules } };
}

export interface GateCheck {
  rule: string;
  metric: string;
  /** The trained model's value; null when the evaluation output lacks the metric. */
  value: number | null;
  /** The value it was compared with; null for a relative rule with no live baseline. */
  threshold: number | null;
  passed: boolean;
  /** For a relative rule: the service whose live model it was compared with, and that model's key. */
  against?: { linkedServiceName: string; liveKey: string | null };
  note?: string;
}

function compare(a: number, op: GateOperator, b: number): boolean {
  switch (op) {
    case '>=':
      return a >= b;
    case '>':
      return a > b;
    case '<=':
      return a <= b;
    case '<':
      return a < b;
  }
}

/** Round away floating-point noise (0.91 - 0.02 = 0.8900000000000001) before comparing and printing. */
function clean(n: number): number {
  return Math.round(n * 1e9) / 1e9;
}

/**
 * Evaluate rules against a model's metrics and, for relative rules, the live model's. A metric the evaluation output
 * does not have is reported by the caller before this (it is a configuration error, not a worse model).
 */
export function evaluateGate(
  rules: GateRule[],
  metrics: Record<string, number>,
  live: Record<string, number> | null,
  which: 'all' | 'relative' = 'all',
): GateCheck[] {
  const out: GateCheck[] = [];
  for (const r of rules) {
    const relative = typeof r.threshold !== 'number';
    if (which === 'relative' && !relative) continue;
    const value = Object.prototype.hasOwnProperty.call(metrics, r.metric) ? metrics[r.metric] : null;
    if (value === null) {
      out.push({ rule: r.text, metric: r.metric, value: null, threshold: null, passed: false, note: 'metric missing' });
      continue;
    }
    if (typeof r.threshold === 'number') {
      out.push({
        rule: r.text,
        metric: r.metric,
        value,
        threshold: r.threshold,
        passed: compare(value, r.op, r.threshold),
      });
      continue;
    }
    const base = live && Object.prototype.hasOwnProperty.call(live, r.metric) ? live[r.metric] : null;
    if (base === null) {
      out.push({
        rule: r.text,
        metric: r.metric,
        value,
        threshold: null,
        passed: true,
        note: 'no live model to compare with',
      });
      continue;
    }
    const threshold = clean(base + r.threshold.offset);
    out.push({ rule: r.text, metric: r.metric, value, threshold, passed: compare(clean(value), r.op, threshold) });
  }
  return out;
}

export function describeGate(checks: GateCheck[]): string {
  return checks
    .map(
      (c) =>
        `${c.metric} ${c.value ?? '?'} ${c.passed ? 'passes' : 'fails'} '${c.rule}'` +
        (c.against ? ` on ${c.against.linkedServiceName}` : '') +
        (c.threshold !== null ? ` (threshold ${c.threshold}` : '') +
        (c.threshold !== null && c.against?.liveKey ? `, live model ${c.against.liveKey})` : '') +
        (c.threshold !== null && !c.against?.liveKey ? ')' : '') +
        (c.note ? ` [${c.note}]` : ''),
    )
    .join('; ');
}
