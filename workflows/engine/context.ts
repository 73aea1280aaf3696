/** What the scheduler and its executors share about one run. */
import type { SearchAttributeUpdatePair } from '@temporalio/common';
import type { EffectiveStatus } from '../../common/dag';
import type { EvalContext, SystemObject } from '../../common/expressions';
import type { ActivityDefinition, PipelineDefinition, RecoveryInput } from '../../common/pipeline-definition';
import type { ActivityRunRecord, ModelRef, RunPhase, RunStatus, UpdateResult } from '../../common/types';
import type { Deployments } from '../deployment';

export const DEFAULT_POLL_SECONDS = 10;

/** A run's status view (the `status` query) before anything ran. */
export function newRunStatus(pipeline: string): RunStatus {
  return {
    pipeline,
    phase: 'Submitting',
    jobId: null,
    besStatus: null,
    besDetails: null,
    model: null,
    updates: {},
    error: null,
    runStatus: 'InProgress',
    activityRuns: [],
  };
}

export interface EngineOptions {
  /** BES status poll interval. */
  pollMs: number;
  /** Set the product's search attributes (the client turns this off when the namespace lacks them). */
  searchAttributes: boolean;
  /** `pipeline()` for expressions (RunId, TriggerTime, parameters, ...). */
  pipelineObject: SystemObject;
  /** Reuse the recorded outcome of these activities instead of running them (a recovery run). */
  recovery?: RecoveryInput;
}

/** What the engine knows about one activity. `output` and `error` are unmasked: never put them in the status view. */
export interface ActivityState {
  def: ActivityDefinition;
  record: ActivityRunRecord;
  effective?: EffectiveStatus;
  output?: unknown;
  error?: unknown;
  done: Promise<EffectiveStatus>;
}

export interface EngineResult {
  runStatus: 'Succeeded' | 'Failed' | 'Cancelled';
  /** The error of the first failed activity that decided the run (leaf rule), or the cancellation. */
  error?: unknown;
  failedActivity?: string;
  outputOf(name: string): unknown;
  effectiveOf(name: string): EffectiveStatus | undefined;
}

/** The run as the executors see it: the scheduler (./scheduler.ts) implements it. */
export interface EngineContext {
  readonly def: PipelineDefinition;
  /** The run's status view (the `status` query): executors keep its legacy fields (jobId, updates, model) current. */
  readonly status: RunStatus;
  readonly opts: EngineOptions;
  readonly states: Map<string, ActivityState>;
  /** The pipeline's variables, as SetVariable last set them. */
  readonly variables: Record<string, unknown>;
  readonly deployments: Deployments;
  /** The run writes a lean history (v0.3, HISTORY_DIET_PATCH); runs recorded before replay their own commands. */
  readonly lean: boolean;
  /** The phase, in the status view and (as the run's rule says) the Phase search attribute, with `attrs` in one upsert. */
  setPhase(phase: RunPhase, attrs?: SearchAttributeUpdatePair[]): void;
  evalContext(): EvalContext;
}

/** Our documented `AzureMLBatchExecution` output (ADF's is undocumented, docs/spec/adf-pipeline-semantics.md §6.3). No SAS, no keys. */
export interface BatchOutput {
  jobId: string;
  jobStatus: 'Finished';
  linkedServiceName: string;
  outputs: Record<string, { linkedServiceName?: string; filePath?: string; relativeLocation?: string }>;
  executionDuration: number;
}

export interface UpdateOutput {
  trainedModelName: string;
  model: ModelRef;
  update: UpdateResult;
}
