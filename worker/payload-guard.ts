import { Context } from '@temporalio/activity';
import { ApplicationFailure } from '@temporalio/common';
import type { ActivityInterceptorsFactory } from '@temporalio/worker';
import { FailureType } from '../common/failures';
import { jsonBytes, PAYLOAD_LIMIT_BYTES, payloadTooLargeMessage } from '../common/limits';

/**
 * Every activity's result is measured before it is handed to Temporal: over the payload limit it becomes a
 * non-retryable PayloadTooLarge naming the activity, the field and the size, instead of a completion the server
 * refuses. And no failure leaves an activity without a message: an empty one is replaced by what is known.
 */
export const payloadGuardInterceptor: ActivityInterceptorsFactory = () => ({
  inbound: {
    async execute(input, next) {
      const info = Context.current().info;
      const first = input.args[0] as { activityName?: unknown } | undefined;
      const owner =
        typeof first?.activityName === 'string'
          ? `activity '${first.activityName}' (${info.activityType})`
          : `activity ${info.activityType}`;
      let result: unknown;
      try {
        result = await next(input);
      } catch (err) {
        throw withMessage(err, owner);
      }
      const bytes = jsonBytes(result);
      if (bytes > PAYLOAD_LIMIT_BYTES) {
        throw ApplicationFailure.create({
          type: FailureType.PayloadTooLarge,
          nonRetryable: true,
          message: payloadTooLargeMessage(owner, 'result', result, bytes),
        });
      }
      return result;
    },
  },
});

/** The error, with a message saying at least which activity failed how, when it came without one. */
function withMessage(err: unknown, owner: string): unknown {
  if (!(err instanceof Error) || err.message.trim()) return err;
  const type = (err as { type?: string }).type ?? err.name;
  err.message = `${owner} failed with ${type} and no message from the service or client library`;
  return err;
}
