import { mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { BlobRef } from './blobs';
import type { IdSource } from './random';
import { secret } from './random';

/** A web service port (docs/spec/ml-studio-classic-api.md §2.8): datasets are .csv/.tsv/.arff, trained models .ilearner. */
export interface PortSpec {
  name: string;
  kind: 'dataset' | 'model';
}

export interface KeyPair {
  primary: string;
  secondary: string;
}

/** Something reachable as `.../services/{id}` on the runtime (BES + RRS): a classic endpoint or an ARM service. */
export interface RuntimeService {
  id: string;
  label: string;
  kind: 'training' | 'scoring';
  /** Reachable under `/workspaces/{workspaceId}/services/{id}` when set. */
  workspaceId: string | null;
  /** Reachable under `/subscriptions/{subscriptionNoDashes}/services/{id}` when set. */
  subscriptionNoDashes: string | null;
  keys: KeyPair;
  inputs: PortSpec[];
  outputs: PortSpec[];
  requiredInputs: string[];
  /** Scoring target whose live model answers RRS calls (classic `{ws}/{wsId}/{endpoint}` or ARM resource id). */
  target: string | null;
}

export interface ClassicResource {
  Name: string;
  Kind: 'TrainedModel';
  Location: { BaseLocation: string; RelativeLocation: string; SasBlobToken: string };
}

export interface ClassicEndpoint {
  name: string;
  /** Runtime service id of this endpoint. */
  serviceId: string;
  description: string;
  creationTime: string;
  isDefault: boolean;
  resources: ClassicResource[];
  maxConcurrentCalls: number;
  throttleLevel: string;
  diagnosticsTraceLevel: string;
  version: string;
}

export interface ClassicWebService {
  id: string;
  name: string;
  description: string;
  creationTime: string;
  workspaceId: string;
  defaultEndpointName: string;
  endpoints: ClassicEndpoint[];
}

export interface ArmWebService {
  resourceId: string;
  subscriptionId: string;
  resourceGroup: string;
  name: string;
  location: string;
  tags: Record<string, string>;
  /** 2017-01-01 shape, without `keys` (those live on the runtime service). */
  properties: Record<string, unknown>;
  runtimeId: string;
  /** The operation whose end makes provisioningState leave `Provisioning`. */
  lastOperationId: string | null;
}

export interface ArmOperation {
  id: string;
  subscriptionId: string;
  locationSegment: string;
  resourceId: string;
  kind: 'put' | 'patch' | 'delete';
  startMs: number;
  endMs: number;
  outcome: 'Succeeded' | 'Failed';
  error: { code: string; message: string } | null;
}

/** One output the job will write, resolved at submit time. */
export interface JobOutput {
  kind: 'dataset' | 'model';
  ref: BlobRef;
  container: string;
  blobName: string;
}

export interface JobRecord {
  jobId: string;
  serviceId: string;
  /** `workspaces/{ws}/services/{id}` or `subscriptions/{sub}/services/{id}`: the URL shape used at submit. */
  servicePath: string;
  fingerprint: string;
  inputs: Record<string, BlobRef>;
  outputs: Record<string, JobOutput>;
  globalParameters: Record<string, unknown> | null;
  createdAtMs: number;
  startedAtMs: number | null;
  runMs: number | null;
  failDetails: string | null;
  metrics: Record<string, number> | null;
  /** The model this (training) job produces cannot score (job fault `brokenNext`). Absent in older state files. */
  broken?: boolean;
  cancelledAtMs: number | null;
  startCount: number;
  cancelCount: number;
  final: { status: 'Finished' | 'Failed'; details: string | null; atMs: number } | null;
}

export interface ModelActivation {
  identity: string | null;
  activeAtMs: number;
}

export interface UpdateRecord {
  atMs: number;
  kind: 'classic' | 'arm';
  target: string;
  resourceName: string;
  modelJobId: string | null;
  blobUrl: string;
}

export interface Identity {
  instanceId: string;
  workspaceId: string;
  subscriptionId: string;
  tenantId: string;
  tenantDomain: string;
  clientId: string;
  clientSecret: string;
  resourceGroup: string;
  region: string;
  /** HMAC key for the emulator's access tokens; persisted so tokens survive a --state restart. */
  tokenSigningKey: string;
  workspaceToken: string;
}

export interface Topology {
  trainingServiceId: string;
  classicWebServiceId: string;
  trainingWebServiceId: string;
  armResourceId: string;
  trainedModelName: string;
  classicEndpointName: string;
}

export interface PersistedState {
  version: 1;
  identity: Identity;
  topology: Topology;
  /** Storage account the emulator started Azurite with (null when attached to an existing Azurite). */
  storage: { accountName: string; accountKey: string; port: number | null } | null;
  serverPort: number | null;
  services: RuntimeService[];
  classicWebServices: ClassicWebService[];
  armWebServices: ArmWebService[];
  armOperations: ArmOperation[];
  jobs: JobRecord[];
  updates: UpdateRecord[];
  /** Model history per scoring target; the live one is the last with activeAtMs <= now. */
  models: Record<string, ModelActivation[]>;
  seeded: boolean;
}

export interface TopologyNames {
  tenantDomain: string;
  resourceGroup: string;
  region: string;
  armWebServiceName: string;
  trainedModelName: string;
  classicEndpointName: string;
}

export function newKeyPair(): KeyPair {
  return { primary: secret(48), secondary: secret(48) };
}

/**
 * A fresh state with the seed scenario of the ADF "update machine learning models" article: a training service,
 * a classic scoring service with a non-default endpoint, and an ARM scoring web service. ARM resources and
 * initial models are filled in by the emulator once storage is known.
 */
export function initialState(ids: IdSource, names: TopologyNames): PersistedState {
  const now = new Date().toISOString();
  const workspaceId = ids.hex32();
  const subscriptionId = ids.guid();
  const subNoDashes = subscriptionId.replace(/-/g, '');
  const trainingServiceId = ids.hex32();
  const trainingWebServiceId = ids.hex32();
  const classicWebServiceId = ids.hex32();
  const defaultEndpointId = ids.hex32();
  const retrainEndpointId = ids.hex32();
  const armRuntimeId = ids.hex32();
  const resourceGroup = names.resourceGroup;
  const armResourceId = `/subscriptions/${subscriptionId}/resourceGroups/${resourceGroup}/providers/Microsoft.MachineLearning/webServices/${names.armWebServiceName}`;
  const scoringPorts = {
    inputs: [{ name: 'input1', kind: 'dataset' as const }],
    outputs: [{ name: 'output1', kind: 'dataset' as const }],
  };
  const classicTarget = (endpoint: string): string => `${workspaceId}/${classicWebServiceId}/${endpoint}`;

  const services: RuntimeService[] = [
    {
      id: trainingServiceId,
      label: 'Training experiment [training]',
      kind: 'training',
      workspaceId,
      subscriptionNoDashes: subNoDashes,
      keys: newKeyPair(),
      inputs: [
        { name: 'input1', kind: 'dataset' },
        { name: 'input2', kind: 'dataset' },
      ],
      outputs: [
        { name: 'output1', kind: 'model' },
        { name: 'output2', kind: 'dataset' },
      ],
      requiredInputs: ['input1', 'input2'],
      target: null,
    },
    {
      id: defaultEndpointId,
      label: 'ADFV2Sample [Predictive Exp.] / default',
      kind: 'scoring',
      workspaceId,
      subscriptionNoDashes: null,
      keys: newKeyPair(),
      ...scoringPorts,
      requiredInputs: ['input1'],
      target: classicTarget('default'),
    },
    {
      id: retrainEndpointId,
      label: `ADFV2Sample [Predictive Exp.] / ${names.classicEndpointName}`,
      kind: 'scoring',
      workspaceId,
      subscriptionNoDashes: null,
      keys: newKeyPair(),
      ...scoringPorts,
      requiredInputs: ['input1'],
      target: classicTarget(names.classicEndpointName),
    },
    {
      id: armRuntimeId,
      label: names.armWebServiceName,
      kind: 'scoring',
      workspaceId: null,
      subscriptionNoDashes: subNoDashes,
      keys: newKeyPair(),
      ...scoringPorts,
      requiredInputs: ['input1'],
      target: armResourceId,
    },
  ];

  const endpoint = (name: string, serviceId: string, isDefault: boolean): ClassicEndpoint => ({
    name,
    serviceId,
    description: isDefault ? 'Default endpoint' : 'Updatable endpoint for retraining',
    creationTime: now,
    isDefault,
    resources: [],
    maxConcurrentCalls: 20,
    throttleLevel: 'High',
    diagnosticsTraceLevel: 'None',
    version: now,
  });

  return {
    version: 1,
    identity: {
      instanceId: ids.hex32().slice(0, 12),
      workspaceId,
      subscriptionId,
      tenantId: ids.guid(),
      tenantDomain: names.tenantDomain,
      clientId: ids.guid(),
      clientSecret: secret(30),
      resourceGroup,
      region: names.region,
      tokenSigningKey: secret(32),
      workspaceToken: secret(24),
    },
    topology: {
      trainingServiceId,
      classicWebServiceId,
      trainingWebServiceId,
      armResourceId,
      trainedModelName: names.trainedModelName,
      classicEndpointName: names.classicEndpointName,
    },
    storage: null,
    serverPort: null,
    services,
    classicWebServices: [
      {
        id: trainingWebServiceId,
        name: 'ADFV2Sample [Training Exp.]',
        description: 'Training web service (produces the .ilearner)',
        creationTime: now,
        workspaceId,
        defaultEndpointName: 'default',
        endpoints: [endpoint('default', trainingServiceId, true)],
      },
      {
        id: classicWebServiceId,
        name: 'ADFV2Sample [Predictive Exp.]',
        description: 'Classic scoring web service',
        creationTime: now,
        workspaceId,
        defaultEndpointName: 'default',
        endpoints: [
          endpoint('default', defaultEndpointId, true),
          endpoint(names.classicEndpointName, retrainEndpointId, false),
        ],
      },
    ],
    armWebServices: [],
    armOperations: [],
    jobs: [],
    updates: [],
    models: {},
    seeded: false,
  };
}

/** Loads and saves the state as one JSON file; memory only without a directory. */
export class StateStore {
  constructor(
    readonly state: PersistedState,
    private readonly file: string | null,
  ) {}

  static load(dir: string | undefined): PersistedState | null {
    if (!dir) return null;
    try {
      const parsed = JSON.parse(readFileSync(join(dir, 'state.json'), 'utf8')) as PersistedState;
      return parsed.version === 1 ? parsed : null;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
      throw err;
    }
  }

  static fileFor(dir: string | undefined): string | null {
    if (!dir) return null;
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    return join(dir, 'state.json');
  }

  /** Synchronous write-then-rename: a crash mid-write never leaves a truncated state file behind. */
  save(): void {
    if (!this.file) return;
    const tmp = `${this.file}.${process.pid}.tmp`;
    writeFileSync(tmp, JSON.stringify(this.state), { mode: 0o600 });
    renameSync(tmp, this.file);
  }
}
