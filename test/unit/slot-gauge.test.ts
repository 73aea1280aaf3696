import { SlotGauge } from '../../worker/slot-gauge';

type Execute = (
  input: { args: unknown[]; headers: Record<string, unknown> },
  next: (i: unknown) => Promise<unknown>,
) => Promise<unknown>;

describe('SlotGauge', () => {
  test('counts activities in flight through its interceptor and reports short at 80 % of the slots', async () => {
    const gauge = new SlotGauge(5);
    const execute = (gauge.interceptor({} as never).inbound as unknown as { execute: Execute }).execute;
    const releases: (() => void)[] = [];
    const running = Array.from({ length: 4 }, () =>
      execute({ args: [], headers: {} }, () => new Promise<void>((resolve) => releases.push(resolve))),
    );
    expect(gauge.taken()).toBe(4);
    expect(gauge.short()).toBe(true);
    releases.shift()?.();
    await running[0];
    expect(gauge.taken()).toBe(3);
    expect(gauge.short()).toBe(false);
    // A failing activity frees its slot too.
    await expect(execute({ args: [], headers: {} }, () => Promise.reject(new Error('boom')))).rejects.toThrow('boom');
    expect(gauge.taken()).toBe(3);
    for (const r of releases) r();
    await Promise.all(running);
    expect(gauge.taken()).toBe(0);
  });
});
