import { ApplicationFailure } from '@temporalio/common';
import { Context } from '@temporalio/activity';
import type { VerificationPolicy } from '../common/deployment';
import { FailureType } from '../common/failures';
import type { VerificationResult } from '../common/models';
import type { AzureMLLinkedService } from '../config/linked-services';
import type { ActivityDeps } from './deps';
import type { CallContext, HttpResult } from './http';
import { parseErrorBody, send } from './http';

export interface VerifyModelInput {
  /** The scoring service's linked service: its `mlEndpoint` and `apiKey` are the runtime (RRS) endpoint. */
  linkedServiceName: string;
  /** The BES job whose model must answer; null when the model's job is unknown (then only "it answers" is checked). */
  expectJobId: string | null;
  verification: VerificationPolicy;
  /** For messages. */
  label: string;
}

/** RRS `execute` of the service whose BES `mlEndpoint` the linked service has (`…/jobs` → `…/execute`). */
export function scoringUrl(mlEndpoint: string): string {
  const u = new URL(mlEndpoint);
  let path = u.pathname.replace(/\/+$/, '');
  if (/\/jobs$/i.test(path)) path = path.replace(/\/jobs$/i, '/execute');
  else if (!/\/execute$/i.test(path)) path = `${path}/execute`;
  return `${u.origin}${path}?api-version=2.0&details=true`;
}

/** One empty row for `input1`: the emulator answers it; a real service needs `verification.input` of its schema. */
const DEFAULT_INPUT = { input1: { ColumnNames: [], Values: [[]] } };

/** The value of `column` in the first row of the first output table, in either RRS answer shape. */
function modelOf(body: unknown, column: string): { found: boolean; value: string | null } {
  const results = (body as { Results?: Record<string, unknown> } | undefined)?.Results;
  const first = results ? Object.values(results)[0] : undefined;
  if (Array.isArray(first)) {
    // `format=swagger`: rows as objects.
    const row = first[0] as Record<string, unknown> | undefined;
    if (!row || !(column in row)) return { found: false, value: null };
    return { found: true, value: cell(row[column]) };
  }
  const table = (first as { value?: { ColumnNames?: unknown[]; Values?: unknown[][] } } | undefined)?.value;
  const i = table?.ColumnNames?.indexOf(column) ?? -1;
  if (i < 0) return { found: false, value: null };
  const v = table?.Values?.[0]?.[i];
  return { found: true, value: cell(v) };
}

/** A scoring cell as text: RRS answers strings or numbers; anything structured is compared as its JSON. */
function cell(v: unknown): string | null {
  if (v === undefined || v === null) return null;
  if (typeof v === 'string') return v;
  if (typeof v === 'number' || typeof v === 'boolean') return String(v);
  return JSON.stringify(v);
}

function verificationFailed(message: string): ApplicationFailure {
  return ApplicationFailure.create({ type: FailureType.VerificationFailed, nonRetryable: true, message });
}

export function createVerifyActivities(deps: ActivityDeps) {
  return {
    /**
     * Call the scoring endpoint the way a user would, until the model that answers is the expected one (ML Studio
     * switches about 30 s after an update) or the verification timeout passes. A 4xx answer ends it at once: the key,
     * the endpoint or the verification input is wrong, and waiting will not change that.
     */
    async verifyModel(input: VerifyModelInput): Promise<VerificationResult> {
      const act = Context.current();
      const ls: AzureMLLinkedService = deps.azureML(input.linkedServiceName);
      const v = input.verification;
      const url = scoringUrl(ls.mlEndpoint);
      const ctx: CallContext = {
        operation: `scoring call verifying ${input.label}`,
        linkedServiceName: ls.name,
        authField: 'apiKey',
        urlField: 'mlEndpoint',
      };
      const body = { Inputs: v.input ?? DEFAULT_INPUT, GlobalParameters: {} };
      const started = Date.now();
      const deadline = started + v.timeoutSeconds * 1000;
      let calls = 0;
      let last = 'no answer yet';
      for (;;) {
        calls += 1;
        act.heartbeat({ calls, last });
        let res: HttpResult | undefined;
        try {
          res = await send(
            deps.httpClient,
            {
              method: 'POST',
              url,
              body,
              headers: { Authorization: `Bearer ${ls.apiKey.reveal()}` },
              abortSignal: act.cancellationSignal,
              timeoutMs: deps.settings.requestTimeoutMs,
            },
            ctx,
          );
        } catch (e) {
          if (act.cancellationSignal.aborted) throw e;
          last = `no answer (${(e as Error).message})`;
        }
        if (res && res.status >= 200 && res.status < 300) {
          const m = modelOf(res.json(), v.modelColumn);
          if (!m.found || input.expectJobId === null) {
            // Nothing to compare: the service answers, which is all a model-less answer can show.
            return { how: 'answered', observed: m.value, calls, ms: Date.now() - started };
          }
          if (m.value === input.expectJobId) {
            return { how: 'identity', observed: m.value, calls, ms: Date.now() - started };
          }
          last = `the answer names model ${m.value ?? '(none)'} in column '${v.modelColumn}'`;
        } else if (res) {
          const e = parseErrorBody(res);
          const what = `scoring answered ${res.status}${e.code ? ` ${e.code}` : ''}${e.message ? `: ${e.message}` : ''}`;
          if (res.status >= 400 && res.status < 500 && res.status !== 408 && res.status !== 429) {
            const hint =
              res.status === 400
                ? "the verification input does not fit the service: set the pipeline's retrain:verify input=…"
                : `check linked service '${ls.name}' fields mlEndpoint and apiKey`;
            throw verificationFailed(`${input.label}: ${what} (${hint})`);
          }
          last = what;
        }
        if (Date.now() + v.intervalSeconds * 1000 > deadline) {
          throw verificationFailed(
            `${input.label}: after ${Math.round((Date.now() - started) / 1000)} s and ${calls} scoring call(s) of ` +
              `linked service '${ls.name}', model ${input.expectJobId} does not answer: ${last}`,
          );
        }
        await act.sleep(v.intervalSeconds * 1000);
      }
    },
  };
}
