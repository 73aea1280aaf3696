/** The control activities: Wait, Fail and SetVariable. They call no activity; Wait is a timer. */
import { sleep } from '@temporalio/workflow';
import { FailureType } from '../../common/failures';
import type { FailActivity, SetVariableActivity, WaitActivity } from '../../common/pipeline-definition';
import type { AttemptDeadline } from './deadline';
import { asString, failure } from './run-errors';

export async function wait(
  a: WaitActivity,
  props: WaitActivity['typeProperties'],
  deadline?: AttemptDeadline,
): Promise<Record<string, never>> {
  const seconds = Number(props.waitTimeInSeconds);
  if (!(seconds >= 0)) {
    throw failure(FailureType.ExpressionError, `activity '${a.name}': waitTimeInSeconds must be a number >= 0`);
  }
  const ms = Math.round(seconds * 1000);
  // A lean run's one timer: the wait, or the attempt's deadline when that comes first.
  if (deadline && deadline.remainingMs() < ms) {
    await sleep(Math.max(1, deadline.remainingMs()));
    throw deadline.timedOut();
  }
  await sleep(ms);
  return {};
}

export function fail(a: FailActivity, props: FailActivity['typeProperties']): Promise<never> {
  const message = asString(a, 'typeProperties.message', props.message);
  const errorCode = asString(a, 'typeProperties.errorCode', props.errorCode);
  return Promise.reject(failure(FailureType.FailActivity, message, [{ errorCode }]));
}

export function setVariable(
  variables: Record<string, unknown>,
  a: SetVariableActivity,
  props: SetVariableActivity['typeProperties'],
): Promise<{ value: unknown }> {
  variables[a.typeProperties.variableName] = props.value;
  return Promise.resolve({ value: props.value });
}
