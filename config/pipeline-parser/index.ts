/** ADF v2 pipeline JSON → the engine's normalized definition (common/pipeline-definition.ts), every problem with its JSON path. */
export { activityNameProblem } from './activity';
export type { ParsePipelineResult } from './parse-pipeline';
export { MAX_ACTIVITIES_PER_PIPELINE, parsePipeline, pipelineNameProblem } from './parse-pipeline';
