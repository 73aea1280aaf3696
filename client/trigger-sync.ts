import { createHash } from 'node:crypto';
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Client, ScheduleDescription, ScheduleOverlapPolicy, ScheduleUpdateOptions } from '@temporalio/client';
import { ScheduleNotFoundError } from '@temporalio/client';
import type { Duration } from '@temporalio/common';
import { mapScheduleTrigger } from '../config/triggers';
import type { TriggerMapping } from '../config/triggers';
import { DEFAULT_POLICIES, MANAGED_BY, namespaceHasAttributes, pipelineAction } from './schedules';

/**
 * `retrain triggers sync`: make the namespace's Temporal Schedules match the ADF folder's `trigger/*.json`.
 *
 * Idempotent: each schedule's action memo records a fingerprint of what it was made from, so an unchanged trigger
 * is left alone (no update, no lost pause) and a changed one is updated in place. The trigger's `runtimeState`
 * pauses or unpauses the schedule only when it changed since the last sync, so an operator's manual pause (or a
 * pause-on-failure) survives re-syncing. Schedules this command created for the same task queue whose trigger file
 * is gone are deleted.
 */

export interface SyncOptions {
  configDir: string;
  taskQueue: string;
  overlap?: ScheduleOverlapPolicy;
  catchupWindow?: string;
  pauseOnFailure?: boolean;
  /** Delete schedules created by this command whose trigger no longer exists. Default true. */
  prune?: boolean;
  dryRun?: boolean;
}

export type SyncAction = 'created' | 'updated' | 'unchanged' | 'deleted' | 'skipped' | 'error';

export interface SyncResult {
  action: SyncAction;
  scheduleId?: string;
  trigger?: string;
  pipeline?: string;
  file?: string;
  detail?: string;
  warnings: string[];
}

interface Desired {
  scheduleId: string;
  mapping: TriggerMapping;
  file: string;
  pipeline: { pipelineName: string; parameters: Record<string, unknown> };
}

/** One schedule per trigger × pipeline (docs/spec/adf-pipeline-semantics.md §5.1): a trigger that starts several pipelines gets one id per pipeline. */
export function scheduleIdFor(mapping: TriggerMapping, pipelineName: string): string {
  if (mapping.pipelines.length <= 1) return mapping.scheduleId;
  return `${mapping.scheduleId}-${pipelineName.replace(/[^A-Za-z0-9_.-]+/g, '-')}`;
}

function fingerprint(value: unknown): string {
  return createHash('sha256').update(JSON.stringify(value)).digest('hex').slice(0, 16);
}

async function readTriggers(configDir: string): Promise<{ file: string; json?: unknown; error?: string }[]> {
  const dir = join(configDir, 'trigger');
  let names: string[];
  try {
    names = (await readdir(dir)).filter((n) => n.toLowerCase().endsWith('.json')).sort();
  } catch (e) {
    // A mistyped --config must not look like "every trigger was removed": pruning would delete live schedules.
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') throw new Error(`${dir} does not exist: nothing to sync`);
    throw e;
  }
  return Promise.all(
    names.map(async (n) => {
      const file = join(dir, n);
      try {
        return { file, json: JSON.parse(await readFile(file, 'utf8')) as unknown };
      } catch (e) {
        return { file, error: `${file}: ${(e as Error).message}` };
      }
    }),
  );
}

function triggerType(json: unknown): string | undefined {
  const props = (json as { properties?: { type?: unknown } } | undefined)?.properties;
  return typeof props?.type === 'string' ? props.type : undefined;
}

export async function syncTriggers(client: Client, opts: SyncOptions): Promise<SyncResult[]> {
  const results: SyncResult[] = [];
  const desired: Desired[] = [];
  for (const t of await readTriggers(opts.configDir)) {
    if (t.error) {
      results.push({ action: 'error', file: t.file, detail: t.error, warnings: [] });
      continue;
    }
    const type = triggerType(t.json);
    if (type !== undefined && type !== 'ScheduleTrigger') {
      results.push({
        action: 'skipped',
        file: t.file,
        detail: `${type} is not synced: only ScheduleTrigger maps onto a Temporal Schedule`,
        warnings: [],
      });
      continue;
    }
    let mapping: TriggerMapping;
    try {
      mapping = mapScheduleTrigger(t.file, t.json);
    } catch (e) {
      // One line per result: the mapping's problems (one per line in its message) joined.
      results.push({
        action: 'error',
        file: t.file,
        detail: (e as Error).message.replace(/\n\s*/g, '; '),
        warnings: [],
      });
      continue;
    }
    for (const pipeline of mapping.pipelines) {
      desired.push({ scheduleId: scheduleIdFor(mapping, pipeline.pipelineName), mapping, file: t.file, pipeline });
    }
  }

  const ids = new Set<string>();
  const attrs = await namespaceHasAttributes(client);
  for (const d of desired) {
    if (ids.has(d.scheduleId)) {
      results.push({
        action: 'error',
        scheduleId: d.scheduleId,
        trigger: d.mapping.triggerName,
        file: d.file,
        detail: `two triggers map to schedule id '${d.scheduleId}'; rename one`,
        warnings: [],
      });
      continue;
    }
    ids.add(d.scheduleId);
    try {
      results.push(await syncOne(client, d, opts, attrs));
    } catch (e) {
      results.push({
        action: 'error',
        scheduleId: d.scheduleId,
        trigger: d.mapping.triggerName,
        pipeline: d.pipeline.pipelineName,
        file: d.file,
        detail: (e as Error).message.split('\n')[0],
        warnings: [],
      });
    }
  }

  // A trigger file that failed to parse or map must not look "removed": pruning then would delete a live schedule.
  const unreadable = results.some((r) => r.action === 'error' && !r.scheduleId);
  if (opts.prune !== false && !unreadable) {
    for await (const s of client.schedule.list()) {
      if (s.memo?.managedBy !== MANAGED_BY || ids.has(s.scheduleId)) continue;
      const trigger = typeof s.memo.trigger === 'string' ? s.memo.trigger : undefined;
      const handle = client.schedule.getHandle(s.scheduleId);
      try {
        // Another factory's workers (another task queue) may share the namespace: their schedules are not ours.
        if ((await handle.describe()).action.taskQueue !== opts.taskQueue) continue;
        if (!opts.dryRun) await handle.delete();
      } catch (e) {
        // Listing is eventually consistent: a schedule deleted a moment ago may still be listed.
        if (e instanceof ScheduleNotFoundError) continue;
        throw e;
      }
      results.push({
        action: 'deleted',
        scheduleId: s.scheduleId,
        trigger,
        detail: 'its trigger file is gone',
        warnings: [],
      });
    }
  }
  return results;
}

async function syncOne(client: Client, d: Desired, opts: SyncOptions, attrs: boolean): Promise<SyncResult> {
  const { mapping, pipeline, scheduleId } = d;
  const policies = {
    overlap: opts.overlap ?? DEFAULT_POLICIES.overlap,
    catchupWindow: (opts.catchupWindow ?? DEFAULT_POLICIES.catchupWindow) as Duration,
    pauseOnFailure: opts.pauseOnFailure ?? DEFAULT_POLICIES.pauseOnFailure,
  };
  const base = {
    scheduleId,
    taskQueue: opts.taskQueue,
    trigger: mapping.triggerName,
    attrs,
    pipeline: pipeline.pipelineName,
    parameters: pipeline.parameters,
  };
  const print = fingerprint({ spec: mapping.spec, action: pipelineAction(base), policies });
  const action = pipelineAction({
    ...base,
    memo: { triggerFingerprint: print, triggerRuntimeState: mapping.runtimeState },
  });
  const paused = mapping.runtimeState === 'Stopped';
  const note = `ADF trigger ${mapping.triggerName} (${mapping.runtimeState}), synced from ${d.file}`;
  const result: SyncResult = {
    action: 'unchanged',
    scheduleId,
    trigger: mapping.triggerName,
    pipeline: pipeline.pipelineName,
    file: d.file,
    warnings: [...mapping.warnings, ...mapping.unmapped.map((u) => `not mapped: ${u}`)],
  };

  const handle = client.schedule.getHandle(scheduleId);
  let existing: ScheduleDescription | undefined;
  try {
    existing = await handle.describe();
  } catch (e) {
    if (!(e instanceof ScheduleNotFoundError)) throw e;
  }

  if (!existing) {
    if (!opts.dryRun) {
      await client.schedule.create({
        scheduleId,
        spec: mapping.spec,
        action,
        policies,
        memo: { managedBy: MANAGED_BY, trigger: mapping.triggerName, file: d.file },
        state: { paused, note },
      });
    }
    return { ...result, action: 'created', detail: paused ? 'paused: the trigger is Stopped' : undefined };
  }
  if (existing.memo?.managedBy !== MANAGED_BY) {
    throw new Error(
      `schedule '${scheduleId}' exists but was not created by triggers sync; delete it or rename trigger ${mapping.triggerName}`,
    );
  }
  const memo = existing.action.memo ?? {};
  const stateChanged = memo.triggerRuntimeState !== mapping.runtimeState;
  if (memo.triggerFingerprint === print && !stateChanged) return result;
  if (!opts.dryRun) {
    await handle.update((prev): ScheduleUpdateOptions => ({
      spec: mapping.spec,
      action,
      policies,
      state: {
        paused: stateChanged ? paused : prev.state.paused,
        note: stateChanged ? note : prev.state.note,
        remainingActions: prev.state.remainingActions,
      },
    }));
  }
  const details: string[] = [];
  if (memo.triggerFingerprint !== print) details.push('definition changed');
  if (stateChanged) details.push(paused ? 'paused: the trigger is Stopped' : 'unpaused: the trigger is Started');
  return { ...result, action: 'updated', detail: details.join('; ') };
}
