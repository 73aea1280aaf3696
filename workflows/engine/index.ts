/**
 * The one pipeline engine behind `runPipeline` and `retrainAndUpdate`: the scheduler (./scheduler.ts) runs the
 * activities of a pipeline definition as ADF does, each through its executor (./batch-execution.ts,
 * ./update-resource.ts, ./control.ts); every activity option is in ./activity-options.ts.
 */
export { HISTORY_DIET_PATCH, PipelineEngine } from './scheduler';
export type { BatchOutput, EngineOptions, EngineResult, UpdateOutput } from './context';
export { DEFAULT_POLL_SECONDS, newRunStatus } from './context';
export { messageOf } from './run-errors';
export { MODEL_LIFECYCLE_PATCH } from './update-resource';
