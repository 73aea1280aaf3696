/**
 * The crash hunt of issue 11 (point 9): the worker once died with "async hook stack has become corrupted …
 * node::worker::Worker::Run()" after the >4 MB case and many retried failures, in a process instrumented with a
 * `--require` preload. Here the built worker (`node dist/worker/main.js`, no preload, as `retrain worker` runs it)
 * gets the same mix, round after round: pipelines over the payload limit, runs cancelled mid-training, and stretches
 * where every request to the emulator is reset so activities retry network failures. The verdict is the process's:
 * it must still be alive at the end, exit 0 on SIGTERM, and never print the corruption message; every run must end.
 */
import { WorkflowIdConflictPolicy } from '@temporalio/common';
import { startRetrain } from '../../client/run';
import { uniqueId } from '../helpers/temporal';
import { writeSummary } from '../durability/harness';
import { writePipeline } from '../helpers/inputs';
import { builtWorker } from '../helpers/processes';
import type { Stack } from '../helpers/stack';
import { startStack } from '../helpers/stack';

const ROUNDS = Number(process.env.ML_CRASH_HUNT_ROUNDS ?? 4);
const grow = (n: number) => `@${'replace('.repeat(n)}'xxxxxxxxxx'${",'x','xxxxxxxxxx')".repeat(n)}`;

let env: Stack;
beforeAll(async () => {
  env = await startStack({ worker: false, jobMs: 3000 });
  await writePipeline(env.configDir, 'Huge', {
    name: 'Huge',
    properties: {
      variables: { v: { type: 'String' } },
      activities: [{ name: 'SetHuge', type: 'SetVariable', typeProperties: { variableName: 'v', value: grow(6) } }],
    },
  });
});
afterAll(async () => env?.close());

test('when the built worker gets payloads over the limit, cancellations and retried network failures for many rounds, then it never dies', async () => {
  const worker = builtWorker(['--config', env.configDir, '--task-queue', env.taskQueue], {
    ...process.env,
    ...env.emu.env,
    ML_ARM_POLL_INTERVAL_MS: '100',
  });
  let exitedEarly: number | null | undefined;
  worker.child.once('exit', (code) => (exitedEarly = code));
  const counts = { huge: 0, cancelled: 0, faulted: 0, completed: 0, failed: 0 };
  try {
    await worker.waitFor(/worker ready/, 60_000);
    const client = env.t.client;
    for (let round = 0; round < ROUNDS; round++) {
      const runs: Promise<unknown>[] = [];
      // Over the payload limit: each must fail with PayloadTooLarge, not wedge or crash the worker.
      for (let i = 0; i < 3; i++) {
        const h = await client.workflow.start('runPipeline', {
          taskQueue: env.taskQueue,
          workflowId: uniqueId(`huge-${round}`),
          workflowIdConflictPolicy: WorkflowIdConflictPolicy.FAIL,
          args: [{ pipeline: 'Huge', parameters: {}, options: { searchAttributes: false } }],
        });
        counts.huge++;
        runs.push(h.result().catch((e: unknown) => e));
      }
      // Cancelled mid-training: the cleanup DELETEs the job.
      for (let i = 0; i < 3; i++) {
        const h = await startRetrain(client, env.input(), { taskQueue: env.taskQueue, workflowId: uniqueId('cancel') });
        counts.cancelled++;
        setTimeout(() => void h.cancel().catch(() => undefined), 700 + 300 * i);
        runs.push(h.result().catch((e: unknown) => e));
      }
      // Every request reset for a while: submits and polls retry network failures, then recover.
      env.emu.setFaults([{ routes: '*', kind: { type: 'reset' }, probability: 1 }]);
      for (let i = 0; i < 3; i++) {
        const h = await startRetrain(client, env.input(), {
          taskQueue: env.taskQueue,
          workflowId: uniqueId('faulted'),
        });
        counts.faulted++;
        runs.push(h.result().catch((e: unknown) => e));
      }
      await new Promise((r) => setTimeout(r, 5000));
      env.emu.setFaults([]);
      for (const r of await Promise.all(runs)) {
        if (r instanceof Error) counts.failed++;
        else counts.completed++;
      }
      expect(exitedEarly).toBeUndefined();
    }
  } finally {
    env.emu.setFaults([]);
    // Whether it died on its own, read before our SIGTERM makes it exit.
    const diedOnItsOwn = exitedEarly !== undefined;
    const code = diedOnItsOwn ? exitedEarly : await worker.stop('SIGTERM');
    const corrupted = worker.output().includes('async hook stack has become corrupted');
    writeSummary('worker-survives', { rounds: ROUNDS, ...counts, diedOnItsOwn, workerExit: code, corrupted });
    console.log(
      `[durability] worker-survives: ${ROUNDS} rounds, ${counts.huge} over-limit runs, ${counts.cancelled} cancelled, ` +
        `${counts.faulted} through 100 % resets; worker exit ${code}, corruption message: ${corrupted ? 'yes' : 'no'}`,
    );
    expect(corrupted).toBe(false);
    expect(diedOnItsOwn).toBe(false);
    expect(code).toBe(0);
  }
  expect(counts.failed).toBe(counts.huge + counts.cancelled);
  expect(counts.completed).toBe(counts.faulted);
}, 900_000);
