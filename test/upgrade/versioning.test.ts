/** The worker's versioning settings and build ids, without a server (the e2e test covers the routing). */
import {
  defaultBuildId,
  deploymentVersion,
  loadVersioningSettings,
  VersioningSettingsError,
} from '../../worker/versioning';

describe('worker versioning settings', () => {
  test('when nothing is set, then versioning is on, the deployment is the task queue and the build comes from the code', () => {
    const s = loadVersioningSettings({});
    expect(s).toEqual({ enabled: true, deploymentName: undefined, buildId: undefined, setCurrent: 'if-none' });
    const v = deploymentVersion(s, 'ml-retrain', 'code A');
    expect(v.deploymentName).toBe('ml-retrain');
    expect(v.buildId).toMatch(/^\d+\.\d+\.\d+\+[0-9a-f]{12}$/);
  });

  test('when two bundles differ by one byte, then their build ids differ; the same bundle gets the same id', () => {
    expect(defaultBuildId('code A')).not.toBe(defaultBuildId('code B'));
    expect(defaultBuildId('code A')).toBe(defaultBuildId('code A'));
  });

  test('when the environment names the deployment and build, then those are used', () => {
    const s = loadVersioningSettings({
      ML_WORKER_DEPLOYMENT: 'retrain-prod',
      ML_WORKER_BUILD_ID: 'git-1a2b3c',
      ML_WORKER_SET_CURRENT: 'never',
    });
    expect(deploymentVersion(s, 'ml-retrain', 'code')).toEqual({
      deploymentName: 'retrain-prod',
      buildId: 'git-1a2b3c',
    });
    expect(s.setCurrent).toBe('never');
  });

  test('when ML_WORKER_VERSIONING is off or on in any usual spelling, then it is parsed, and nonsense is refused', () => {
    expect(loadVersioningSettings({ ML_WORKER_VERSIONING: 'off' }).enabled).toBe(false);
    expect(loadVersioningSettings({ ML_WORKER_VERSIONING: 'false' }).enabled).toBe(false);
    expect(loadVersioningSettings({ ML_WORKER_VERSIONING: 'TRUE' }).enabled).toBe(true);
    expect(() => loadVersioningSettings({ ML_WORKER_VERSIONING: 'maybe' })).toThrow(VersioningSettingsError);
  });

  test('when a setting would make an ambiguous or reserved version, then the worker refuses to start', () => {
    expect(() => loadVersioningSettings({ ML_WORKER_DEPLOYMENT: 'a.b' })).toThrow(/must not contain '\.'/);
    expect(() => loadVersioningSettings({ ML_WORKER_BUILD_ID: '__unversioned__' })).toThrow(/must not start/);
    expect(() => loadVersioningSettings({ ML_WORKER_SET_CURRENT: 'always' })).toThrow(/if-none or never/);
  });
});
