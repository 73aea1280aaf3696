import type { RetryPolicy } from '@temporalio/workflow';
import { NON_RETRYABLE_FAILURES } from '../common/failures';

/**
 * Temporal's retry of one activity call, inside one ADF attempt (ADF's own `retry` is the engine's loop): transient
 * failures back off up to a minute; bounded, so a run fails visibly rather than retrying forever. Stable failure types
 * that a retry cannot fix are not retried, a second line of defence to the activities marking them non-retryable.
 */
export const ACTIVITY_RETRY: RetryPolicy = {
  initialInterval: '2s',
  backoffCoefficient: 2,
  maximumInterval: '1m',
  maximumAttempts: 10,
  nonRetryableErrorTypes: NON_RETRYABLE_FAILURES,
};
