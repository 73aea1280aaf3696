import type { ActivityDeps } from './deps';
import { createBesActivities } from './bes';
import { createModelActivities } from './model';
import { createScoringServiceActivities } from './scoring-service';
import { createUpdateActivities } from './update';
import { createVerifyActivities } from './verify';

export type { ActivityDeps, ActivitySettings } from './deps';
export type { PipelineActivities, PipelineSource } from './pipeline-loader';
export { createPipelineActivities } from './pipeline-loader';
export { DEFAULT_ACTIVITY_SETTINGS } from './deps';

/** All activities, bound to their dependencies. Workflows import this module as a type only. */
export function createActivities(deps: ActivityDeps) {
  return withBeforeHook(deps, {
    ...createBesActivities(deps),
    ...createModelActivities(deps),
    ...createUpdateActivities(deps),
    ...createVerifyActivities(deps),
    ...createScoringServiceActivities(deps),
  });
}

/** Run `deps.beforeActivity` (Key Vault secret resolution) before each activity, keeping every signature. */
function withBeforeHook<T extends Record<string, (input: never) => Promise<unknown>>>(deps: ActivityDeps, acts: T): T {
  if (!deps.beforeActivity) return acts;
  const hook = () => deps.beforeActivity!();
  const out: Record<string, unknown> = {};
  for (const [name, fn] of Object.entries(acts)) {
    out[name] = async (input: never) => {
      await hook();
      return fn(input);
    };
  }
  return out as T;
}

export type Activities = ReturnType<typeof createActivities>;
