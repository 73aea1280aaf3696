/** How the engine turns what went wrong into failures and ADF's activity error shape. */
import { ApplicationFailure } from '@temporalio/workflow';
import { FailureType, NON_RETRYABLE_FAILURES } from '../../common/failures';
import type { EvalContext } from '../../common/expressions';
import { evaluateValue, ExpressionError } from '../../common/expressions';
import type { ActivityDefinition } from '../../common/pipeline-definition';
import type { ActivityRunError } from '../../common/types';

/** The innermost failure message: an ActivityFailure wraps the activity's ApplicationFailure. */
export function messageOf(err: unknown): string {
  let e = err as { message?: string; cause?: unknown } | undefined;
  while (e?.cause) e = e.cause;
  return e?.message ?? String(err);
}

export function innermost(err: unknown): {
  type?: string | null;
  message?: string;
  details?: unknown[];
  nonRetryable?: boolean;
} {
  let e = err as { cause?: unknown } | undefined;
  while (e?.cause) e = e.cause;
  return (e ?? {}) as ReturnType<typeof innermost>;
}

const USER_ERRORS = new Set<string>([...NON_RETRYABLE_FAILURES, FailureType.ActivityTimedOut]);

/** ADF's activity error shape (docs/spec/adf-pipeline-semantics.md §1.1): BES failures are errorCode 2600, a Fail activity has its own code. */
export function toRunError(a: ActivityDefinition, err: unknown): ActivityRunError {
  const inner = innermost(err);
  const type = inner.type ?? undefined;
  let errorCode = type ?? 'SystemError';
  if (type === FailureType.FailActivity) {
    const d = inner.details?.[0] as { errorCode?: string } | undefined;
    errorCode = d?.errorCode ?? 'FailActivity';
  } else if (
    a.type === 'AzureMLBatchExecution' &&
    (type === FailureType.BesJobFailed || type === FailureType.BadRequest)
  ) {
    errorCode = '2600';
  } else if (type === FailureType.ExpressionError) {
    errorCode = 'InvalidTemplate';
  }
  return {
    errorCode,
    message: inner.message ?? messageOf(err),
    failureType: type && USER_ERRORS.has(type) ? 'UserError' : 'SystemError',
    target: a.name,
  };
}

/** A non-retryable ConfigError: the input or the pipeline is wrong, so no retry can help. */
export function configError(message: string): ApplicationFailure {
  return ApplicationFailure.create({ type: FailureType.ConfigError, nonRetryable: true, message });
}

export function failure(type: string, message: string, details?: unknown[]): ApplicationFailure {
  return ApplicationFailure.create({ type, message, nonRetryable: true, details });
}

/** Evaluate, turning evaluation problems into an ExpressionError failure that names the activity. */
export function evaluate(a: ActivityDefinition, what: string, value: unknown, ctx: EvalContext): unknown {
  try {
    return evaluateValue(value, ctx);
  } catch (e) {
    if (e instanceof ExpressionError) {
      throw failure(
        FailureType.ExpressionError,
        `activity '${a.name}' (${a.source.file} ${a.source.path}): ${what}: ${e.message}`,
      );
    }
    throw e;
  }
}

export function asString(a: ActivityDefinition, what: string, v: unknown): string {
  if (typeof v === 'string') return v;
  if (typeof v === 'number' || typeof v === 'boolean') return String(v);
  throw failure(
    FailureType.ExpressionError,
    `activity '${a.name}': ${what} must be a string, got ${JSON.stringify(v)}`,
  );
}
