#!/usr/bin/env node
import { performance } from 'node:perf_hooks';
import readline from 'node:readline';
import { BlobClient } from '@azure/storage-blob';
import { loadWorkerSettings } from '../../config/env';
import { loadAdfConfig } from '../../config/linked-services';
import type { AzureMLLinkedService } from '../../config/linked-services';
import type { RetrainAndUpdateInput, UpdateResourceStep } from '../../common/types';
import { buildActivityDeps } from '../../worker/deps';
import type { ActivityDeps } from '../../activities/deps';
import { besUrls, parseJobId } from '../../activities/bes';
import type { CallContext, HttpCall, HttpResult } from '../../activities/http';
import { send } from '../../activities/http';
import { identityKey, PINNED_MODELS_DIR } from '../../activities/model';
import { splitPath } from '../../activities/storage';
import { updateKind } from '../../activities/update';
import { scoringUrl } from '../../activities/verify';

/**
 * The baseline: a plain Node script, no Temporal, that makes the HTTP calls a retrainAndUpdate run makes, in the
 * same order, with the same HTTP client, storage client and credential the worker builds (worker/deps.ts), so the
 * difference from the product is the orchestration and nothing else:
 *   BES submit → start → status every poll interval until Finished → status again (fresh SAS) → model blob
 *   properties → pin (target properties, server-side copy) → evaluation CSV; then each update in parallel, as the
 *   product's scoring-service workflows do: pinned blob properties (version check) → classic: GET, PATCH, GET /
 *   ARM: token, GET, PATCH, operation polls, GET → the RRS scoring call that verifies the model.
 * Reads one run input (JSON, the product's RetrainAndUpdateInput) per stdin line, answers `{"id","ms"}` or
 * `{"id","error"}` per line. Usage: node dist/scripts/bench/baseline.js --config DIR (env as the worker's).
 */

const ctx: CallContext = { operation: 'baseline', linkedServiceName: '', authField: '', urlField: '' };

async function call(deps: ActivityDeps, c: Omit<HttpCall, 'timeoutMs'>): Promise<HttpResult> {
  const res = await send(deps.httpClient, { ...c, timeoutMs: deps.settings.requestTimeoutMs }, ctx);
  if (res.status < 200 || res.status >= 300)
    throw new Error(`${c.method} ${c.url.split('?')[0]} answered ${res.status}`);
  return res;
}

const pause = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

interface BesBody {
  StatusCode?: string;
  Results?: Record<string, { BaseLocation?: string; RelativeLocation?: string; SasBlobToken?: string }>;
}

async function train(deps: ActivityDeps, input: RetrainAndUpdateInput): Promise<{ jobId: string; status: BesBody }> {
  const step = input.training;
  const ls = deps.azureML(step.linkedServiceName);
  const urls = besUrls(ls.mlEndpoint);
  const headers = { Authorization: `Bearer ${ls.apiKey.reveal()}` };
  const refs = (files: Record<string, { linkedServiceName: string; filePath: string }> = {}) =>
    Object.fromEntries(
      Object.entries(files).map(([port, f]) => [
        port,
        deps.storageAccess(deps.storage(f.linkedServiceName)).besBlobRef(f.filePath),
      ]),
    );
  const body = { Inputs: refs(step.webServiceInputs), Outputs: refs(step.webServiceOutputs), GlobalParameters: {} };
  const submitted = await call(deps, { method: 'POST', url: urls.jobs, headers, body });
  const jobId = parseJobId(submitted.text);
  if (!jobId) throw new Error('BES submit returned no job id');
  await call(deps, { method: 'POST', url: urls.start(jobId), headers });
  const pollMs = Math.round((input.options?.pollIntervalSeconds ?? 10) * 1000);
  for (;;) {
    const st = (await call(deps, { method: 'GET', url: urls.job(jobId), headers })).json() as BesBody;
    if (st.StatusCode === 'Finished') break;
    if (st.StatusCode === 'Failed' || st.StatusCode === 'Cancelled') throw new Error(`BES job ${st.StatusCode}`);
    await pause(pollMs);
  }
  // The product reads the job again for a fresh read SAS of the model (docs/spec/ml-studio-classic-api.md §2.6).
  const status = (await call(deps, { method: 'GET', url: urls.job(jobId), headers })).json() as BesBody;
  return { jobId, status };
}

/** Locate, pin and read the metrics, as prepareModel does. Returns the pinned copy's path and ETag. */
async function prepare(
  deps: ActivityDeps,
  input: RetrainAndUpdateInput,
  jobId: string,
  status: BesBody,
): Promise<{ path: string; etag: string }> {
  const outputs = input.training.webServiceOutputs ?? {};
  const [port, model] = Object.entries(outputs).find(([, f]) => /\.ilearner$/i.test(f.filePath))!;
  const ref = status.Results?.[port];
  const sas = ref?.SasBlobToken ?? '';
  const blob = new BlobClient(`${ref?.BaseLocation}${ref?.RelativeLocation}${sas.startsWith('?') ? sas : `?${sas}`}`);
  const props = await blob.getProperties();
  const access = deps.storageAccess(deps.storage(model.linkedServiceName));
  const key = identityKey(jobId, props.etag ?? '');
  const { container, blobName } = splitPath(model.filePath);
  const target = `${container}/${PINNED_MODELS_DIR}/${key}/${blobName.split('/').pop()}`;
  const metadata = { trainingjobid: jobId, trainedat: (props.lastModified ?? new Date(0)).toISOString() };
  const pinned = await access.pin(model.filePath, props.etag ?? '', target, {
    ...metadata,
    sourcepath: model.filePath,
    pipeline: input.pipeline ?? '',
  });
  if (!pinned.pinned) throw new Error('the model blob was rewritten before it could be pinned');
  const evaluation = Object.entries(outputs).find(([p, f]) => p !== port && /\.csv$/i.test(f.filePath));
  if (evaluation) await access.download(evaluation[1].filePath, 1 << 20);
  return { path: target, etag: pinned.etag };
}

async function updateClassic(
  deps: ActivityDeps,
  ls: AzureMLLinkedService,
  name: string,
  loc: { base: string; rel: string; sas: string },
) {
  const headers = { Authorization: `Bearer ${ls.apiKey.reveal()}` };
  const url = ls.updateResourceEndpoint!;
  await call(deps, { method: 'GET', url, headers });
  const body = {
    Resources: [{ Name: name, Location: { BaseLocation: loc.base, RelativeLocation: loc.rel, SasBlobToken: loc.sas } }],
  };
  await call(deps, { method: 'PATCH', url, headers, body });
  await call(deps, { method: 'GET', url, headers });
}

interface ArmWebService {
  location?: string;
  properties?: { packageType?: string; assets?: Record<string, { name?: string; locationInfo?: { uri?: string } }> };
}

async function updateArm(
  deps: ActivityDeps,
  ls: AzureMLLinkedService,
  name: string,
  loc: { base: string; rel: string; sas: string },
) {
  const token = await deps.credentialFor(ls).getToken(deps.settings.armScope);
  const headers = { Authorization: `Bearer ${token?.token ?? ''}` };
  const url = ls.updateResourceEndpoint!;
  const ws = (await call(deps, { method: 'GET', url, headers })).json() as ArmWebService;
  const assets = { ...(ws.properties?.assets ?? {}) };
  const [id, asset] = Object.entries(assets).find(([, a]) => a.name === name)!;
  assets[id] = { ...asset, locationInfo: { ...asset.locationInfo, uri: `${loc.base}${loc.rel}${loc.sas}` } };
  const body = { location: ws.location, properties: { packageType: ws.properties?.packageType ?? 'Graph', assets } };
  const patched = await call(deps, { method: 'PATCH', url, headers, body });
  const operation = patched.headers.get('azure-asyncoperation') ?? patched.headers.get('location');
  while (operation) {
    const res = await call(deps, { method: 'GET', url: operation, headers });
    const state = (res.json() as { status?: string } | undefined)?.status;
    if (res.status === 200 && (!state || state === 'Succeeded')) break;
    if (state === 'Failed') throw new Error('ARM operation failed');
    await pause(deps.settings.armPollIntervalMs);
  }
  await call(deps, { method: 'GET', url, headers });
}

async function update(deps: ActivityDeps, u: UpdateResourceStep, model: { path: string; linkedServiceName: string }) {
  const ls = deps.azureML(u.linkedServiceName);
  const access = deps.storageAccess(deps.storage(model.linkedServiceName));
  const l = access.location(model.path);
  const loc = {
    base: l.baseLocation,
    rel: l.relativeLocation,
    sas: access.readSas(model.path, deps.settings.sasTtlMinutes),
  };
  // The version check: the pinned blob must still be the model being deployed.
  await new BlobClient(`${loc.base}${loc.rel}${loc.sas}`).getProperties();
  if (updateKind(ls) === 'classic') await updateClassic(deps, ls, u.trainedModelName, loc);
  else await updateArm(deps, ls, u.trainedModelName, loc);
  const body = { Inputs: { input1: { ColumnNames: [], Values: [[]] } }, GlobalParameters: {} };
  await call(deps, {
    method: 'POST',
    url: scoringUrl(ls.mlEndpoint),
    headers: { Authorization: `Bearer ${ls.apiKey.reveal()}` },
    body,
  });
}

async function runOnce(deps: ActivityDeps, input: RetrainAndUpdateInput): Promise<void> {
  const { jobId, status } = await train(deps, input);
  if (input.updates.length === 0) return;
  const pinned = await prepare(deps, input, jobId, status);
  const modelLs = Object.values(input.training.webServiceOutputs ?? {}).find((f) => /\.ilearner$/i.test(f.filePath))!;
  await Promise.all(
    input.updates.map((u) => update(deps, u, { path: pinned.path, linkedServiceName: modelLs.linkedServiceName })),
  );
}

async function main(): Promise<void> {
  const i = process.argv.indexOf('--config');
  const configDir = i > 0 ? process.argv[i + 1] : undefined;
  const settings = loadWorkerSettings(process.env, { configDir });
  const deps = buildActivityDeps(await loadAdfConfig(settings.configDir), settings);
  console.log('baseline ready');
  for await (const line of readline.createInterface({ input: process.stdin })) {
    if (!line.trim()) continue;
    const { id, input } = JSON.parse(line) as { id: string; input: RetrainAndUpdateInput };
    const t0 = performance.now();
    try {
      await runOnce(deps, input);
      console.log(JSON.stringify({ id, ms: performance.now() - t0 }));
    } catch (e) {
      console.log(JSON.stringify({ id, error: e instanceof Error ? e.message : String(e) }));
    }
  }
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
