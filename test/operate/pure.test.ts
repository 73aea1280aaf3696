/** The operations code that needs no server: masking, the metrics address, list queries, spec and table text. */
import { readFileSync } from 'node:fs';
import { redact, MASK } from '../../client/redact';
import { buildListQuery, parseSince } from '../../client/commands/list';
import { formatDuration, renderTable } from '../../client/commands/common';
import { describeSpec } from '../../client/schedules';
import { metricsAddress } from '../../worker/metrics';
import { documents, readmeBlock, readmeCommands } from './readme';

describe('redact', () => {
  test('when values carry credentials, then keys, SAS signatures, account keys and bearer tokens are masked', () => {
    const out = redact({
      apiKey: 'k3y-value-123456',
      servicePrincipalKey: { type: 'SecureString', value: 'hunter2hunter2' },
      nested: [
        { SasBlobToken: '?sv=2020&sig=abc', connectionString: 'DefaultEndpointsProtocol=https;AccountKey=xyz==' },
      ],
      url: 'https://acct.blob.core.windows.net/c/model.ilearner?sv=2020-08-04&se=2030&sig=AbC%2B',
      note: 'DefaultEndpointsProtocol=https;AccountName=a;AccountKey=c2VjcmV0;EndpointSuffix=core.windows.net',
      header: 'Authorization: Bearer eyJhbGciOiJSUzI1NiJ9.payload.sig',
      jobId: '86da71e06f3945a9b770d83181f2ed68',
      alreadyApplied: false,
    });
    expect(out).toEqual({
      apiKey: MASK,
      servicePrincipalKey: MASK,
      nested: [{ SasBlobToken: MASK, connectionString: MASK }],
      url: `https://acct.blob.core.windows.net/c/model.ilearner?${MASK}`,
      note: `DefaultEndpointsProtocol=https;AccountName=a;AccountKey=${MASK};EndpointSuffix=core.windows.net`,
      header: `Authorization: Bearer ${MASK}`,
      jobId: '86da71e06f3945a9b770d83181f2ed68',
      alreadyApplied: false,
    });
  });
});

describe('metricsAddress (ML_METRICS_ADDRESS)', () => {
  test('when unset, then there is no endpoint; when host:port, then that', () => {
    expect(metricsAddress({})).toBeUndefined();
    expect(metricsAddress({ ML_METRICS_ADDRESS: ' ' })).toBeUndefined();
    expect(metricsAddress({ ML_METRICS_ADDRESS: '127.0.0.1:9464' })).toBe('127.0.0.1:9464');
    expect(metricsAddress({ ML_METRICS_ADDRESS: '0.0.0.0:9464' })).toBe('0.0.0.0:9464');
    expect(metricsAddress({ ML_METRICS_ADDRESS: '[::1]:9464' })).toBe('[::1]:9464');
  });

  test('when malformed, then start-up fails with a message naming the variable', () => {
    for (const bad of ['9464', 'localhost', 'http://127.0.0.1:9464', '127.0.0.1:99999']) {
      expect(() => metricsAddress({ ML_METRICS_ADDRESS: bad })).toThrow(/^ML_METRICS_ADDRESS must be host:port/);
    }
  });
});

describe('retrain list query', () => {
  test('when filters are given, then they become one visibility query on the product attributes', () => {
    expect(
      buildListQuery({
        pipeline: 'Retrain "A"',
        status: 'failed',
        since: new Date('2024-01-01T00:00:00Z'),
        query: 'Phase = "Training"',
      }),
    ).toBe(
      'WorkflowType IN ("retrainAndUpdate", "runPipeline") AND Pipeline = "Retrain \\"A\\"" AND ' +
        'ExecutionStatus = "Failed" AND StartTime >= "2024-01-01T00:00:00.000Z" AND (Phase = "Training")',
    );
    expect(buildListQuery({ status: 'cancelled' })).toContain('ExecutionStatus = "Canceled"');
    expect(parseSince('24h', Date.parse('2024-01-02T00:00:00Z')).toISOString()).toBe('2024-01-01T00:00:00.000Z');
    expect(() => parseSince('yesterday')).toThrow(/'30m', '24h' or '7d'/);
  });
});

describe('text output', () => {
  test('when a schedule spec is described, then unrestricted calendar fields are left out', () => {
    expect(
      describeSpec({
        calendars: [
          {
            second: [{ start: 0, end: 0, step: 1 }],
            minute: [{ start: 30, end: 30, step: 1 }],
            hour: [{ start: 2, end: 2, step: 1 }],
            dayOfMonth: [{ start: 1, end: 31, step: 1 }],
            month: [{ start: 'JANUARY', end: 'DECEMBER', step: 1 }],
            dayOfWeek: [
              { start: 'MONDAY', end: 'MONDAY', step: 1 },
              { start: 'THURSDAY', end: 'THURSDAY', step: 1 },
            ],
          },
        ],
        intervals: [{ every: 86_400_000, offset: 7_200_000 }],
        timezone: 'Europe/Berlin',
      }),
    ).toBe('every 1d (offset 2h); calendar dayOfWeek=MONDAY,THURSDAY hour=2 minute=30; tz Europe/Berlin');
  });

  test('when a table and durations are rendered, then columns align and durations stay short', () => {
    expect(
      renderTable(
        ['A', 'LONGER'],
        [
          ['xyz', '1'],
          ['', '22'],
        ],
      ),
    ).toEqual(['A    LONGER', '---  ------', 'xyz  1', '     22']);
    expect([850, 12_400, 185_000, 7_380_000].map(formatDuration)).toEqual(['850ms', '12s', '3m 05s', '2h 03m']);
  });

  test("when the docs' command blocks are read, then every line is a temporal command", () => {
    for (const block of ['namespace-setup', 'temporal-workflow', 'temporal-schedule']) {
      const commands = readmeCommands(block);
      expect(commands.length).toBeGreaterThan(3);
      for (const c of commands) expect(c).toMatch(/^temporal (operator|workflow|schedule) /);
    }
  });

  test('when the docs are searched for marked blocks, then each block a test runs is there once, and no other', () => {
    const markers = documents().flatMap((f) =>
      [...readFileSync(f, 'utf8').matchAll(/<!-- ops:([\w-]+) -->/g)].map((m) => m[1]),
    );
    expect(markers.sort()).toEqual([
      'envconfig-profile',
      'namespace-setup',
      'temporal-approve',
      'temporal-schedule',
      'temporal-workflow',
    ]);
    for (const name of markers) expect(readmeBlock(name).trim()).not.toBe('');
  });
});
