import { existsSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { createArmHandlers, seedArmProperties } from './arm';
import type { StorageAccount } from './azurite';
import { accountFromConnectionString, startAzurite } from './azurite';
import { createBesHandlers } from './bes';
import { buildIlearner, readOnlySas, writeBlob } from './blobs';
import { classicTarget, createClassicHandlers } from './classic';
import { buildKeyVaultLinkedServices, buildLinkedServices, writeConfigDir } from './config';
import type { EmulatorContext, ResolvedOptions } from './context';
import { jobFaultState } from './context';
import { createEntraHandlers } from './entra';
import type { VaultSecret } from './keyvault';
import { createKeyVaultHandlers, putSecret } from './keyvault';
import { FaultEngine } from './faults';
import { JobEngine, toEmulatedJob } from './jobs';
import { allLiveModels, scheduleActivation } from './models';
import { makeOwnerOnly } from './private-files';
import { IdSource, randomSeed, secret } from './random';
import type { RequestLogEntry } from './server';
import { createRequestHandler } from './server';
import type { PersistedState, TopologyNames } from './state';
import { initialState, StateStore } from './state';
import type { PemPair } from './tls';
import { CA_DIR_ENV, generateCa, generateLeaf, readCaDir, writeCaDir } from './tls';
import type { EmulatorHandle, EmulatorInspection, EmulatorOptions, FaultRule, JobFaultOptions } from './types';

/** Identity of the models seeded at first start, so `liveModels` is never null before the first update. */
export const INITIAL_MODEL_ID = 'initial';
const MODEL_CONTAINER = 'emulator-models';
const YEAR_S = 365 * 24 * 3600;

function resolveOptions(o: EmulatorOptions): ResolvedOptions {
  return {
    jobs: {
      runningMs: o.jobs?.runningMs ?? 3000,
      statusCodeFormat: o.jobs?.statusCodeFormat ?? 'string',
      sasTtlSeconds: o.jobs?.sasTtlSeconds ?? 24 * 3600,
      metrics: o.jobs?.metrics ?? { AUC: 0.91, Accuracy: 0.87 },
      inputBlobCheck: o.jobs?.inputBlobCheck ?? 'run',
      checkInputExtensions: o.jobs?.checkInputExtensions ?? true,
      checkOutputExtensions: o.jobs?.checkOutputExtensions ?? true,
    },
    classic: {
      activationDelayMs: o.classic?.activationDelayMs ?? 0,
      patchSuccessStatus: o.classic?.patchSuccessStatus ?? 200,
      defaultEndpointPatchError: o.classic?.defaultEndpointPatchError ?? { status: 400, code: 'BadArgument' },
      unknownResourceError: o.classic?.unknownResourceError ?? { status: 400, code: 'BadArgument' },
      unreadableBlobError: o.classic?.unreadableBlobError ?? { status: 400, code: 'BadArgument' },
    },
    arm: {
      provisioningMs: o.arm?.provisioningMs ?? 1500,
      assetsPatch: o.arm?.assetsPatch ?? 'merge',
      principalHasRole: o.arm?.principalHasRole ?? true,
    },
    token: { lifetimeSeconds: o.token?.lifetimeSeconds ?? 3599 },
    verbose: o.verbose ?? false,
  };
}

function topologyNames(o: EmulatorOptions): TopologyNames {
  return {
    tenantDomain: o.topology?.tenantDomain ?? 'mycompany.com',
    resourceGroup: o.topology?.resourceGroup ?? 'Default-MachineLearning-SouthCentralUS',
    region: o.topology?.region ?? 'South Central US',
    armWebServiceName: o.topology?.armWebServiceName ?? 'myWebService',
    trainedModelName: o.topology?.trainedModelName ?? 'ADFV2Sample Model [trained model]',
    classicEndpointName: o.topology?.classicEndpointName ?? 'retrain',
  };
}

/** CA precedence: explicit option, ML_EMULATOR_CA_DIR, the one kept in --state, a fresh one. */
async function loadCa(o: EmulatorOptions): Promise<{ ca: PemPair; caFile: string | null }> {
  if (o.ca) return { ca: o.ca, caFile: null };
  const envDir = process.env[CA_DIR_ENV];
  if (envDir) return { ca: await readCaDir(envDir), caFile: join(envDir, 'ca.pem') };
  if (o.stateDir) {
    const tlsDir = join(o.stateDir, 'tls');
    if (existsSync(join(tlsDir, 'ca.key'))) return { ca: await readCaDir(tlsDir), caFile: join(tlsDir, 'ca.pem') };
    // Keep the CA with the state so a restarted emulator is still trusted by clients configured for the first run.
    return { ca: await writeCaDir(tlsDir), caFile: join(tlsDir, 'ca.pem') };
  }
  return { ca: await generateCa(), caFile: null };
}

async function listen(server: Server, port: number): Promise<number> {
  await new Promise<void>((resolve, reject) => {
    const onError = (err: Error): void => {
      server.removeListener('listening', onListening);
      reject(err);
    };
    const onListening = (): void => {
      server.removeListener('error', onError);
      resolve();
    };
    server.once('error', onError);
    server.once('listening', onListening);
    // Loopback only: the emulator hands out keys and accepts any model; it must not be reachable from the network.
    server.listen(port, '127.0.0.1');
  });
  return (server.address() as AddressInfo).port;
}

/**
 * Start the ML Studio (classic) emulator: BES, RRS, classic management, ARM web services and Entra on one HTTPS
 * server on 127.0.0.1, over an Azurite blob service it starts (or attaches to).
 */
export async function startEmulator(options: EmulatorOptions = {}): Promise<EmulatorHandle> {
  const opts = resolveOptions(options);
  const seed = options.seed ?? randomSeed();
  // A restart on a saved state must not hand out the ids of its first life again (the seed's stream would start
  // over: a new job could get the training service's id, an ARM operation an old operation's id): random ids then.
  const ids = new IdSource(options.stateDir && StateStore.load(options.stateDir) ? undefined : options.seed);
  const names = topologyNames(options);

  const cleanups: (() => Promise<void>)[] = [];
  const cleanupAll = async (): Promise<void> => {
    for (const c of cleanups.reverse()) await c().catch(() => undefined);
    cleanups.length = 0;
  };

  try {
    if (options.stateDir) await makeOwnerOnly(options.stateDir);
    const { ca, caFile: existingCaFile } = await loadCa(options);
    const leaf = await generateLeaf(ca);
    let workDir = options.workDir ?? options.stateDir;
    if (!workDir) {
      const tmp = await mkdtemp(join(tmpdir(), 'ml-emulator-'));
      workDir = tmp;
      cleanups.push(() => rm(tmp, { recursive: true, force: true }));
    }
    let caFile = existingCaFile;
    if (!caFile) {
      caFile = join(workDir, 'ca.pem');
      await writeFile(caFile, ca.certPem);
    }

    const file = StateStore.fileFor(options.stateDir);
    const state: PersistedState = StateStore.load(options.stateDir) ?? initialState(ids, names);
    const store = new StateStore(state, file);

    let storage: StorageAccount;
    if (options.azurite) {
      const attached = accountFromConnectionString(options.azurite.connectionString);
      if (!attached) throw new Error('options.azurite.connectionString needs AccountName and AccountKey.');
      storage = attached;
    } else {
      // Generated per installation, never a constant: Azurite only accepts the key it was started with.
      state.storage ??= { accountName: `emu${ids.hex32().slice(0, 12)}`, accountKey: secret(64), port: null };
      const proc = await startAzurite({
        accountName: state.storage.accountName,
        accountKey: state.storage.accountKey,
        location: options.stateDir ? join(options.stateDir, 'azurite') : undefined,
        port: state.storage.port ?? 0,
      });
      cleanups.push(() => proc.close());
      state.storage.port = proc.port;
      storage = proc;
    }
    // The CA and Azurite's first files are written by now; tighten whatever their writers left readable.
    if (options.stateDir) await makeOwnerOnly(options.stateDir);

    let handler: (req: IncomingMessage, res: ServerResponse) => void = (_req, res) => {
      res.writeHead(503).end();
    };
    const server = createServer({ key: leaf.keyPem, cert: leaf.certPem }, (req, res) => handler(req, res));
    let port: number;
    try {
      port = await listen(server, options.port ?? state.serverPort ?? 0);
    } catch (err) {
      // A remembered port that is now taken is not worth failing for; an explicitly requested one is.
      if (options.port !== undefined || (err as NodeJS.ErrnoException).code !== 'EADDRINUSE') throw err;
      port = await listen(server, 0);
    }
    cleanups.push(
      () =>
        new Promise<void>((resolve) => {
          server.close(() => resolve());
          server.closeAllConnections();
        }),
    );
    state.serverPort = port;
    const baseUrl = `https://127.0.0.1:${port}`;

    const emu: EmulatorContext = {
      opts,
      store,
      state,
      ids,
      baseUrl,
      storage,
      jobFaults: jobFaultState({}),
      now: () => Date.now(),
    };

    await seedModels(emu, names);
    store.save();

    const jobs = new JobEngine(emu);
    cleanups.push(() => jobs.close());
    jobs.resume();

    const faults = new FaultEngine(seed);
    faults.setRules(options.faults ?? []);
    const requestLog: RequestLogEntry[] = [];
    const maxLogged = options.maxLoggedRequests ?? 10_000;

    const inspect = (): EmulatorInspection => {
      const counts = new Map<string, number>();
      for (const j of state.jobs) counts.set(j.fingerprint, (counts.get(j.fingerprint) ?? 0) + 1);
      return {
        jobs: state.jobs.map((j) => toEmulatedJob(jobs, j, counts.get(j.fingerprint) ?? 1)),
        updates: state.updates.map((u) => ({
          at: new Date(u.atMs).toISOString(),
          kind: u.kind,
          target: u.target,
          resourceName: u.resourceName,
          modelJobId: u.modelJobId,
          blobUrl: u.blobUrl,
        })),
        liveModels: allLiveModels(emu),
        requests: requestLog.map((r) => ({ ...r })),
        seed,
      };
    };
    const setFaults = (rules: FaultRule[]): void => faults.setRules(rules);
    const setJobFaults = (o: JobFaultOptions): void => {
      emu.jobFaults = jobFaultState(o);
    };

    const vault = new Map<string, VaultSecret>();
    for (const [name, value] of Object.entries(options.keyVault?.secrets ?? {}))
      putSecret(vault, name, value, emu.now());

    handler = createRequestHandler({
      baseUrl: () => baseUrl,
      handlers: {
        bes: createBesHandlers(emu, jobs),
        classic: createClassicHandlers(emu),
        arm: createArmHandlers(emu),
        entra: createEntraHandlers(emu),
        keyVault: createKeyVaultHandlers(emu, vault),
      },
      faults,
      admin: { inspect, setFaults, setJobFaults, describeFaults: () => faults.describe() },
      log: (entry) => {
        requestLog.push(entry);
        if (requestLog.length > maxLogged) requestLog.splice(0, requestLog.length - maxLogged);
      },
      verbose: opts.verbose,
    });

    const t = state.topology;
    const idn = state.identity;
    const scoringWs = state.classicWebServices.find((w) => w.id === t.classicWebServiceId)!;
    const defaultEp = scoringWs.endpoints.find((e) => e.isDefault)!;
    const retrainEp = scoringWs.endpoints.find((e) => e.name === t.classicEndpointName)!;
    const arm = state.armWebServices.find((w) => w.resourceId === t.armResourceId)!;
    const svc = (sid: string) => state.services.find((s) => s.id === sid)!;
    const subNoDashes = idn.subscriptionId.replace(/-/g, '');
    const classicMgmt = `${baseUrl}/workspaces/${idn.workspaceId}/webservices/${scoringWs.id}/endpoints`;
    const urls: EmulatorHandle['urls'] = {
      trainingBes: `${baseUrl}/workspaces/${idn.workspaceId}/services/${t.trainingServiceId}`,
      trainingBesArmShape: `${baseUrl}/subscriptions/${subNoDashes}/services/${t.trainingServiceId}`,
      classicUpdateResource: `${classicMgmt}/${retrainEp.name}`,
      classicScore: `${baseUrl}/workspaces/${idn.workspaceId}/services/${retrainEp.serviceId}/execute?api-version=2.0&details=true`,
      armUpdateResource: `${baseUrl}${arm.resourceId}?api-version=2016-05-01-preview`,
      armScore: `${baseUrl}/subscriptions/${subNoDashes}/services/${arm.runtimeId}/execute?api-version=2.0&details=true`,
      authorityHost: baseUrl,
      blobEndpoint: storage.blobEndpoint,
      classicRetrainBes: `${baseUrl}/workspaces/${idn.workspaceId}/services/${retrainEp.serviceId}`,
      classicDefaultBes: `${baseUrl}/workspaces/${idn.workspaceId}/services/${defaultEp.serviceId}`,
      classicDefaultUpdateResource: `${classicMgmt}/${defaultEp.name}`,
      classicDefaultScore: `${baseUrl}/workspaces/${idn.workspaceId}/services/${defaultEp.serviceId}/execute?api-version=2.0&details=true`,
      armBes: `${baseUrl}/subscriptions/${subNoDashes}/services/${arm.runtimeId}`,
    };
    const keys = (sid: string) => ({ ...svc(sid).keys });
    const linkedInputs = {
      urls,
      trainingKey: svc(t.trainingServiceId).keys.primary,
      classicRetrainKey: svc(retrainEp.serviceId).keys.primary,
      armKey: svc(arm.runtimeId).keys.primary,
      tenant: idn.tenantDomain,
      clientId: idn.clientId,
      clientSecret: idn.clientSecret,
      storageConnectionString: storage.connectionString,
    };
    const linkedServices = buildLinkedServices(linkedInputs);
    const env = { AZURE_AUTHORITY_HOST: baseUrl, NODE_EXTRA_CA_CERTS: caFile };

    let closing: Promise<void> | null = null;
    return {
      url: baseUrl,
      urls,
      linkedServices,
      env,
      caFile,
      storage: {
        connectionString: storage.connectionString,
        accountName: storage.accountName,
        blobEndpoint: storage.blobEndpoint,
      },
      identity: {
        tenant: idn.tenantDomain,
        clientId: idn.clientId,
        subscriptionId: idn.subscriptionId,
        resourceGroup: idn.resourceGroup,
      },
      ids: {
        workspaceId: idn.workspaceId,
        trainingServiceId: t.trainingServiceId,
        classicWebServiceId: scoringWs.id,
        classicDefaultEndpointId: defaultEp.serviceId,
        classicRetrainEndpointId: retrainEp.serviceId,
        armServiceId: arm.runtimeId,
        armResourceId: arm.resourceId,
        tenantId: idn.tenantId,
        trainedModelName: t.trainedModelName,
        classicEndpointName: t.classicEndpointName,
      },
      keys: {
        workspaceToken: idn.workspaceToken,
        training: keys(t.trainingServiceId),
        classicDefault: keys(defaultEp.serviceId),
        classicRetrain: keys(retrainEp.serviceId),
        arm: keys(arm.runtimeId),
        clientSecret: idn.clientSecret,
      },
      inspect,
      setFaults,
      setJobFaults,
      writeConfig: async (dir, o = {}) => {
        const services =
          o.secrets === 'keyVault'
            ? buildKeyVaultLinkedServices(linkedInputs, baseUrl, (name, value) => {
                putSecret(vault, name, value, emu.now());
                return name;
              })
            : linkedServices;
        await writeConfigDir(dir, services, env);
      },
      keyVault: {
        url: baseUrl,
        setSecret: (name, value) => putSecret(vault, name, value, emu.now()),
      },
      close: () => {
        closing ??= (async () => {
          handler = (req) => req.socket.destroy();
          store.save();
          await cleanupAll();
        })();
        return closing;
      },
    };
  } catch (err) {
    await cleanupAll();
    throw err;
  }
}

/**
 * Give every scoring target a live model before the first update: write an initial .ilearner per target and point
 * the classic endpoints' resources and the ARM trained-model asset at it. Rewritten at each start (same content) so
 * a fresh Azurite behind an old --state still has the blobs the state refers to.
 */
async function seedModels(emu: EmulatorContext, names: TopologyNames): Promise<void> {
  const { state, storage } = emu;
  const targets: { target: string; blobName: string }[] = [];
  for (const ws of state.classicWebServices) {
    for (const ep of ws.endpoints) {
      const service = state.services.find((s) => s.id === ep.serviceId);
      if (service?.kind === 'scoring')
        targets.push({
          target: classicTarget(ws, ep),
          blobName: `${state.identity.instanceId}/${ws.id}/${ep.name}.ilearner`,
        });
    }
  }
  const armBlob = `${state.identity.instanceId}/arm/${names.armWebServiceName}.ilearner`;
  for (const t of [...targets, { target: state.topology.armResourceId, blobName: armBlob }]) {
    const content = buildIlearner({ jobId: INITIAL_MODEL_ID, service: t.target, trainedAt: new Date(0).toISOString() });
    await writeBlob(
      {
        container: MODEL_CONTAINER,
        blobName: t.blobName,
        url: `${storage.blobEndpoint}/${MODEL_CONTAINER}/${t.blobName}`,
        account: storage,
        sas: null,
      },
      content,
      'application/octet-stream',
    );
  }
  if (state.seeded) return;

  for (const ws of state.classicWebServices) {
    for (const ep of ws.endpoints) {
      const t = targets.find((x) => x.target === classicTarget(ws, ep));
      if (!t) continue;
      ep.resources = [
        {
          Name: state.topology.trainedModelName,
          Kind: 'TrainedModel',
          Location: {
            BaseLocation: `${storage.blobEndpoint}/`,
            RelativeLocation: `${MODEL_CONTAINER}/${t.blobName}`,
            SasBlobToken: readOnlySas(storage, MODEL_CONTAINER, t.blobName, YEAR_S),
          },
        },
      ];
      scheduleActivation(emu, t.target, INITIAL_MODEL_ID, 0);
    }
  }
  const runtime = state.services.find((s) => s.target === state.topology.armResourceId)!;
  const modelUrl = `${storage.blobEndpoint}/${MODEL_CONTAINER}/${armBlob}`;
  state.armWebServices.push({
    resourceId: state.topology.armResourceId,
    subscriptionId: state.identity.subscriptionId,
    resourceGroup: state.identity.resourceGroup,
    name: names.armWebServiceName,
    location: state.identity.region,
    tags: {},
    properties: seedArmProperties(emu, runtime.id, modelUrl, state.topology.trainedModelName),
    runtimeId: runtime.id,
    lastOperationId: null,
  });
  scheduleActivation(emu, state.topology.armResourceId, INITIAL_MODEL_ID, 0);
  state.seeded = true;
}
