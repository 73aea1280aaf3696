/**
 * Storage failures carry their real cause (issue 11, point 6): a 403 that the path explains says so, any other 403
 * points at the credentials, and a failure without a message from the client library still says what happened.
 */
import { RestError } from '@azure/core-rest-pipeline';
import { blobError, createStorageAccess, pathSignatureHazard } from '../../activities/storage';
import { Secret } from '../../config/secret';

const refused = () =>
  new RestError('Server failed to authenticate the request.', { statusCode: 403, code: 'AuthenticationFailed' });

describe('storage failure messages', () => {
  test('when storage refuses a path whose characters break the signature, then the failure says the path is the cause', () => {
    const e = blobError(refused(), 'Storage', 'models/a%2Fb.ilearner') as Error & { type: string };
    expect(e.type).toBe('AzureMLForbidden');
    expect(e.message).toContain("the path contains a percent-encoded sequence ('%xx')");
    expect(e.message).toContain('the credentials themselves may be fine');
    expect(pathSignatureHazard('models/m.ilearner')).toBeUndefined();
    expect(pathSignatureHazard('models/m.ilearner.')).toBe('a trailing dot or space');
  });

  test('when storage refuses an ordinary path, then the failure points at the credentials', () => {
    const e = blobError(refused(), 'Storage', 'models/m.ilearner');
    expect(e.message).toBe(
      "storage linked service 'Storage' was refused reading 'models/m.ilearner' (403 AuthenticationFailed): check its connectionString / sasUri",
    );
  });

  test('when the client library gives no message, then the failure still names a reason', () => {
    const e = blobError(Object.assign(new Error(''), { code: 'ECONNRESET' }), 'Storage', 'models/m.ilearner');
    expect(e.message).toBe("reading 'models/m.ilearner' through storage linked service 'Storage' failed: ECONNRESET");
  });

  test('when a computed path names a host or leaves the container, then it is a final ConfigError before any request', () => {
    const access = createStorageAccess({
      kind: 'Storage',
      type: 'AzureBlobStorage',
      name: 'Storage',
      file: 'x',
      connectionString: new Secret('DefaultEndpointsProtocol=https;AccountName=acct;AccountKey=a2V5'),
    });
    for (const [path, reason] of [
      ['https://evil.example/c/m.ilearner', 'is a URL or has a scheme'],
      ['//evil.example/c/m.ilearner', 'starts with // (a host)'],
      ['c/../d/m.ilearner', "contains a '.' or '..' segment"],
    ]) {
      expect(() => access.location(path)).toThrow(
        expect.objectContaining({ type: 'ConfigError', nonRetryable: true, message: expect.stringContaining(reason) }),
      );
    }
  });
});
