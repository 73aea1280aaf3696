/**
 * Test-only workflow interceptor, bundled into the crash tests' workflow bundle (never into the product's).
 *
 * A kill -9 loses the activities in flight: Temporal retries them only once a timeout fires, the heartbeat timeout
 * for activities that heartbeat, else start-to-close (2 min for the product's short calls). The guarantees under
 * test (every run completes, one started job, one effective update) do not depend on those values, so the crash
 * tests cap them to fit dozens of kills into minutes, and the pause between retries too (see ./fast-retries.ts).
 * The other tests and the soak run the product's own values.
 */
import type {
  ActivityInput,
  Next,
  WorkflowInterceptorsFactory,
  WorkflowOutboundCallsInterceptor,
} from '@temporalio/workflow';
import { msToNumber } from '@temporalio/common/lib/time';
import { capRetryInterval } from './fast-retries';

/** Longest a lost activity attempt is waited for. */
export const CAP_MS = 10_000;

const cap = (d: ActivityInput['options']['startToCloseTimeout']): number =>
  d === undefined ? CAP_MS : Math.min(msToNumber(d), CAP_MS);

class CapTimeouts implements WorkflowOutboundCallsInterceptor {
  scheduleActivity(
    input: ActivityInput,
    next: Next<WorkflowOutboundCallsInterceptor, 'scheduleActivity'>,
  ): Promise<unknown> {
    const o = input.options;
    // An activity that heartbeats keeps its (long) start-to-close: the heartbeat timeout notices a dead worker.
    const timeouts =
      o.heartbeatTimeout !== undefined
        ? { heartbeatTimeout: cap(o.heartbeatTimeout) }
        : { startToCloseTimeout: cap(o.startToCloseTimeout) };
    return next({ ...input, options: capRetryInterval({ ...o, ...timeouts }) });
  }
}

export const interceptors: WorkflowInterceptorsFactory = () => ({ outbound: [new CapTimeouts()] });
