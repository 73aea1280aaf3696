import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import type { WorkflowHandle } from '@temporalio/client';
import { startRetrain } from '../../client/run';
import type { RetrainAndUpdateInput } from '../../common/types';
import type { BenchStack, ChildHandle } from './stack';
import { spawnNode } from './stack';

/** One product run, as a user starts it (`retrain run` does the same startRetrain), timed to its result. */
export async function runProduct(
  stack: BenchStack,
  taskQueue: string,
  workflowId: string,
  input: RetrainAndUpdateInput,
): Promise<{ ms: number; handle: WorkflowHandle }> {
  const t0 = performance.now();
  const handle = await startRetrain(stack.client, input, { taskQueue, workflowId });
  await handle.result();
  return { ms: performance.now() - t0, handle };
}

/** The plain script (./baseline.ts) in its own process, given one run at a time. */
export class BaselineProcess {
  private readonly waiting = new Map<string, (reply: { ms?: number; error?: string }) => void>();

  private constructor(private readonly handle: ChildHandle) {
    // A script that dies fails the runs waiting on it instead of leaving them hanging.
    handle.child.once('exit', (code) => {
      for (const resolve of this.waiting.values()) resolve({ error: `the baseline script exited (${code})` });
      this.waiting.clear();
    });
  }

  static async start(stack: BenchStack): Promise<BaselineProcess> {
    // Replies only come after runs are sent, by which time `holder.self` is set.
    const holder: { self?: BaselineProcess } = {};
    const onLine = (line: string) => {
      if (line.startsWith('{')) holder.self?.reply(line);
    };
    const handle = await spawnNode(
      join(__dirname, 'baseline.js'),
      ['--config', stack.configDir],
      stack.childEnv,
      'baseline ready',
      onLine,
    );
    holder.self = new BaselineProcess(handle);
    return holder.self;
  }

  private reply(line: string): void {
    const r = JSON.parse(line) as { id: string; ms?: number; error?: string };
    this.waiting.get(r.id)?.(r);
    this.waiting.delete(r.id);
  }

  /** Wall time as seen from here, like the product's (start call to result). */
  async run(id: string, input: RetrainAndUpdateInput): Promise<number> {
    const t0 = performance.now();
    const reply = await new Promise<{ ms?: number; error?: string }>((resolve) => {
      this.waiting.set(id, resolve);
      this.handle.child.stdin!.write(`${JSON.stringify({ id, input })}\n`);
    });
    if (reply.error) throw new Error(`baseline run ${id} failed: ${reply.error}`);
    return performance.now() - t0;
  }

  get pid(): number | undefined {
    return this.handle.pid;
  }

  stop(): Promise<void> {
    this.handle.child.stdin!.end();
    return this.handle.stop();
  }
}

/** The emulator routes a piece of work called (request log), counted; BES status polls apart. */
export async function routesOf(stack: BenchStack, work: () => Promise<unknown>): Promise<Map<string, number>> {
  const before = stack.emu.inspect().requests.length;
  await work();
  const counts = new Map<string, number>();
  for (const r of stack.emu.inspect().requests.slice(before)) {
    const route = r.route ?? `${r.method} ${r.path.split('?')[0]}`;
    counts.set(route, (counts.get(route) ?? 0) + 1);
  }
  return counts;
}

/** `same` when both made the same calls, BES status polls aside (the poll count depends on timing). */
export function compareRoutes(product: Map<string, number>, script: Map<string, number>): string {
  const routes = [...new Set([...product.keys(), ...script.keys()])].filter((r) => r !== 'bes.status').sort();
  const diff = routes.filter((r) => (product.get(r) ?? 0) !== (script.get(r) ?? 0));
  const polls = `status polls ${product.get('bes.status') ?? 0} vs ${script.get('bes.status') ?? 0}`;
  if (diff.length === 0) return `same calls (${routes.map((r) => `${r}×${product.get(r)}`).join(' ')}); ${polls}`;
  return `DIFFERENT: ${diff.map((r) => `${r} ${product.get(r) ?? 0} vs ${script.get(r) ?? 0}`).join(', ')}; ${polls}`;
}
