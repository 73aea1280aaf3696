/** ScheduleTrigger → Temporal ScheduleSpec (docs/spec/adf-pipeline-semantics.md §5.1), including Windows time zones. Pure: no server. */
import { mapScheduleTrigger } from '../../config/triggers';
import { windowsToIana } from '../../config/windows-zones';

const trigger = (recurrence: Record<string, unknown>, extra: Record<string, unknown> = {}) => ({
  name: 'Nightly',
  properties: {
    type: 'ScheduleTrigger',
    runtimeState: 'Started',
    typeProperties: { recurrence },
    pipelines: [
      {
        pipelineReference: { referenceName: 'RetrainAndUpdate', type: 'PipelineReference' },
        parameters: { runDate: '@trigger().scheduledTime' },
      },
    ],
    ...extra,
  },
});

describe('ScheduleTrigger mapping', () => {
  test('when the spec example (weekly, W. Europe) is mapped, then days, hour, minute, zone and window carry over', () => {
    const m = mapScheduleTrigger(
      'trigger/Nightly.json',
      trigger({
        frequency: 'Week',
        interval: 1,
        startTime: '2024-01-01T02:00:00',
        endTime: '2025-01-01T00:00:00',
        timeZone: 'W. Europe Standard Time',
        schedule: { hours: [2], minutes: [30], weekDays: ['Monday', 'thursday'] },
      }),
    );
    expect(m).toMatchObject({
      triggerName: 'Nightly',
      scheduleId: 'adf-trigger-Nightly',
      runtimeState: 'Started',
      pipelines: [{ pipelineName: 'RetrainAndUpdate', parameters: { runDate: '@trigger().scheduledTime' } }],
      warnings: [],
      unmapped: [],
    });
    expect(m.spec.timezone).toBe('Europe/Berlin');
    expect(m.spec.calendars).toEqual([
      { dayOfWeek: ['MONDAY', 'THURSDAY'], hour: [2], minute: [30], comment: 'ADF Nightly: weekly' },
    ]);
    // Local times without Z are wall-clock times in the zone: 02:00 CET = 01:00 UTC.
    expect(m.spec.startAt).toEqual(new Date('2024-01-01T01:00:00Z'));
    expect(m.spec.endAt).toEqual(new Date('2024-12-31T23:00:00Z'));
  });

  test('when the frequency is Hour every 4, then an interval keeps the grid anchored at startTime', () => {
    const m = mapScheduleTrigger(
      't.json',
      trigger({ frequency: 'Hour', interval: 4, startTime: '2024-01-01T01:15:00Z' }),
    );
    expect(m.spec.intervals).toEqual([
      { every: 4 * 3600_000, offset: Date.parse('2024-01-01T01:15:00Z') % (4 * 3600_000) },
    ]);
    expect(m.spec.calendars).toBeUndefined();
  });

  test('when the frequency is Minute every 15, then it is an interval of 15 minutes', () => {
    const m = mapScheduleTrigger(
      't.json',
      trigger({ frequency: 'Minute', interval: 15, startTime: '2024-01-01T00:05:00Z' }),
    );
    expect(m.spec.intervals?.[0]).toEqual({ every: 900_000, offset: 300_000 });
  });

  test('when the frequency is Day without a schedule, then hour and minute come from startTime', () => {
    const m = mapScheduleTrigger(
      't.json',
      trigger({ frequency: 'Day', interval: 1, startTime: '2024-01-01T03:45:00', timeZone: 'Pacific Standard Time' }),
    );
    expect(m.spec.calendars).toEqual([{ hour: [3], minute: [45], comment: 'ADF Nightly: daily' }]);
    expect(m.spec.timezone).toBe('America/Los_Angeles');
  });

  test('when the frequency is Day every 2 in a DST zone, then fixed intervals are used with a warning', () => {
    const m = mapScheduleTrigger(
      't.json',
      trigger({
        frequency: 'Day',
        interval: 2,
        startTime: '2024-01-01T02:00:00',
        timeZone: 'Eastern Standard Time',
        schedule: { hours: [2, 14] },
      }),
    );
    expect(m.spec.intervals).toHaveLength(2);
    expect(m.spec.intervals?.[0].every).toBe(2 * 86_400_000);
    expect(m.warnings.join()).toContain('DST');
  });

  test('when monthDays and monthlyOccurrences are given, then positive ones map and counted-from-end ones are reported', () => {
    const m = mapScheduleTrigger(
      't.json',
      trigger({
        frequency: 'Month',
        interval: 1,
        startTime: '2024-01-01T06:00:00Z',
        schedule: {
          monthDays: [1, 15, -1],
          monthlyOccurrences: [
            { day: 'Friday', occurrence: 2 },
            { day: 'Monday', occurrence: -1 },
          ],
        },
      }),
    );
    expect(m.spec.calendars).toEqual([
      { month: '*', dayOfMonth: [1, 15], hour: [6], minute: [0], comment: 'ADF Nightly: monthDays' },
      {
        month: '*',
        dayOfWeek: 'FRIDAY',
        dayOfMonth: { start: 8, end: 14 },
        hour: [6],
        minute: [0],
        comment: 'ADF Nightly: FRIDAY #2',
      },
    ]);
    expect(m.unmapped).toHaveLength(2);
    expect(m.unmapped.join()).toContain('-1');
  });

  test('when the frequency is Month every 3, then months step by 3 from the start month', () => {
    const m = mapScheduleTrigger(
      't.json',
      trigger({ frequency: 'Month', interval: 3, startTime: '2024-02-10T00:00:00Z' }),
    );
    expect(m.spec.calendars?.[0]).toMatchObject({
      month: { start: 'FEBRUARY', end: 'DECEMBER', step: 3 },
      dayOfMonth: 10,
    });
  });

  test('when runtimeState is absent, then the schedule is stopped (ADF creates triggers stopped)', () => {
    const t = trigger({ frequency: 'Day', interval: 1, startTime: '2024-01-01T00:00:00Z' });
    delete (t.properties as Record<string, unknown>).runtimeState;
    expect(mapScheduleTrigger('t.json', t).runtimeState).toBe('Stopped');
  });

  test.each([
    [
      { frequency: 'Day', interval: 1, startTime: '2024-01-01T00:00:00', timeZone: 'Atlantis Time' },
      '$.properties.typeProperties.recurrence.timeZone',
    ],
    [
      { frequency: 'Year', interval: 1, startTime: '2024-01-01T00:00:00Z' },
      '$.properties.typeProperties.recurrence.frequency',
    ],
    [
      { frequency: 'Day', interval: 0, startTime: '2024-01-01T00:00:00Z' },
      '$.properties.typeProperties.recurrence.interval',
    ],
    [{ frequency: 'Day', interval: 1, startTime: 'tomorrow' }, '$.properties.typeProperties.recurrence.startTime'],
    [
      { frequency: 'Week', interval: 1, startTime: '2024-01-01T00:00:00Z', schedule: { weekDays: ['Funday'] } },
      '$.properties.typeProperties.recurrence.schedule.weekDays[0]',
    ],
    [
      { frequency: 'Day', interval: 1, startTime: '2024-01-01T00:00:00Z', schedule: { minutes: [60] } },
      '$.properties.typeProperties.recurrence.schedule.minutes[0]',
    ],
  ])('when the recurrence is %j, then the error names the file and %s', (rec, path) => {
    expect(() => mapScheduleTrigger('trigger/Bad.json', trigger(rec))).toThrow(`trigger/Bad.json: ${path}`);
  });

  test('Windows zone ids map to IANA names, case-insensitively; unknown ones do not', () => {
    expect(windowsToIana('Pacific Standard Time')).toBe('America/Los_Angeles');
    expect(windowsToIana('india standard time')).toBe('Asia/Calcutta');
    expect(windowsToIana('UTC')).toBe('Etc/UTC');
    expect(windowsToIana('Tokyo Standard Time')).toBe('Asia/Tokyo');
    expect(windowsToIana('Nowhere Standard Time')).toBeUndefined();
  });
});
