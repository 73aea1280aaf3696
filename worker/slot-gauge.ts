import type { ActivityInterceptorsFactory } from '@temporalio/worker';

/**
 * How many of the worker's activity slots are taken, counted by an activity interceptor. The BES wait reads it: while
 * slots are plentiful it polls a running job in one heartbeating attempt (cheapest for the server), and when they run
 * short it gives its slot back and lets its retry policy bring the next check, so submits, updates and other runs'
 * work never queue behind jobs that are merely running.
 */
export class SlotGauge {
  private inFlight = 0;

  /** @param slots the worker's maxConcurrentActivityTaskExecutions; @param share the taken share that counts as short. */
  constructor(
    readonly slots: number,
    private readonly share = 0.8,
  ) {}

  /** True when at least `share` of the slots are taken. */
  short(): boolean {
    return this.inFlight >= this.slots * this.share;
  }

  taken(): number {
    return this.inFlight;
  }

  readonly interceptor: ActivityInterceptorsFactory = () => ({
    inbound: {
      execute: async (input, next) => {
        this.inFlight += 1;
        try {
          return await next(input);
        } finally {
          this.inFlight -= 1;
        }
      },
    },
  });
}
