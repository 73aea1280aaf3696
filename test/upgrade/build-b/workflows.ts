/**
 * Build B of the upgrade test: the released workflows with one real change to retrainAndUpdate, a memo written at
 * the start and at the end of a run, each guarded by patched() as docs/upgrading.md requires.
 */
import { patched, upsertMemo } from '@temporalio/workflow';
import { retrainAndUpdate as released } from '../../../workflows';
import { BUILD_B, FINISH_PATCH, START_PATCH } from './change';

export * from '../../../workflows';

export async function retrainAndUpdate(...args: Parameters<typeof released>): ReturnType<typeof released> {
  if (patched(START_PATCH)) upsertMemo({ startedBy: BUILD_B });
  const result = await released(...args);
  if (patched(FINISH_PATCH)) upsertMemo({ finishedBy: BUILD_B });
  return result;
}
