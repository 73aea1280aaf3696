/**
 * Bad input, the durability side (the messages themselves are test/adf/validate.test.ts's): every malformed folder
 * under test/fixtures/bad is refused without a crash and before any remote call. The network is cut for this file:
 * every socket connect is recorded and refused, so a validator that tried to reach Key Vault, Entra or a service
 * would show up here.
 */
import net from 'node:net';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { validateFolder } from '../../config/factory';
import { checkPipeline, PipelineCheckError } from '../../client/pipeline-run';
import { writeSummary } from './harness';

const badDir = join(__dirname, '..', 'fixtures', 'bad');
const cases = readdirSync(badDir).sort();

const attempts: string[] = [];
const connect = net.Socket.prototype.connect;
const tally = { refused: 0, pipelinesRefused: 0, crashes: 0 };

beforeAll(() => {
  net.Socket.prototype.connect = function (this: net.Socket, ...args: unknown[]) {
    attempts.push(JSON.stringify(args[0]));
    process.nextTick(() => this.destroy(new Error('network cut by bad-input-offline.test.ts')));
    return this;
  };
});

afterAll(() => {
  net.Socket.prototype.connect = connect;
  writeSummary('bad-input-offline', {
    cases: cases.length,
    refused: tally.refused,
    pipelinesRefusedBeforeStart: tally.pipelinesRefused,
    crashes: tally.crashes,
    remoteCalls: attempts.length,
  });
});

describe('bad input, offline', () => {
  test.each(cases)('%s: refused with an error, no crash, no remote call', async (name) => {
    const dir = join(badDir, name);
    const before = attempts.length;
    const expected = JSON.parse(readFileSync(join(dir, 'expect.json'), 'utf8')) as { errors: { file: string }[] };
    let errors: unknown[];
    try {
      errors = (await validateFolder(dir)).diagnostics.filter((d) => d.severity === 'error');
    } catch (e) {
      tally.crashes++;
      throw e;
    }
    expect(errors.length).toBeGreaterThanOrEqual(1);
    tally.refused++;
    // What `retrain run --pipeline` checks before it starts anything: a pipeline whose own file or linked services
    // are in error is refused there.
    const pipelines = existsSync(join(dir, 'pipeline'))
      ? readdirSync(join(dir, 'pipeline')).filter((f) => f.endsWith('.json'))
      : [];
    if (pipelines.length && expected.errors.some((e) => /^(pipeline|linkedService)\//.test(e.file))) {
      const outcomes = await Promise.all(
        pipelines.map((f) =>
          checkPipeline(dir, f.replace(/\.json$/, ''), () => undefined).then(
            () => 'accepted',
            (e: unknown) => (e instanceof PipelineCheckError ? 'refused' : `crashed: ${String(e)}`),
          ),
        ),
      );
      expect(outcomes.filter((o) => o.startsWith('crashed'))).toEqual([]);
      expect(outcomes).toContain('refused');
      tally.pipelinesRefused++;
    }
    expect(attempts.slice(before)).toEqual([]);
  });

  test('when a connection is attempted, then the guard records it (it can fail)', async () => {
    const before = attempts.length;
    await new Promise<void>((resolve) => {
      const s = net.connect({ host: '127.0.0.1', port: 9 });
      s.on('error', () => resolve());
      s.on('close', () => resolve());
    });
    expect(attempts.length).toBe(before + 1);
    attempts.splice(before, 1);
  });
});
