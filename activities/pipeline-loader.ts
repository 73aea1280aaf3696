import { ApplicationFailure } from '@temporalio/common';
import { FailureType } from '../common/failures';
import type { PipelineDefinition } from '../common/pipeline-definition';
import type { ActivityDeps } from './deps';

export interface LoadPipelineInput {
  /** Pipeline name; ADF names are case-insensitive. */
  pipeline: string;
}

export interface LoadPipelineResult {
  definition: PipelineDefinition;
}

/** Where pipeline definitions come from: the worker's ADF folder (`--config`). */
export interface PipelineSource {
  /** The validated, normalized definition. Throws a ConfigError (with every problem) when it is invalid. */
  load(name: string): Promise<PipelineDefinition>;
}

/**
 * Loading the definition is an activity so that the definition a run used is in its history: a replay, a reset or
 * `retrain rerun` sees the same pipeline even if the folder changed since.
 */
export function createPipelineActivities(deps: Pick<ActivityDeps, 'pipelines'>) {
  return {
    async loadPipelineDefinition({ pipeline }: LoadPipelineInput): Promise<LoadPipelineResult> {
      if (!deps.pipelines) {
        throw ApplicationFailure.create({
          type: FailureType.ConfigError,
          nonRetryable: true,
          message: 'this worker has no ADF config folder, so it cannot run pipelines (start it with --config DIR)',
        });
      }
      try {
        return { definition: await deps.pipelines.load(pipeline) };
      } catch (e) {
        if ((e as Error).name === 'ConfigError') {
          const problems = (e as { problems?: string[] }).problems ?? [];
          throw ApplicationFailure.create({
            type: FailureType.ConfigError,
            nonRetryable: true,
            message: (e as Error).message,
            details: [{ problems }],
          });
        }
        throw e;
      }
    },
  };
}

export type PipelineActivities = ReturnType<typeof createPipelineActivities>;
