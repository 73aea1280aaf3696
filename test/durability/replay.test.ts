/**
 * Replay: the histories committed under test/fixtures/histories (recorded by `npm run histories:refresh`) must
 * replay against the current workflow code. A change that would break the runs in flight in production (a new
 * activity call, a reordered timer, a changed search-attribute upsert) fails here, without any server.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Worker } from '@temporalio/worker';
import { historyFromJson } from '../../scripts/history-json';
import { workflowBundle } from '../helpers/temporal';
import { writeSummary } from './harness';

const DIR = join(__dirname, '..', 'fixtures', 'histories');
const files = readdirSync(DIR)
  .filter((f) => f.endsWith('.json'))
  .sort();

type History = ReturnType<typeof historyFromJson>;

function load(file: string): History {
  return historyFromJson(JSON.parse(readFileSync(join(DIR, file), 'utf8')));
}

async function replay(histories: { workflowId: string; history: History }[]) {
  const failures: { workflowId: string; error: Error }[] = [];
  let replayed = 0;
  const bundle = await workflowBundle();
  for await (const r of Worker.runReplayHistories({ workflowBundle: bundle, replayName: 'replay-test' }, histories)) {
    replayed++;
    if (r.error) failures.push({ workflowId: r.workflowId, error: r.error });
  }
  return { replayed, failures };
}

describe('replay of committed histories', () => {
  test('when every committed history is replayed against the current workflows, then none breaks determinism', async () => {
    const types = files.map((f) => load(f).events?.[0]?.workflowExecutionStartedEventAttributes?.workflowType?.name);
    // Both workflows, more than one path each: a near-empty fixture set would prove nothing.
    expect(types.filter((t) => t === 'retrainAndUpdate').length).toBeGreaterThanOrEqual(3);
    expect(types.filter((t) => t === 'runPipeline').length).toBeGreaterThanOrEqual(1);
    const { replayed, failures } = await replay(files.map((f) => ({ workflowId: f, history: load(f) })));
    writeSummary('replay', { histories: replayed, failures: failures.length, files });
    expect(failures.map((f) => `${f.workflowId}: ${f.error.message}`)).toEqual([]);
    expect(replayed).toBe(files.length);
  });

  test('when a history disagrees with the code (an activity renamed), then replay fails with a determinism error', async () => {
    const file = files.find((f) => f.startsWith('retrainAndUpdate-succeeded'))!;
    const history = load(file);
    const scheduled = (history.events ?? []).find((e) => e.activityTaskScheduledEventAttributes)!;
    scheduled.activityTaskScheduledEventAttributes!.activityType!.name = 'submitTrainingJobV2';
    const { failures } = await replay([{ workflowId: `${file} (tampered)`, history }]);
    expect(failures).toHaveLength(1);
    expect(failures[0].error.name).toBe('DeterminismViolationError');
  });
});
