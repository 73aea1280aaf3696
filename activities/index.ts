import type { ActivityDeps } from './deps';
import { createBesActivities } from './bes';
import { createModelActivities } from './model';
import { createUpdateActivities } from './update';

export type { ActivityDeps, ActivitySettings } from './deps';
export { DEFAULT_ACTIVITY_SETTINGS } from './deps';

/** All activities, bound to their dependencies. Workflows import this module as a type only. */
export function createActivities(deps: ActivityDeps) {
  return {
    ...createBesActivities(deps),
    ...createModelActivities(deps),
    ...createUpdateActivities(deps),
  };
}

export type Activities = ReturnType<typeof createActivities>;
