import type { BlobTarget } from '../blobs';
import { accountFromConnectionString } from '../azurite';
import { modelIdentity, readBlob, resolveBlobUrl } from '../blobs';
import type { EmulatorContext } from '../context';
import { knownAccounts } from '../context';
import { isRecord, maskText } from '../http';
import { scheduleActivation } from '../models';
import type { ArmOperation, ArmWebService } from '../state';

/** The asset that holds the trained model: the configured name, else any Resource named "... [trained model]". */
export function trainedModelAsset(
  props: Record<string, unknown>,
  preferredName: string,
): { key: string; asset: Record<string, unknown> } | null {
  const assets = isRecord(props.assets) ? props.assets : {};
  const resources = Object.entries(assets).filter(([, a]) => isRecord(a) && a.type === 'Resource') as [
    string,
    Record<string, unknown>,
  ][];
  const pick =
    resources.find(([, a]) => a.name === preferredName) ??
    resources.find(([, a]) => typeof a.name === 'string' && a.name.endsWith('[trained model]')) ??
    resources[0];
  return pick ? { key: pick[0], asset: pick[1] } : null;
}

function assetUri(asset: Record<string, unknown> | undefined): { uri: string | null; credentials: string | null } {
  const info = asset && isRecord(asset.locationInfo) ? asset.locationInfo : {};
  return {
    uri: typeof info.uri === 'string' ? info.uri : null,
    credentials: typeof info.credentials === 'string' && info.credentials ? info.credentials : null,
  };
}

/**
 * Read the model an asset points at: through the SAS in the URI when present, else with the key of a known account
 * (the Azurite the emulator runs), else with a connection string in `credentials` (docs/spec/ml-studio-classic-api.md §4.4, open question 8).
 */
async function readAssetModel(
  emu: EmulatorContext,
  uri: string,
  credentials: string | null,
): Promise<{ ok: true; identity: string | null; url: string } | { ok: false; message: string }> {
  const accounts = knownAccounts(emu);
  const fromCreds = credentials ? accountFromConnectionString(credentials) : null;
  if (fromCreds) accounts.push(fromCreds);
  const target: BlobTarget | null = resolveBlobUrl(uri, accounts);
  const safeUri = maskText(uri);
  if (!target) return { ok: false, message: `The trained model location '${safeUri}' is not a blob URL.` };
  const read = await readBlob(target);
  if (!read.ok) {
    return { ok: false, message: `Unable to access the trained model blob '${safeUri}': ${read.status} ${read.code}.` };
  }
  if (read.content.length === 0) return { ok: false, message: `The trained model blob '${safeUri}' is empty.` };
  return { ok: true, identity: modelIdentity(read.content), url: target.url };
}

/**
 * Re-read the trained model when its location changed and schedule it to go live when the operation succeeds.
 * An unreadable blob makes the operation end Failed, the way an LRO reports a bad definition.
 */
export async function applyModelChange(
  emu: EmulatorContext,
  ws: ArmWebService,
  before: Record<string, unknown> | null,
): Promise<{
  outcome: ArmOperation['outcome'];
  error: ArmOperation['error'];
  apply: ((op: ArmOperation) => void) | null;
}> {
  const preferred = emu.state.topology.trainedModelName;
  const now = trainedModelAsset(ws.properties, preferred);
  if (!now) return { outcome: 'Succeeded', error: null, apply: null };
  const prev = before ? trainedModelAsset(before, preferred) : null;
  const loc = assetUri(now.asset);
  const prevLoc = assetUri(prev?.asset);
  if (prev && loc.uri === prevLoc.uri && loc.credentials === prevLoc.credentials) {
    return { outcome: 'Succeeded', error: null, apply: null };
  }
  if (!loc.uri) {
    return {
      outcome: 'Failed',
      error: {
        code: 'UpdateWebServiceResourceFailed',
        message: `Asset '${String(now.asset.name)}' has no locationInfo.uri.`,
      },
      apply: null,
    };
  }
  const read = await readAssetModel(emu, loc.uri, loc.credentials);
  if (!read.ok)
    return {
      outcome: 'Failed',
      error: { code: 'UpdateWebServiceResourceFailed', message: read.message },
      apply: null,
    };
  return {
    outcome: 'Succeeded',
    error: null,
    apply: (op) => {
      scheduleActivation(emu, ws.resourceId, read.identity, op.endMs);
      emu.state.updates.push({
        atMs: op.startMs,
        kind: 'arm',
        target: ws.resourceId,
        resourceName: typeof now.asset.name === 'string' ? now.asset.name : now.key,
        modelJobId: read.identity,
        blobUrl: read.url,
      });
    },
  };
}
