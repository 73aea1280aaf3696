import { proxyActivities } from '@temporalio/workflow';

/**
 * The ceiling's workflow: `count` empty activities one after another, with the product's short-call timeout. What a
 * retrain run costs the server and the SDK beyond its HTTP calls and job waits is at most this.
 */
const { empty } = proxyActivities<{ empty(): Promise<void> }>({ startToCloseTimeout: '2m' });

export async function emptyActivities(count: number): Promise<number> {
  for (let i = 0; i < count; i++) await empty();
  return count;
}
