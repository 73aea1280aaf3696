import { describeGate } from '../common/deployment';
import type { ApprovalStatus, GateStatus, UpdateResult, UpdateStatus } from '../common/types';
import { formatTime, renderTable, truncate } from './commands/common';
import { stripUrlQueries } from './redact';

/**
 * How a run's model got (or did not get) to its scoring services, in words for `retrain run` and `retrain status`:
 * each update's outcome from the scoring service's workflow, the quality gate's numbers, and the approval: waiting
 * (with the commands to type) or decided (by whom).
 */

/** The commands that decide a run waiting for approval, exactly as an operator types them. */
export function approvalCommands(workflowId: string): { approve: string; reject: string } {
  return {
    approve: `retrain approve ${workflowId} --by <you> --reason "<why>"`,
    reject: `retrain reject ${workflowId} --by <you> --reason "<why>"`,
  };
}

/** One line: the gate's verdict and every check with its numbers. */
export function gateLine(g: GateStatus): string {
  return `quality gate ${g.passed ? 'passed' : 'FAILED'} for model ${g.model}: ${describeGate(g.checks)}`;
}

/** One line: the approval's state, and for a waiting run the deadline and what to type. */
export function approvalLine(a: ApprovalStatus, workflowId: string): string {
  const model = `model ${a.model} (BES job ${a.jobId ?? 'unknown'})`;
  switch (a.state) {
    case 'Waiting': {
      const c = approvalCommands(workflowId);
      return `waiting for approval of ${model} until ${formatTime(a.deadline)}: ${c.approve}  |  ${c.reject}`;
    }
    case 'TimedOut':
      return `approval of ${model} timed out at ${formatTime(a.at)} (deadline ${formatTime(a.deadline)}): nothing deployed`;
    default:
      return `${model} ${a.state.toLowerCase()} by ${a.by ?? '?'} at ${formatTime(a.at)}${a.reason ? `: ${a.reason}` : ''}`;
  }
}

/** The status view's sections for gate, approval and update outcomes (none when the run has none of them). */
export function renderDeployment(
  s: { gate?: GateStatus | null; approval?: ApprovalStatus | null; updates?: Record<string, UpdateStatus> | null },
  workflowId: string,
): string[] {
  const lines: string[] = [];
  if (s.gate) {
    lines.push('', `Quality gate: ${s.gate.passed ? 'passed' : 'FAILED'} (model ${s.gate.model})`);
    for (const c of s.gate.checks) lines.push(`  ${c.passed ? 'pass' : 'FAIL'}  ${describeGate([c])}`);
  }
  const a = s.approval;
  if (a) {
    lines.push('', `Approval: ${a.state} (model ${a.model}, BES job ${a.jobId ?? 'unknown'})`);
    if (a.metrics) {
      lines.push(
        `  metrics:   ${Object.entries(a.metrics)
          .map(([k, v]) => `${k}=${v}`)
          .join(' ')}`,
      );
    }
    lines.push(`  asked:     ${formatTime(a.requestedAt)}`, `  deadline:  ${formatTime(a.deadline)}`);
    if (a.state === 'Waiting') {
      const c = approvalCommands(workflowId);
      lines.push(`  approve:   ${c.approve}`, `  reject:    ${c.reject}`);
    } else if (a.state === 'TimedOut') {
      lines.push(`  decided:   nobody in time (timed out at ${formatTime(a.at)}): nothing deployed`);
    } else {
      lines.push(`  decided:   ${a.state} by ${a.by ?? '?'} at ${formatTime(a.at)}${a.reason ? `: ${a.reason}` : ''}`);
    }
  }
  const updates = Object.entries(s.updates ?? {});
  if (updates.some(([, u]) => u.outcome)) {
    lines.push('', 'Updates:');
    const rows = updates.map(([name, u]) => [
      name,
      u.linkedServiceName,
      u.outcome ?? u.state,
      truncate(u.message ?? u.error ?? '-', 160),
    ]);
    lines.push(...renderTable(['UPDATE', 'SCORING SERVICE', 'OUTCOME', 'MESSAGE'], rows).map((l) => `  ${l}`));
  }
  return lines;
}

/** `name → service: Outcome: message` per update with an outcome, for `retrain run`'s last lines. */
export function outcomeLines(updates: Record<string, UpdateStatus> | undefined): string[] {
  return Object.entries(updates ?? {})
    .filter(([, u]) => u.outcome)
    .map(([name, u]) => `update:   ${name} → ${u.linkedServiceName}: ${u.outcome}${u.message ? `: ${u.message}` : ''}`);
}

/**
 * A finished update in `retrain run`'s result: what the scoring service's workflow did (Deployed, AlreadyLive,
 * Superseded, …) with its message, and the blob the service points at. Runs recorded before model identity have no
 * outcome: they keep the old wording.
 */
export function updateLine(u: UpdateResult): string {
  const head = `updated:  ${u.activityName} → ${u.linkedServiceName} (${u.kind}) '${u.trainedModelName}'`;
  const url = stripUrlQueries(u.modelUrl);
  if (!u.outcome) return `${head} now serves ${url}${u.alreadyApplied ? ' (already applied)' : ''}`;
  return `${head}: ${u.outcome}${u.message ? `: ${u.message}` : ''}${url ? `; serves ${url}` : ''}`;
}
