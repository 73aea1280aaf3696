import type { Client, WorkflowExecutionDescription } from '@temporalio/client';
import { WorkflowUpdateFailedError } from '@temporalio/client';
import type { Command } from 'commander';
import type { Approval } from '../../common/models';
import type { RunStatus } from '../../common/types';
import { approveUpdate, rejectUpdate, statusQuery } from '../../workflows/queries';
import { taskQueuePollers } from '../run-health';
import type { CliIO } from './common';
import { addExamples, CliError, formatTime, withClient } from './common';

type Verb = 'approve' | 'reject';

/**
 * Why an approve or reject did not land, in one line: the run's own refusal (`NotAwaitingApproval: run X is not
 * waiting for approval: …`) or Temporal's (`workflow execution already completed`) with what the run is now.
 */
export function refusal(e: unknown, workflowId: string, desc: WorkflowExecutionDescription): string {
  if (e instanceof WorkflowUpdateFailedError) {
    const cause = e.cause as { type?: string; message?: string } | undefined;
    const type = cause?.type && cause.type !== 'Error' ? `${cause.type}: ` : '';
    return `${type}${cause?.message ?? e.message}`;
  }
  const text = (e instanceof Error ? e.message : String(e)).split('\n')[0];
  if (desc.status.name !== 'RUNNING') {
    return `run ${workflowId} is not waiting for approval: it has ended (${desc.status.name}); Temporal: ${text}`;
  }
  return text;
}

async function decide(client: Client, verb: Verb, workflowId: string, d: { by: string; reason?: string }, io: CliIO) {
  const handle = client.workflow.getHandle(workflowId);
  const desc = await handle.describe();
  if (desc.status.name === 'RUNNING') {
    // An update is handled by the run's workflow code, on a worker: without one the call would wait silently.
    const pollers = await taskQueuePollers(client, desc.taskQueue).catch(() => undefined);
    if (pollers && pollers.workflow === 0) {
      throw new CliError(
        `no worker is polling task queue '${desc.taskQueue}', so run ${workflowId} cannot take the decision now; ` +
          `start one (retrain worker --config DIR --task-queue ${desc.taskQueue}) and ${verb} again`,
      );
    }
  }
  let decision: Approval;
  try {
    decision = await handle.executeUpdate(verb === 'approve' ? approveUpdate : rejectUpdate, {
      args: [{ by: d.by, ...(d.reason !== undefined && { reason: d.reason }) }],
    });
  } catch (e) {
    throw new CliError(refusal(e, workflowId, desc));
  }
  const status: RunStatus | undefined = await client.connection
    .withDeadline(Date.now() + 5_000, () => handle.query(statusQuery))
    .catch(() => undefined);
  const a = status?.approval;
  const model = a ? `model ${a.model} (BES job ${a.jobId ?? 'unknown'})` : 'its model';
  io.out(
    `run ${workflowId}: ${model} ${decision.decision} by ${decision.by} at ${formatTime(decision.at)}` +
      (decision.reason ? `: ${decision.reason}` : ''),
  );
  io.out(
    decision.decision === 'approved'
      ? `the run now deploys it; follow it with: retrain status ${workflowId}`
      : `the run ends Rejected (ApprovalRejected) and deploys nothing`,
  );
}

export function registerApprovalCommands(program: Command, io: CliIO): void {
  for (const verb of ['approve', 'reject'] as const) {
    addExamples(
      program
        .command(`${verb} <workflowId>`)
        .description(
          verb === 'approve'
            ? 'approve the model a run waits on (phase AwaitingApproval): the run goes on to deploy it'
            : 'reject the model a run waits on (phase AwaitingApproval): the run ends Rejected and deploys nothing',
        )
        .requiredOption('--by <name>', 'who decides (recorded in the run and in the scoring service lineage)')
        .option('--reason <text>', 'why (recorded with the decision)'),
      [
        `retrain ${verb} retrain-RetrainAndUpdate-20240101T023000Z --by alice --reason "${
          verb === 'approve' ? 'AUC up on the holdout set' : 'trained on a partial day'
        }"`,
      ],
    ).action(async (workflowId: string, opts: { by: string; reason?: string }) => {
      await withClient((client) => decide(client, verb, workflowId, opts, io));
    });
  }
}
