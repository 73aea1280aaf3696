import type { ActivityPolicyDef } from '../../common/pipeline-definition';
import { DEFAULT_ACTIVITY_TIMEOUT } from '../../common/pipeline-definition';
import { parseAdfTimespan } from '../../common/duration';
import { isExpression } from '../../common/expressions';
import { isObject, keyOf, prop, str } from '../json';
import type { Obj, PipelineReader } from './reader';

/** An activity's `policy` (timeout, retries, secure input/output), with ADF's defaults and ranges. */
export function parsePolicy(r: PipelineReader, a: Obj, path: string, execution: boolean): ActivityPolicyDef {
  const policy: ActivityPolicyDef = {
    timeout: DEFAULT_ACTIVITY_TIMEOUT,
    retry: 0,
    retryIntervalInSeconds: 30,
    secureInput: false,
    secureOutput: false,
  };
  const raw = prop(a, 'policy');
  if (raw === undefined || raw === null) return policy;
  const p = `${path}.${keyOf(a, 'policy')}`;
  if (!isObject(raw)) return (r.error(p, 'must be an object'), policy);
  if (!execution) r.warn(p, 'policy applies to execution activities only; ignored');
  const timeout = prop(raw, 'timeout');
  if (timeout !== undefined) {
    if (typeof timeout === 'string' && !isExpression(timeout)) {
      if (parseAdfTimespan(timeout) === undefined) {
        r.error(`${p}.${keyOf(raw, 'timeout')}`, `'${timeout}' is not an ADF timespan [d.]hh:mm:ss (e.g. 0.12:00:00)`);
      }
      policy.timeout = timeout;
    } else if (isExpression(timeout)) policy.timeout = timeout;
    else r.error(`${p}.${keyOf(raw, 'timeout')}`, 'must be a [d.]hh:mm:ss string');
  }
  const retry = prop(raw, 'retry');
  if (retry !== undefined) {
    if (isExpression(retry)) policy.retry = retry;
    else if (Number.isInteger(retry) && (retry as number) >= 0) policy.retry = retry;
    else r.error(`${p}.${keyOf(raw, 'retry')}`, `must be an integer >= 0, got ${str(retry)}`);
  }
  const interval = prop(raw, 'retryIntervalInSeconds');
  if (interval !== undefined) {
    if (isExpression(interval)) policy.retryIntervalInSeconds = interval;
    else if (Number.isInteger(interval) && (interval as number) >= 30 && (interval as number) <= 86400) {
      policy.retryIntervalInSeconds = interval;
    } else {
      r.error(
        `${p}.${keyOf(raw, 'retryIntervalInSeconds')}`,
        `must be an integer from 30 to 86400, got ${str(interval)}`,
      );
    }
  }
  for (const k of ['secureInput', 'secureOutput'] as const) {
    const v = prop(raw, k);
    if (v === undefined) continue;
    if (typeof v === 'boolean') policy[k] = v;
    else r.error(`${p}.${keyOf(raw, k)}`, 'must be true or false');
  }
  return policy;
}
