import type { Client } from '@temporalio/client';
import { WorkflowFailedError } from '@temporalio/client';
import type { RetrainAndUpdateResult, RunStatus } from '../common/types';
import { statusQuery } from '../workflows/queries';
import type { CliIO } from './commands/common';
import { temporalTarget } from './commands/common';
import { approvalLine, outcomeLines } from './deployment-view';
import type { StartedRun } from './run';
import { followRun, outcomeWord, rootCause, TemporalUnreachableError } from './run';

/** `retrain run` exit codes besides 0 (succeeded) and 1 (the run failed, was cancelled, or a usage error). */
export const EXIT_TEMPORAL_UNREACHABLE = 3;
export const EXIT_INTERRUPTED = 130;

export interface FollowCliOptions {
  progressSeconds?: number;
  /** Ctrl-C cancels the run (and waits for it to end) instead of detaching. */
  cancelOnInterrupt?: boolean;
  /** Give up following after Temporal has been unreachable this long (default 10 min). */
  reconnectTimeoutSeconds?: number;
  print: (result: RetrainAndUpdateResult) => void;
}

/** The run's last status, for what its result does not carry; undefined when no worker answers in time. */
function finalStatus(client: Client, handle: StartedRun): Promise<RunStatus | undefined> {
  return client.connection.withDeadline(Date.now() + 5_000, () => handle.query(statusQuery)).catch(() => undefined);
}

/**
 * `retrain run` after the start: say whether it started or attached, follow to the end, and report the outcome in
 * words that match what happened. Ctrl-C detaches (the run goes on) unless --cancel-on-interrupt; Temporal being
 * unreachable is never reported as a failed run.
 */
export async function followFromCli(
  client: Client,
  handle: StartedRun,
  io: CliIO,
  opts: FollowCliOptions,
): Promise<void> {
  const id = handle.workflowId;
  // Ctrl-C is ours before the first line a user (or a script) can react to.
  let interrupted = false;
  const onInterrupt = () => {
    if (interrupted) process.exit(EXIT_INTERRUPTED); // a second Ctrl-C: leave now
    interrupted = true;
    if (!opts.cancelOnInterrupt) {
      io.err(`detached: the run goes on; \`retrain cancel ${id}\` stops it`);
      process.exit(EXIT_INTERRUPTED);
    }
    io.err(`interrupted: cancelling ${id} (--cancel-on-interrupt); waiting for it to end…`);
    handle.cancel().catch((e: unknown) => io.err(`cancel failed: ${e instanceof Error ? e.message : String(e)}`));
  };
  process.on('SIGINT', onInterrupt);
  io.out(
    handle.attached
      ? `attached to running ${id}${handle.startTime ? ` (started ${handle.startTime.toISOString()})` : ''}; following it`
      : `started ${id}`,
  );
  const ui = process.env.TEMPORAL_UI_URL;
  if (ui) {
    io.out(
      `Web UI:   ${ui.replace(/\/$/, '')}/namespaces/${client.options.namespace}/workflows/${encodeURIComponent(id)}`,
    );
  }
  try {
    const result = await followRun(handle, io.out, {
      repeatMs: (opts.progressSeconds ?? 30) * 1000,
      giveUpMs: (opts.reconnectTimeoutSeconds ?? 600) * 1000,
      client,
      address: temporalTarget().address,
    });
    opts.print(result);
    const approval = (await finalStatus(client, handle))?.approval;
    if (approval) io.out(`approval: ${approvalLine(approval, id)}`);
    io.out('run succeeded');
  } catch (e) {
    if (e instanceof TemporalUnreachableError) {
      io.err(`error: ${e.message}`);
      process.exitCode = EXIT_TEMPORAL_UNREACHABLE;
    } else if (e instanceof WorkflowFailedError) {
      // Who decided on the model, and what each scoring service did before the run failed (RolledBack, …).
      const status = await finalStatus(client, handle);
      if (status?.approval) io.out(`approval: ${approvalLine(status.approval, id)}`);
      for (const line of outcomeLines(status?.updates)) io.out(line);
      const cause = rootCause(e);
      io.err(`run ${outcomeWord(e)}: ${cause.type ? `${cause.type}: ` : ''}${cause.message}`);
      process.exitCode = interrupted ? EXIT_INTERRUPTED : 1;
    } else {
      throw e;
    }
  } finally {
    process.removeListener('SIGINT', onInterrupt);
  }
}
