/**
 * Test-only workflow interceptor for the fast fault test: the pause between retries is capped at 5 s (the
 * product's goes up to 1 min), nothing else changes. Under 20 % faults an update can need many attempts, and the
 * full backoff only stretches `npm test`; Retry-After is unaffected (it overrides the backoff). Activity timeouts
 * stay the product's: a capped heartbeat timeout would cut attempts that wait out a Retry-After, and their retries
 * would then come early. The soak runs the product's own backoff.
 */
import type {
  ActivityInput,
  Next,
  WorkflowInterceptorsFactory,
  WorkflowOutboundCallsInterceptor,
} from '@temporalio/workflow';

/** Longest pause between two attempts (the product's is 1 min; Retry-After still applies, it overrides backoff). */
export const MAX_RETRY_INTERVAL_MS = 5_000;

/** The activity options with the pause between retries capped; also used by ./fast-timeouts.ts. */
export function capRetryInterval(o: ActivityInput['options']): ActivityInput['options'] {
  return o.retry ? { ...o, retry: { ...o.retry, maximumInterval: MAX_RETRY_INTERVAL_MS } } : o;
}

class CapRetryIntervals implements WorkflowOutboundCallsInterceptor {
  scheduleActivity(
    input: ActivityInput,
    next: Next<WorkflowOutboundCallsInterceptor, 'scheduleActivity'>,
  ): Promise<unknown> {
    return next({ ...input, options: capRetryInterval(input.options) });
  }
}

export const interceptors: WorkflowInterceptorsFactory = () => ({ outbound: [new CapRetryIntervals()] });
