import {
  ApplicationFailure,
  CancellationScope,
  condition,
  isCancellation,
  sleep,
  workflowInfo,
} from '@temporalio/workflow';
import { TimeoutType } from '@temporalio/common';
import { FailureType } from '../../common/failures';

/**
 * A workflow execution (or run) timeout ends the run on the server without running any more workflow code, so the
 * run could not DELETE its BES job and the ML service would keep training for nobody. When the run was started with
 * such a timeout, this deadline cancels the run's work a little before it (10 % of the timeout, between 5 s and
 * 1 min): the usual cancellation cleanup DELETEs the job, and the run then waits for the server's timeout, so it still
 * ends TimedOut as its starter asked. Without a timeout (the product's default) nothing changes.
 */
export class RunDeadline {
  /** True once the deadline has fired and the run's work was cancelled. */
  reached = false;
  private readonly atMs: number | undefined;
  private readonly timeoutMs: number | undefined;

  constructor() {
    const info = workflowInfo();
    const ends: number[] = [];
    if (info.executionExpirationTime) ends.push(info.executionExpirationTime.getTime());
    if (info.runTimeoutMs) ends.push(info.runStartTime.getTime() + info.runTimeoutMs);
    if (ends.length === 0) return;
    const end = Math.min(...ends);
    this.timeoutMs = end - info.startTime.getTime();
    this.atMs = end - cleanupMarginMs(this.timeoutMs);
  }

  get message(): string {
    return (
      `the workflow timeout (${Math.round((this.timeoutMs ?? 0) / 1000)} s) was about to expire: ` +
      `the run stopped its work (and its BES job) and ends TimedOut`
    );
  }

  /** Run `fn` in a scope that the deadline cancels. */
  async run<T>(fn: () => Promise<T>): Promise<T> {
    if (this.atMs === undefined) return fn();
    return withTimer(Math.max(1, this.atMs - Date.now()), fn, {
      onExpired: () => {
        this.reached = true;
      },
    });
  }

  /** After the cleanup: let the server's timeout end the run, so it ends TimedOut. */
  async waitForTimeout(): Promise<never> {
    await condition(() => false);
    throw new Error('unreachable: the server times the run out');
  }
}

export function cleanupMarginMs(timeoutMs: number): number {
  return Math.min(60_000, Math.max(5_000, Math.round(timeoutMs * 0.1)));
}

/**
 * The one timer scope of the engine (a run's deadline, an activity attempt's `policy.timeout`): run `fn` in a scope
 * that a timer cancels after `ms`. When it did, `onExpired` has run first, and `timeoutError` (if given) replaces the
 * cancellation `fn` ended with. The timer is cancelled as soon as `fn` ends, so a finished run leaves no timer behind.
 */
export async function withTimer<T>(
  ms: number,
  fn: () => Promise<T>,
  opts: { onExpired?: () => void; timeoutError?: () => Error },
): Promise<T> {
  const work = new CancellationScope();
  const timerScope = new CancellationScope();
  let expired = false;
  const timer = timerScope
    .run(() => sleep(ms))
    .then(
      () => {
        expired = true;
        opts.onExpired?.();
        work.cancel();
      },
      () => undefined,
    );
  try {
    return await work.run(fn);
  } catch (err) {
    if (expired && opts.timeoutError && isCancellation(err)) throw opts.timeoutError();
    throw err;
  } finally {
    timerScope.cancel();
    await timer;
  }
}

/**
 * One ADF attempt's `policy.timeout` as a deadline (runs from v0.3 on). Rather than a timer per attempt, started and
 * cancelled in every run's history, each wait of the attempt carries the deadline itself: activities get the remaining
 * time as their schedule-to-close timeout (the deploy activity as an input, to withdraw its request itself), and the
 * waits that are not activities (approval, a fan-out slot, an ADF Wait) are timed conditions that add a timer only
 * when they actually wait. Whichever reaches the deadline fails the attempt as ActivityTimedOut, as the timer did.
 */
export class AttemptDeadline {
  readonly atMs: number;

  constructor(
    private readonly activityName: string,
    readonly timeoutMs: number,
  ) {
    this.atMs = Date.now() + timeoutMs;
  }

  remainingMs(): number {
    return Math.max(0, this.atMs - Date.now());
  }

  get message(): string {
    return `activity '${this.activityName}' timed out after ${Math.round(this.timeoutMs / 1000)} s (policy.timeout)`;
  }

  timedOut(): ApplicationFailure {
    return ApplicationFailure.create({ type: FailureType.ActivityTimedOut, nonRetryable: true, message: this.message });
  }

  /** The attempt's failure for an activity that ran out of its schedule-to-close timeout (the deadline); else `err`. */
  translate(err: unknown): unknown {
    for (let e = err as { cause?: unknown; timeoutType?: unknown } | undefined; e; e = e.cause as typeof e) {
      if (e.timeoutType === TimeoutType.SCHEDULE_TO_CLOSE) return this.timedOut();
    }
    return err;
  }

  /** `condition(fn)`, failing as timed out at the deadline; a timer only when it has to wait. */
  async condition(fn: () => boolean): Promise<void> {
    if (fn()) return;
    if (!(await condition(fn, Math.max(1, this.remainingMs())))) throw this.timedOut();
  }

  /** A promise another attempt started (a shared prepare or admission): raced with this deadline only if it is earlier. */
  async within<T>(p: Promise<T>, boundAtMs: number): Promise<T> {
    if (boundAtMs <= this.atMs) return p;
    let settled = false;
    const done = p.finally(() => {
      settled = true;
    });
    done.catch(() => undefined);
    await this.condition(() => settled);
    return done;
  }
}
