import { createHash } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import type { VersioningBehavior, WorkerDeploymentVersion } from '@temporalio/common';
import type { NativeConnection } from '@temporalio/worker';

/**
 * Worker Versioning (Worker Deployments): every worker says which deployment and build it is, so the server can
 * route each workflow's tasks to the build an operator made current, and roll back by making the old one current
 * again. docs/upgrading.md is the operator's side of this file.
 */

/** Whether a worker makes its own build the deployment's current version, and when. */
export type SetCurrentPolicy = 'if-none' | 'never';

export interface VersioningSettings {
  /** ML_WORKER_VERSIONING (on|off), default on. Off: an unversioned worker, as before 0.3. */
  enabled: boolean;
  /** ML_WORKER_DEPLOYMENT; default the task queue, so each queue is its own deployment. */
  deploymentName?: string;
  /** ML_WORKER_BUILD_ID; default `<package version>+<hash of the workflow bundle>` (defaultBuildId). */
  buildId?: string;
  /**
   * ML_WORKER_SET_CURRENT. `if-none` (default): when the deployment has no current version yet (the first deploy,
   * dev, tests), this build claims it, conditionally, so it never replaces another build. `never`: only an
   * operator sets the current version. A build that is not current receives no tasks.
   */
  setCurrent: SetCurrentPolicy;
}

/**
 * AUTO_UPGRADE for every workflow: the next workflow task of a running workflow goes to the new current build.
 * The scoring-service workflow never ends (it continues-as-new), so PINNED would keep it on the first build
 * forever; a 12-hour retrain pinned to the old build would keep that build's workers alive as long and get no fix.
 * What keeps an upgraded run correct is `patched()` around changed logic and the replay of every released
 * version's histories in CI (docs/upgrading.md).
 */
export const DEFAULT_VERSIONING_BEHAVIOR: VersioningBehavior = 'AUTO_UPGRADE';

export class VersioningSettingsError extends Error {
  override name = 'VersioningSettingsError';
}

function onOff(env: NodeJS.ProcessEnv, name: string, fallback: boolean): boolean {
  const raw = env[name]?.trim().toLowerCase();
  if (raw === undefined || raw === '') return fallback;
  if (['on', 'true', '1', 'yes'].includes(raw)) return true;
  if (['off', 'false', '0', 'no'].includes(raw)) return false;
  throw new VersioningSettingsError(`${name} must be on or off, got '${env[name]}'`);
}

/** Build ids and deployment names end up in version strings `<deployment>.<build>` and CLI arguments. */
function checkName(name: string, value: string | undefined): string | undefined {
  if (value === undefined || value === '') return undefined;
  if (value.startsWith('__') || /\s/.test(value) || value.length > 255) {
    throw new VersioningSettingsError(`${name} '${value}' must not start with '__', hold spaces or exceed 255 chars`);
  }
  return value;
}

export function loadVersioningSettings(env: NodeJS.ProcessEnv = process.env): VersioningSettings {
  const setCurrent = env.ML_WORKER_SET_CURRENT?.trim() || 'if-none';
  if (setCurrent !== 'if-none' && setCurrent !== 'never') {
    throw new VersioningSettingsError(`ML_WORKER_SET_CURRENT must be if-none or never, got '${setCurrent}'`);
  }
  const deploymentName = checkName('ML_WORKER_DEPLOYMENT', env.ML_WORKER_DEPLOYMENT?.trim());
  if (deploymentName?.includes('.')) {
    // The server writes versions as `<deployment>.<build>`: a dot in the deployment name makes that ambiguous.
    throw new VersioningSettingsError(`ML_WORKER_DEPLOYMENT '${deploymentName}' must not contain '.'`);
  }
  return {
    enabled: onOff(env, 'ML_WORKER_VERSIONING', true),
    deploymentName,
    buildId: checkName('ML_WORKER_BUILD_ID', env.ML_WORKER_BUILD_ID?.trim()),
    setCurrent,
  };
}

function packageVersion(): string {
  // worker/ in source, dist/worker/ when built: the first package.json above is the project's.
  for (let dir = __dirname; dir !== dirname(dir); dir = dirname(dir)) {
    const file = join(dir, 'package.json');
    if (existsSync(file)) return (JSON.parse(readFileSync(file, 'utf8')) as { version?: string }).version ?? '0';
  }
  return '0';
}

/** Two different workflow codes never share a build id: the bundle's hash is part of it. */
export function defaultBuildId(workflowBundleCode: string): string {
  const hash = createHash('sha256').update(workflowBundleCode).digest('hex').slice(0, 12);
  return `${packageVersion()}+${hash}`;
}

/** The deployment version a worker on `taskQueue` runs as, from settings and the bundle it loads. */
export function deploymentVersion(
  settings: Pick<VersioningSettings, 'deploymentName' | 'buildId'>,
  taskQueue: string,
  workflowBundleCode: string,
): WorkerDeploymentVersion {
  return {
    deploymentName: settings.deploymentName ?? taskQueue.replace(/\./g, '-'),
    buildId: settings.buildId ?? defaultBuildId(workflowBundleCode),
  };
}

const CLAIM_TIMEOUT_MS = 10 * 60_000;
const NOT_FOUND = 5;
const FAILED_PRECONDITION = 9;
const ABORTED = 10;

const pause = (ms: number) => new Promise<void>((r) => setTimeout(r, ms).unref());

/** The build id of a deployment's current version, or undefined when there is none (unversioned). */
function currentBuildId(routing: {
  currentDeploymentVersion?: { buildId?: string | null } | null;
  currentVersion?: string | null;
}): string | undefined {
  if (routing.currentDeploymentVersion?.buildId) return routing.currentDeploymentVersion.buildId;
  const v = routing.currentVersion;
  if (!v || v === '__unversioned__') return undefined;
  return v.slice(v.indexOf('.') + 1);
}

/**
 * Make `version` current when its deployment has none, and only then. The server only knows a version once its
 * worker has polled, so this waits for that while `running()` holds. The change is conditional on the routing
 * this worker read (conflict token): when two builds race for an empty deployment, one wins and the other is
 * told, and a build some operator made current is never replaced.
 */
export async function claimCurrentIfNone(o: {
  connection: NativeConnection;
  namespace: string;
  version: WorkerDeploymentVersion;
  identity: string;
  running: () => boolean;
  log: (line: string) => void;
}): Promise<'claimed' | 'already current' | 'other current' | 'stopped'> {
  const { deploymentName, buildId } = o.version;
  const service = o.connection.workflowService;
  // A worker that has not polled in this long has a problem of its own; the loop only stops adding to it.
  const deadline = Date.now() + CLAIM_TIMEOUT_MS;
  for (let wait = 100; o.running() && Date.now() < deadline; wait = Math.min(wait * 2, 2000)) {
    try {
      const described = await service.describeWorkerDeployment({ namespace: o.namespace, deploymentName });
      const info = described.workerDeploymentInfo;
      const current = currentBuildId(info?.routingConfig ?? {});
      if (current === buildId) return 'already current';
      if (current !== undefined) {
        o.log(
          `build ${buildId} is not current in deployment ${deploymentName} (build ${current} is); it gets tasks once ` +
            `an operator runs: temporal worker deployment set-current-version --deployment-name ${deploymentName} ` +
            `--build-id ${buildId}`,
        );
        return 'other current';
      }
      if (info?.versionSummaries?.some((v) => v.deploymentVersion?.buildId === buildId)) {
        await service.setWorkerDeploymentCurrentVersion({
          namespace: o.namespace,
          deploymentName,
          buildId,
          conflictToken: described.conflictToken,
          identity: o.identity,
        });
        o.log(`build ${buildId} is now current in deployment ${deploymentName} (it had no current version)`);
        return 'claimed';
      }
    } catch (e) {
      // Not found: this worker has not polled yet. A conflict: the routing changed since we read it; read again.
      const code = (e as { code?: number }).code;
      if (code !== NOT_FOUND && code !== FAILED_PRECONDITION && code !== ABORTED && o.running()) {
        o.log(`could not check deployment ${deploymentName}: ${e instanceof Error ? e.message : String(e)}`);
      }
    }
    await pause(wait);
  }
  if (o.running()) o.log(`gave up making build ${buildId} current in deployment ${deploymentName}: not registered`);
  return 'stopped';
}
