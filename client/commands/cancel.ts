import { WorkflowFailedError } from '@temporalio/client';
import type { Command } from 'commander';
import type { CliIO } from './common';
import { addExamples, CliError, withClient } from './common';

/**
 * Cancel asks the workflow to stop: it DELETEs the BES job (so the ML service stops spending) and sends no update
 * afterwards. Terminate would skip that cleanup, so the CLI offers cancel only.
 */
export function registerCancelCommand(program: Command, io: CliIO): void {
  addExamples(
    program
      .command('cancel <workflowId>')
      .description('cancel a run: its BES job is deleted and no scoring service is updated afterwards')
      .option('--no-wait', 'return once the cancellation is requested instead of waiting for the run to stop')
      .option('--reason <text>', 'recorded in the workflow history as the cancel reason'),
    [
      'retrain cancel retrain-RetrainAndUpdate-20240101T023000Z',
      'retrain cancel retrain-RetrainAndUpdate-20240101T023000Z --no-wait --reason "wrong training data"',
    ],
  ).action(async (workflowId: string, opts: { wait: boolean; reason?: string }) => {
    await withClient(async (client) => {
      const handle = client.workflow.getHandle(workflowId);
      const desc = await handle.describe();
      if (desc.status.name !== 'RUNNING') {
        throw new CliError(`run '${workflowId}' is not running (${desc.status.name}); nothing to cancel`);
      }
      await client.workflowService.requestCancelWorkflowExecution({
        namespace: client.options.namespace,
        workflowExecution: { workflowId, runId: desc.runId },
        identity: client.options.identity,
        reason: opts.reason ?? 'retrain cancel',
      });
      io.out(`cancel requested for ${workflowId}`);
      if (!opts.wait) return;
      try {
        await handle.result();
        io.out(`run ${workflowId} finished before the cancellation reached it`);
      } catch (e) {
        const status = (await handle.describe()).status.name;
        if (status === 'CANCELLED') io.out(`run ${workflowId} cancelled`);
        else if (e instanceof WorkflowFailedError) io.out(`run ${workflowId} ended ${status}`);
        else throw e;
      }
    });
  });
}
