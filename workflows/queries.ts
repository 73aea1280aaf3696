import { defineQuery } from '@temporalio/workflow';
import type { RecoveryView } from '../common/pipeline';
import type { RunStatus } from '../common/types';

/** Defined once, used by the workflow (handler) and clients (caller). Safe to import outside a workflow. */
export const statusQuery = defineQuery<RunStatus>('status');

/**
 * What `retrain rerun --from-failure` reuses: each activity's outcome with its unmasked output (`status` masks
 * secureOutput). Outputs never hold secrets (no keys, no SAS), only job ids and blob paths.
 */
export const recoveryQuery = defineQuery<RecoveryView>('recovery');
