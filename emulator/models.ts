import type { EmulatorContext } from './context';

/**
 * The model live on a scoring target at `now`: the last activation that has taken effect. Activations are stored
 * with their effective time, so an activation delay or an ARM provisioning window needs no timer and survives a
 * restart.
 */
export function liveModel(ctx: EmulatorContext, target: string, now = ctx.now()): string | null {
  const history = ctx.state.models[target] ?? [];
  let live: string | null = null;
  for (const entry of history) {
    if (entry.activeAtMs <= now) live = entry.identity;
  }
  return live;
}

export function scheduleActivation(
  ctx: EmulatorContext,
  target: string,
  identity: string | null,
  activeAtMs: number,
): void {
  const history = (ctx.state.models[target] ??= []);
  history.push({ identity, activeAtMs });
  history.sort((a, b) => a.activeAtMs - b.activeAtMs);
  // Only the live entry and pending ones matter; keep a short tail for debugging.
  const now = ctx.now();
  const firstPending = history.findIndex((e) => e.activeAtMs > now);
  const liveIndex = (firstPending === -1 ? history.length : firstPending) - 1;
  if (liveIndex > 10) history.splice(0, liveIndex - 10);
}

export function allLiveModels(ctx: EmulatorContext): Record<string, string | null> {
  const out: Record<string, string | null> = {};
  for (const target of Object.keys(ctx.state.models)) out[target] = liveModel(ctx, target);
  return out;
}
