/**
 * Replay: the histories committed under test/fixtures/histories/<version>/ (recorded by `npm run histories:refresh`
 * with that release) must all replay against the current workflow code: runs a released version started may still be
 * in flight in production. A change that would break them (a new activity call, a reordered timer, a changed
 * search-attribute upsert) fails here, without any server.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Worker } from '@temporalio/worker';
import { historyFromJson } from '../../scripts/history-json';
import { workflowBundle } from '../helpers/temporal';
import { writeSummary } from './harness';

const DIR = join(__dirname, '..', 'fixtures', 'histories');
const versions = readdirSync(DIR, { withFileTypes: true })
  .filter((d) => d.isDirectory() && /^v\d+\.\d+\.\d+$/.test(d.name))
  .map((d) => d.name)
  .sort();
/** `v0.2.0/retrainAndUpdate-succeeded.json`, every released version's. */
const files = versions.flatMap((v) =>
  readdirSync(join(DIR, v))
    .filter((f) => f.endsWith('.json'))
    .sort()
    .map((f) => `${v}/${f}`),
);
const current = `v${(JSON.parse(readFileSync(join(__dirname, '..', '..', 'package.json'), 'utf8')) as { version: string }).version}`;
const typeOf = (f: string) => load(f).events?.[0]?.workflowExecutionStartedEventAttributes?.workflowType?.name;

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
    // This release's histories are recorded (a workflow change comes with a version bump and a refresh), and each
    // release covers both run workflows, more than one path each: a near-empty fixture set would prove nothing.
    expect(versions).toContain(current);
    for (const v of versions) {
      const types = files.filter((f) => f.startsWith(`${v}/`)).map(typeOf);
      const count = (t: string) => types.filter((x) => x === t).length;
      // [version, enough] so that a failure names the version.
      expect([v, count('retrainAndUpdate') >= 3, count('runPipeline') >= 1]).toEqual([v, true, true]);
    }
    // Since v0.2.0 the scoring services' own workflows are in flight too (they live as long as the service).
    const currentTypes = files.filter((f) => f.startsWith(`${current}/`)).map(typeOf);
    expect(currentTypes.filter((t) => t === 'scoringService').length).toBeGreaterThanOrEqual(2);
    const { replayed, failures } = await replay(files.map((f) => ({ workflowId: f, history: load(f) })));
    writeSummary('replay', { histories: replayed, failures: failures.length, files });
    expect(failures.map((f) => `${f.workflowId}: ${f.error.message}`)).toEqual([]);
    expect(replayed).toBe(files.length);
  });

  test('when a history disagrees with the code (an activity renamed), then replay fails with a determinism error', async () => {
    const file = files.find((f) => f.endsWith('/retrainAndUpdate-succeeded.json'))!;
    const history = load(file);
    const scheduled = (history.events ?? []).find((e) => e.activityTaskScheduledEventAttributes)!;
    scheduled.activityTaskScheduledEventAttributes!.activityType!.name = 'submitTrainingJobV2';
    const { failures } = await replay([{ workflowId: `${file} (tampered)`, history }]);
    expect(failures).toHaveLength(1);
    expect(failures[0].error.name).toBe('DeterminismViolationError');
  });
});
