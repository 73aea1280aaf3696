import type { Command } from 'commander';
import type { Client } from '@temporalio/client';
import { WorkflowIdConflictPolicy } from '@temporalio/common';
import { escapeLiteral } from '../../common/expressions';
import type { RecoveryView, RunPipelineInput, RunPipelineResult } from '../../common/pipeline-definition';
import type { RetrainAndUpdateInput } from '../../common/types';
import { recoveryQuery } from '../../workflows/queries';
import { printPipelineResult } from '../pipeline-run';
import { followRun, rootCause } from '../run';
import type { CliIO } from './common';
import { addExamples, CliError, withClient } from './common';
import { timestamp } from '../workflow-ids';

/** The reference run's own input, from the first event of its history. */
async function referenceInput(client: Client, workflowId: string): Promise<unknown> {
  const history = await client.workflow.getHandle(workflowId).fetchHistory();
  const payload = history.events?.[0]?.workflowExecutionStartedEventAttributes?.input?.payloads?.[0];
  if (!payload) throw new CliError(`run '${workflowId}' has no input in its history`);
  return client.options.loadedDataConverter.payloadConverter.fromPayload(payload);
}

export interface RerunPlan {
  workflowType: 'runPipeline' | 'retrainAndUpdate';
  taskQueue: string;
  input: RunPipelineInput | RetrainAndUpdateInput;
  reused: string[];
  rerun: string[];
}

/**
 * ADF's "Rerun from failed activity" (docs/spec/adf-pipeline-semantics.md §6.2): the new run gets the reference run's parameters and the recorded
 * outcome of each of its activities; the engine reuses what succeeded (not downstream of a failure) and runs the rest.
 */
export async function planRerun(client: Client, workflowId: string): Promise<RerunPlan> {
  const handle = client.workflow.getHandle(workflowId);
  const desc = await handle.describe();
  const type = desc.type;
  if (type !== 'runPipeline' && type !== 'retrainAndUpdate') {
    throw new CliError(
      `run '${workflowId}' is a ${type} workflow; only runPipeline and retrainAndUpdate runs can be rerun`,
    );
  }
  if (desc.status.name === 'RUNNING') throw new CliError(`run '${workflowId}' is still running; cancel it first`);
  if (desc.status.name === 'COMPLETED') {
    throw new CliError(`run '${workflowId}' succeeded: nothing failed, so there is nothing to rerun from failure`);
  }
  let view: RecoveryView;
  try {
    view = await handle.query(recoveryQuery);
  } catch (e) {
    throw new CliError(
      `cannot read the activity outcomes of '${workflowId}' (a worker must be running on task queue ` +
        `'${desc.taskQueue}'): ${(e as Error).message.split('\n')[0]}`,
    );
  }
  const recovery = {
    referenceWorkflowId: workflowId,
    referenceRunId: view.runId,
    groupId: view.groupId,
    activities: view.activities,
  };
  const original = (await referenceInput(client, workflowId)) as RunPipelineInput & RetrainAndUpdateInput;
  const statuses = Object.entries(view.activities);
  const plan = {
    workflowType: type,
    taskQueue: desc.taskQueue,
    reused: statuses.filter(([, a]) => a.status === 'Succeeded').map(([n]) => n),
    rerun: statuses.filter(([, a]) => a.status !== 'Succeeded').map(([n]) => n),
  } as const;
  if (type === 'runPipeline') {
    // ADF reruns with the reference run's parameter values (already evaluated: escape them so they stay literal).
    const parameters = Object.fromEntries(Object.entries(view.parameters).map(([k, v]) => [k, escapeLiteral(v)]));
    return { ...plan, input: { ...original, parameters, runId: undefined, recovery } };
  }
  return { ...plan, input: { ...original, recovery } };
}

export function registerRerunCommand(program: Command, io: CliIO): void {
  addExamples(
    program
      .command('rerun <workflowId>')
      .description(
        'rerun a failed or cancelled run from its failed activities: what succeeded is not run again (its recorded ' +
          'output, e.g. the finished BES job, is reused); the failed activities and everything downstream run',
      )
      .option('--from-failure', 'rerun from the failed activities (required: the only rerun mode)')
      .option('--id <workflowId>', 'workflow id of the new run (default <workflowId>-rerun-<UTC time>)')
      .option('-q, --task-queue <name>', "task queue (default: the reference run's)")
      .option('--no-wait', 'print the new workflow id and exit'),
    ['retrain rerun retrain-RetrainAndUpdate-20240101T020000Z --from-failure'],
  ).action(
    async (workflowId: string, opts: { fromFailure?: boolean; id?: string; taskQueue?: string; wait: boolean }) => {
      if (!opts.fromFailure) throw new CliError('give --from-failure (rerun from the failed activities)');
      await withClient(async (client) => {
        const plan = await planRerun(client, workflowId);
        io.err(
          `reusing: ${plan.reused.join(', ') || '(nothing)'}; running again: ${plan.rerun.join(', ') || '(nothing)'}`,
        );
        const handle = await client.workflow.start(plan.workflowType, {
          taskQueue: opts.taskQueue ?? plan.taskQueue,
          workflowId: opts.id ?? `${workflowId}-rerun-${timestamp()}`,
          workflowIdConflictPolicy: WorkflowIdConflictPolicy.USE_EXISTING,
          args: [plan.input],
          memo: { rerunOf: workflowId },
          staticSummary: `Rerun from failure of ${workflowId}`,
        });
        io.out(`started ${handle.workflowId}`);
        if (!opts.wait) return;
        try {
          const result = await followRun(handle, io.err);
          if (plan.workflowType === 'runPipeline') printPipelineResult(result as unknown as RunPipelineResult, io.out);
          else io.out(`BES job:  ${result.jobId}`);
          io.out('run succeeded');
        } catch (e) {
          const cause = rootCause(e);
          io.err(`run failed: ${cause.type ? `${cause.type}: ` : ''}${cause.message}`);
          process.exitCode = 1;
        }
      });
    },
  );
}
