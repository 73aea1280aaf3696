import { besUrls, parseJobId, parseStatusCode } from '../../activities/bes';
import type { ApplicationFailure } from '@temporalio/common';
import { failureFromError, retryAfterMs } from '../../activities/http';
import { FailureType } from '../../common/failures';
import { splitPath } from '../../activities/storage';
import { parseAdfTimespan } from '../../common/duration';
import { redact, Secret } from '../../config/secret';
import { inspect } from 'node:util';

describe('BES URL handling', () => {
  test.each([
    ['https://h/workspaces/w/services/s/jobs', 'https://h/workspaces/w/services/s/jobs?api-version=2.0'],
    ['https://h/workspaces/w/services/s/jobs/', 'https://h/workspaces/w/services/s/jobs?api-version=2.0'],
    [
      'https://h/workspaces/w/services/s/jobs?api-version=2.0',
      'https://h/workspaces/w/services/s/jobs?api-version=2.0',
    ],
    ['https://h/subscriptions/abc/services/s/jobs', 'https://h/subscriptions/abc/services/s/jobs?api-version=2.0'],
    ['https://h/workspaces/w/services/s', 'https://h/workspaces/w/services/s/jobs?api-version=2.0'],
    [
      'https://h/workspaces/w/services/s/execute?api-version=2.0',
      'https://h/workspaces/w/services/s/jobs?api-version=2.0',
    ],
  ])('when mlEndpoint is %s, then the jobs URL is %s', (ml, jobs) => {
    const u = besUrls(ml);
    expect(u.jobs).toBe(jobs);
    expect(u.start('abc')).toBe(jobs.replace('/jobs?', '/jobs/abc/start?'));
    expect(u.job('abc')).toBe(jobs.replace('/jobs?', '/jobs/abc?'));
  });

  test.each([
    ['NotStarted', 'NotStarted'],
    ['Not Started', 'NotStarted'],
    [0, 'NotStarted'],
    [1, 'Running'],
    ['2', 'Failed'],
    ['Canceled', 'Cancelled'],
    [3, 'Cancelled'],
    ['finished', 'Finished'],
    [4, 'Finished'],
  ])('when StatusCode is %p, then the status is %s', (raw, status) => {
    expect(parseStatusCode(raw)).toBe(status);
  });

  test('when StatusCode is unknown, then it is not guessed', () => {
    expect(parseStatusCode('Exploded')).toBeUndefined();
    expect(parseStatusCode(9)).toBeUndefined();
  });

  test('when the job id comes as a JSON string or bare, then both parse', () => {
    expect(parseJobId('"539d0bc2fde945b6ac986b851d0000f0"')).toBe('539d0bc2fde945b6ac986b851d0000f0');
    expect(parseJobId('539d0bc2fde945b6ac986b851d0000f0\n')).toBe('539d0bc2fde945b6ac986b851d0000f0');
    expect(parseJobId('<html>')).toBeUndefined();
  });
});

describe('small parsers', () => {
  test('when Retry-After is seconds or a date, then it becomes milliseconds', () => {
    expect(retryAfterMs('3')).toBe(3000);
    expect(retryAfterMs(new Date(10_000).toUTCString(), 4_000)).toBe(6000);
    expect(retryAfterMs(undefined)).toBeUndefined();
    expect(retryAfterMs('soon')).toBeUndefined();
  });

  test.each([
    ['0.12:00:00', 12 * 3600_000],
    ['7.00:00:00', 7 * 86400_000],
    ['02:00:00', 2 * 3600_000],
    ['00:10:30', 630_000],
  ])('when an ADF timespan is %s, then it is %d ms', (v, ms) => {
    expect(parseAdfTimespan(v)).toBe(ms);
  });

  test('when a timespan is malformed, then it is refused', () => {
    expect(parseAdfTimespan('12h')).toBeUndefined();
    expect(parseAdfTimespan('1:2')).toBeUndefined();
  });

  test('when a file path has a container and blob, then they split at the first slash', () => {
    expect(splitPath('/models/2024/m.ilearner')).toEqual({ container: 'models', blobName: '2024/m.ilearner' });
    expect(splitPath('models')).toEqual({ container: 'models', blobName: '' });
  });
});

describe('secrets', () => {
  test('when a Secret is printed, logged or serialized, then its value does not appear', () => {
    const s = new Secret('hunter2-very-secret');
    expect(String(s)).toBe('***');
    expect(JSON.stringify({ s })).toBe('{"s":"***"}');
    expect(inspect({ s })).not.toContain('hunter2');
    expect(`${String(s)}`).not.toContain('hunter2');
    expect(s.reveal()).toBe('hunter2-very-secret');
  });

  test('when text holds secrets, SAS signatures or bearer tokens, then redact masks them', () => {
    const out = redact('key=abcd1234efgh url=https://a/b?sv=1&sig=XYZ%2F&se=2 Authorization: Bearer eyJ.abc', [
      'abcd1234efgh',
    ]);
    expect(out).toBe('key=*** url=https://a/b?sv=1&sig=***&se=2 Authorization: Bearer ***');
  });
});

describe('token failures', () => {
  const ctx = { operation: 'ARM web service update', linkedServiceName: 'scoring', authField: 'x', urlField: 'y' };
  // The shapes @azure/identity 4.x throws: MSAL's errors become AuthenticationRequiredError, message-only.
  const required = (message: string) => Object.assign(new Error(message), { name: 'AuthenticationRequiredError' });

  test.each([
    [
      'invalid_client: Error(s): 7000215 - Description: AADSTS7000215: Invalid client secret provided.',
      'AADSTS7000215',
    ],
    ['invalid_request: AADSTS90002: Tenant not found.', 'AADSTS90002'],
    ['unauthorized_client: AADSTS700016: Application not found in the directory.', 'AADSTS700016'],
  ])('when Entra refuses the credential (%s), then the failure is final and names the fields', (message, code) => {
    const f = failureFromError(required(message), ctx) as ApplicationFailure;
    expect(f).toMatchObject({ type: FailureType.AuthenticationFailed, nonRetryable: true });
    expect(f.message).toContain(code);
    expect(f.message).toContain("linked service 'scoring'");
    expect(f.message).toContain("'servicePrincipalKey'");
  });

  test.each([
    'temporarily_unavailable: AADSTS50196: The server temporarily throttled the request.',
    'invalid_request: AADSTS90033: A transient error has occurred.',
    'network_error: Network request failed',
  ])('when the token request fails transiently (%s), then the failure is retried', (message) => {
    const f = failureFromError(required(message), ctx) as ApplicationFailure;
    expect(f.nonRetryable).toBe(false);
    expect(f.type).not.toBe(FailureType.AuthenticationFailed);
  });

  test('when identity reports a 429 with an OAuth refusal code, then the status wins and it is retried', () => {
    const err = Object.assign(new Error('throttled'), {
      name: 'AuthenticationError',
      statusCode: 429,
      errorResponse: { error: 'invalid_client' },
    });
    expect(failureFromError(err, ctx)).toMatchObject({ type: FailureType.Throttled, nonRetryable: false });
  });
});
