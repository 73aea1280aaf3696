/**
 * Build B's change without its patched() guard at the start: a run begun on build A, replayed on this code, meets
 * a memo command where its history has the first activity. The upgrade test shows replay refuses it.
 */
import { upsertMemo } from '@temporalio/workflow';
import { retrainAndUpdate as released } from '../../../workflows';
import { BUILD_B } from '../build-b/change';

export * from '../../../workflows';

export async function retrainAndUpdate(...args: Parameters<typeof released>): ReturnType<typeof released> {
  upsertMemo({ startedBy: BUILD_B });
  return released(...args);
}
