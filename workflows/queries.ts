import { defineQuery, defineUpdate } from '@temporalio/workflow';
import type {
  Approval,
  ApprovalDecision,
  DeployOutcome,
  DeployRequest,
  RollbackOutcome,
  RollbackRequest,
  ServiceView,
} from '../common/models';
import type { RecoveryView } from '../common/pipeline-definition';
import type { RunStatus } from '../common/types';

/** Defined once, used by the workflow (handler) and clients (caller). Safe to import outside a workflow. */
export const statusQuery = defineQuery<RunStatus>('status');

/**
 * What `retrain rerun --from-failure` reuses: each activity's outcome with its unmasked output (`status` masks
 * secureOutput). Outputs never hold secrets (no keys, no SAS), only job ids and blob paths.
 */
export const recoveryQuery = defineQuery<RecoveryView>('recovery');

/** Approve the model a run waits on (phase AwaitingApproval): `{ by, reason }`. Refused when the run is not waiting. */
export const approveUpdate = defineUpdate<Approval, [ApprovalDecision]>('approve');
/** Reject it: the run ends Rejected (`ApprovalRejected`) and deploys nothing. */
export const rejectUpdate = defineUpdate<Approval, [ApprovalDecision]>('reject');

/** Scoring-service workflow: deploy one model (serialized with every other request for the service). */
export const deployUpdate = defineUpdate<DeployOutcome, [DeployRequest]>('deploy');
/** Scoring-service workflow: restore an earlier model from lineage. Refused when there is none. */
export const rollbackUpdate = defineUpdate<RollbackOutcome, [RollbackRequest]>('rollback');
/** Scoring-service workflow: drop a queued deploy request of a cancelled run (a request already applying finishes). */
export const withdrawUpdate = defineUpdate<boolean, [string]>('withdraw');
/** Scoring-service workflow: live model per resource, lineage, withdrawn models. */
export const serviceQuery = defineQuery<ServiceView>('service');
