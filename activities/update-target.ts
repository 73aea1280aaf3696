import { ApplicationFailure } from '@temporalio/common';
import type { Context } from '@temporalio/activity';
import type { AzureMLLinkedService } from '../config/linked-services';
import { FailureType } from '../common/failures';
import type { CallContext } from './http';

export function stripQuery(u: string): string {
  return u.split('?')[0];
}

export function sameBlob(a: string, b: string): boolean {
  return stripQuery(a).replace(/\/+$/, '') === stripQuery(b).replace(/\/+$/, '');
}

export function resourceNotFound(ls: AzureMLLinkedService, name: string, available: string[]): ApplicationFailure {
  return ApplicationFailure.create({
    type: FailureType.TrainedModelResourceNotFound,
    nonRetryable: true,
    message:
      `scoring service of linked service '${ls.name}' has no trained-model resource named '${name}' ` +
      `(trainedModelName); it has: ${available.map((n) => `'${n}'`).join(', ') || 'none'}`,
  });
}

/** What one update call changes: a trained-model resource, on behalf of an activity or deployment request. */
export interface UpdateTarget {
  trainedModelName: string;
  /** `activity 'X'` or `request Y`, for messages. */
  label: string;
  /**
   * Send nothing when the service already points at this blob. Only safe when the blob's path names one version
   * (a pinned copy, checked by ETag first): a path rewritten by a newer training would otherwise look deployed.
   */
  skipIfCurrent: boolean;
}

export function updateContext(
  what: string,
  ls: AzureMLLinkedService,
  target: UpdateTarget,
  authField: string,
): CallContext {
  return {
    operation: `${what} (${target.label})`,
    linkedServiceName: ls.name,
    authField,
    urlField: 'updateResourceEndpoint',
  };
}

/**
 * Heartbeat on a timer while `work` runs. The ARM operation heartbeats as it polls, but a throttled Entra token
 * request (the credential waits out Retry-After inside `getToken`) or a slow read can take longer than the heartbeat
 * timeout with no request of ours to hang a heartbeat on; the server would then time the attempt out and start
 * another next to it. The ticker also delivers a cancellation while a request is in flight. A request that hangs is
 * still bounded: by `requestTimeoutMs`, and the attempt by its start-to-close timeout.
 */
export async function heartbeating<T>(act: Context, work: () => Promise<T>): Promise<T> {
  const timeoutMs = act.info.heartbeatTimeoutMs;
  if (!timeoutMs) return work();
  const timer = setInterval(() => act.heartbeat(), Math.max(50, Math.floor(timeoutMs / 3)));
  try {
    return await work();
  } finally {
    clearInterval(timer);
  }
}
