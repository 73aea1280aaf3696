import { randomUUID } from 'node:crypto';
import { userInfo } from 'node:os';
import type { Client } from '@temporalio/client';
import { WorkflowUpdateFailedError } from '@temporalio/client';
import type { Command } from 'commander';
import { startOperation } from '../../activities/scoring-service';
import { DEFAULT_VERIFICATION } from '../../common/deployment';
import { FailureType } from '../../common/failures';
import type { LineageEntry, RollbackOutcome, RollbackRequest } from '../../common/models';
import { rollbackUpdate } from '../../workflows/queries';
import { noWorkerNote, taskQueuePollers } from '../run-health';
import { stripUrlQueries } from '../redact';
import type { ScoringServiceRef } from '../service-lineage';
import { loadServiceView, resolveScoringService } from '../service-lineage';
import type { CliIO } from './common';
import { addExamples, CliError, formatTime, taskQueueDefault, withClient } from './common';

interface RollbackOpts {
  to?: string;
  by?: string;
  reason?: string;
  config: string;
  taskQueue: string;
  trainedModel?: string;
  json?: boolean;
}

function operator(): string {
  try {
    return userInfo().username || 'retrain-cli';
  } catch {
    return 'retrain-cli';
  }
}

function describeEntry(e: LineageEntry): string {
  return (
    `model ${e.identity.key} (BES job ${e.identity.jobId ?? 'unknown'}, trained ${formatTime(e.identity.trainedAt)}` +
    `${e.run ? `, first deployed by ${e.run.workflowId}` : ''})`
  );
}

/**
 * Refuse before anything is sent when no worker would carry the rollback out (the update would wait silently): the
 * service's workflow needs a workflow worker on its task queue, the restore and the scoring call an activity worker.
 */
async function requireWorkers(client: Client, workflowQueue: string, activityQueue: string): Promise<void> {
  for (const [q, kind] of [
    [workflowQueue, 'workflow'],
    [activityQueue, 'activity'],
  ] as const) {
    const p = await taskQueuePollers(client, q).catch(() => undefined);
    if (p && p[kind] === 0) {
      throw new CliError(`cannot roll back now: ${noWorkerNote(q).replace('the run waits', 'a rollback would wait')}`);
    }
  }
}

async function rollback(client: Client, ref: ScoringServiceRef, opts: RollbackOpts, io: CliIO): Promise<void> {
  const name = ref.linkedService.name;
  const before = await loadServiceView(client, ref.workflowId);
  if (!before?.view || before.view.lineage.length === 0) {
    // Checked here so that a rollback of a service never deployed to does not create its workflow just to refuse.
    throw new CliError(
      `${FailureType.NoEarlierModel}: nothing was deployed to '${name}' by ml-retrain yet ` +
        `(${before ? `workflow ${ref.workflowId} has no lineage` : `no workflow ${ref.workflowId}`}): nothing to roll back`,
    );
  }
  // The service's workflow runs on the task queue of the run that created it; the restore runs on ours.
  await requireWorkers(client, before.taskQueue, opts.taskQueue);
  const request: RollbackRequest = {
    requestId: `rollback-${randomUUID()}`,
    linkedServiceName: name,
    ...(opts.trainedModel && { trainedModelName: opts.trainedModel }),
    ...(opts.to && { toJobId: opts.to }),
    by: opts.by ?? operator(),
    reason: opts.reason ?? 'retrain rollback',
    taskQueue: opts.taskQueue,
    verification: DEFAULT_VERIFICATION,
  };
  io.err(
    `rolling back '${name}'${opts.to ? ` to BES job ${opts.to}` : ''}: waits for requests ahead of it, then restores ` +
      `and verifies by scoring…`,
  );
  let outcome: RollbackOutcome;
  try {
    outcome = await client.workflow.executeUpdateWithStart(rollbackUpdate, {
      args: [request],
      updateId: request.requestId,
      startWorkflowOperation: startOperation(ref.serviceKey, opts.taskQueue),
    });
  } catch (e) {
    if (e instanceof WorkflowUpdateFailedError) {
      const cause = e.cause as { type?: string; message?: string } | undefined;
      throw new CliError(`${cause?.type ? `${cause.type}: ` : ''}${cause?.message ?? e.message}`);
    }
    throw e;
  }
  outcome = stripUrlQueries(outcome);
  if (opts.json) io.out(JSON.stringify(outcome, null, 2));
  if (outcome.outcome !== 'RolledBack' || !outcome.restored) {
    const type = outcome.error?.type ? `${outcome.error.type}: ` : '';
    throw new CliError(`rollback of '${name}' ${outcome.outcome}: ${type}${outcome.message}`);
  }
  if (opts.json) return;
  const r = outcome.restored;
  const replaced = before.view.live[r.trainedModelName];
  io.out(`rolled back '${name}' (${ref.serviceKey}), trained model '${r.trainedModelName}'`);
  io.out(`  restored:  ${describeEntry(r)}`);
  io.out(`  serves:    ${r.modelUrl}`);
  if (replaced) io.out(`  replaced:  ${describeEntry(replaced)}; it is not deployed again unless restored by name`);
  io.out(
    `  verified:  ${
      r.verification
        ? r.verification.how === 'identity'
          ? `a scoring call was answered by ${r.verification.observed} (${r.verification.calls} call(s))`
          : 'the service answered (its output names no model)'
        : 'not verified'
    }`,
  );
}

export function registerRollbackCommand(program: Command, io: CliIO): void {
  addExamples(
    program
      .command('rollback <linkedService>')
      .description(
        "restore the scoring service's previous model from its lineage (or --to a BES job's), with a fresh read SAS, " +
          'verified by scoring; needs a worker',
      )
      .option('--to <jobId>', 'restore the model of this BES job (see retrain models)')
      .option('--by <name>', 'who rolls back (recorded in the lineage; default: your user name)')
      .option('--reason <text>', 'why (recorded in the lineage)')
      .option('--trained-model <name>', "the trained-model resource, when the service's lineage has several")
      .option('-c, --config <dir>', 'ADF folder (linkedService/)', process.env.ML_CONFIG_DIR ?? './adf')
      .option('-q, --task-queue <name>', 'task queue of the workers that restore and verify', taskQueueDefault())
      .option('--json', 'print the rollback outcome as JSON'),
    [
      'retrain rollback updatableScoringEndpoint2 --by alice --reason "new model scores 5 % lower in production"',
      'retrain rollback updatableScoringEndpoint2 --to <BES job id from retrain models> --by alice',
    ],
  ).action(async (name: string, opts: RollbackOpts) => {
    const ref = await resolveScoringService(opts.config, name);
    await withClient((client) => rollback(client, ref, opts, io));
  });
}
