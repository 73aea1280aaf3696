import type { Client, WorkflowExecutionDescription } from '@temporalio/client';
import { temporal } from '@temporalio/proto';

/**
 * What Temporal knows about a run that its status alone does not say, for `retrain run` and `retrain status`:
 * whether a worker polls its task queue, and whether its workflow task keeps failing (a run that would otherwise
 * look InProgress forever). Read from DescribeTaskQueue, DescribeWorkflowExecution and the history, never from the
 * workflow's own claim.
 */

const { TaskQueueType, TaskQueueKind, WorkflowTaskFailedCause, EventType } = temporal.api.enums.v1;

/** gRPC UNAVAILABLE: the server cannot be reached (down, restarting, network). */
const GRPC_UNAVAILABLE = 14;
/** gRPC DEADLINE_EXCEEDED: no answer in time; for a describe, a server that does not answer. */
const GRPC_DEADLINE_EXCEEDED = 4;

/** Is this error "the Temporal server cannot be reached" rather than an answer from it? */
export function isConnectionError(e: unknown): boolean {
  for (let cur = e as { code?: unknown; cause?: unknown; message?: unknown } | undefined, i = 0; cur && i < 6; i++) {
    if (cur.code === GRPC_UNAVAILABLE || cur.code === GRPC_DEADLINE_EXCEEDED) return true;
    if (typeof cur.message === 'string' && /\b14 UNAVAILABLE\b|ECONNREFUSED|Connection dropped/.test(cur.message)) {
      return true;
    }
    cur = cur.cause as typeof cur;
  }
  return false;
}

/** Workers polling a task queue, by kind (workflow tasks, activity tasks). */
export async function taskQueuePollers(
  client: Client,
  taskQueue: string,
): Promise<{ workflow: number; activity: number }> {
  const count = async (type: number) => {
    const res = await client.workflowService.describeTaskQueue({
      namespace: client.options.namespace,
      taskQueue: { name: taskQueue, kind: TaskQueueKind.TASK_QUEUE_KIND_NORMAL },
      taskQueueType: type,
    });
    return res.pollers?.length ?? 0;
  };
  const [workflow, activity] = await Promise.all([
    count(TaskQueueType.TASK_QUEUE_TYPE_WORKFLOW),
    count(TaskQueueType.TASK_QUEUE_TYPE_ACTIVITY),
  ]);
  return { workflow, activity };
}

export function noWorkerNote(taskQueue: string): string {
  return (
    `no worker is polling task queue '${taskQueue}': the run waits until one starts ` +
    `(retrain worker --config DIR --task-queue ${taskQueue})`
  );
}

export interface WorkflowTaskTrouble {
  /** The pending workflow task's attempt (2 or more: it failed at least once). */
  attempt: number;
  /** WorkflowTaskFailedCause without its prefix, e.g. GRPC_MESSAGE_TOO_LARGE, WORKFLOW_WORKER_UNHANDLED_FAILURE. */
  cause: string;
  message: string;
}

/**
 * A running workflow whose workflow task keeps failing: the pending task's attempt from describe, and the cause and
 * message of the last WorkflowTaskFailed event of the history. Undefined when its workflow task is healthy.
 */
export async function workflowTaskTrouble(
  client: Client,
  desc: WorkflowExecutionDescription,
): Promise<WorkflowTaskTrouble | undefined> {
  const pending = desc.raw.pendingWorkflowTask;
  const attempt = pending?.attempt ?? 0;
  if (desc.status.name !== 'RUNNING' || attempt < 2) return undefined;
  const history = await client.workflow.getHandle(desc.workflowId, desc.runId).fetchHistory();
  const events = history.events ?? [];
  for (let i = events.length - 1; i >= 0; i--) {
    const e = events[i];
    if (e.eventType !== EventType.EVENT_TYPE_WORKFLOW_TASK_FAILED) continue;
    const a = e.workflowTaskFailedEventAttributes;
    const causeName = WorkflowTaskFailedCause[a?.cause ?? 0] ?? String(a?.cause);
    return {
      attempt,
      cause: causeName.replace(/^WORKFLOW_TASK_FAILED_CAUSE_/, ''),
      message: a?.failure?.message?.split('\n')[0] || '(no message)',
    };
  }
  return { attempt, cause: 'UNKNOWN', message: 'the workflow task has been retried, no failure is recorded yet' };
}

export function troubleNote(t: WorkflowTaskTrouble): string {
  return (
    `the workflow task is failing repeatedly (attempt ${t.attempt}): ${t.cause}: ${t.message}; ` +
    `the run makes no progress until the cause is fixed (or: retrain cancel)`
  );
}
