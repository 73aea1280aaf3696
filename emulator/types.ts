/**
 * Public contract of the ML Studio (classic) emulator. The product's activities never import this: they speak the
 * real REST contracts. Tests, the demo and `npm run emulator` use it to start, steer and inspect the emulator.
 */

/** A fault applied to matching requests. Route names: see {@link EmulatorRoute}. */
export interface FaultRule {
  /** Which routes this rule applies to; omitted or `'*'` means every route. */
  routes?: EmulatorRoute[] | '*';
  /** Probability in [0, 1] that a matching request is hit (deterministic for a given seed). Default 1. */
  probability?: number;
  /** Apply to at most this many requests, then the rule is spent. Default unlimited. */
  count?: number;
  kind:
    | { type: 'latency'; ms: number }
    | { type: 'status'; status: 429; retryAfterSeconds: number }
    | {
        type: 'status';
        status: 500 | 503;
        /** Added: optional Retry-After on 500/503 (the runtime's documented throttling is a bare 503). */
        retryAfterSeconds?: number;
      }
    | {
        type: 'reset';
        /**
         * Added. 'before' (default): drop the connection without handling the request. 'after': handle it (the
         * job is submitted, the PATCH applied) and then drop the connection, so the client cannot know it worked.
         */
        phase?: 'before' | 'after';
      };
}

export type EmulatorRoute =
  | 'bes.submit'
  | 'bes.start'
  | 'bes.status'
  | 'bes.cancel'
  | 'bes.swagger'
  | 'rrs.execute'
  | 'classic.get'
  | 'classic.patch'
  | 'arm.get'
  | 'arm.put'
  | 'arm.patch'
  | 'arm.listKeys'
  | 'arm.operation'
  | 'token'
  // Added routes:
  /** Classic management PUT of a new endpoint. */
  | 'classic.put'
  /** ARM DELETE of a web service. */
  | 'arm.delete'
  /** ARM list by resource group / subscription. */
  | 'arm.list'
  /** Entra metadata: openid-configuration, instance discovery, keys (not `token`, so a token 429 leaves MSAL's discovery alone). */
  | 'entra.metadata'
  /** Key Vault `GET /secrets/{name}[/{version}]`. */
  | 'keyvault.getSecret';

export interface JobFaultOptions {
  /** Make the next N jobs (or jobs of one service) end Failed with these Details. */
  failNext?: { count?: number; details: string; serviceId?: string };
  /** Extra running time for the next N jobs. */
  slowNext?: { count?: number; extraMs: number; serviceId?: string };
  /** Added: evaluation metrics the next N training jobs write into their .csv output (quality-gate tests). */
  metricsNext?: { count?: number; metrics: Record<string, number>; serviceId?: string };
  /**
   * Added: the next N training jobs produce a model that loads but cannot score: an update to it is accepted, and
   * every scoring call (RRS) while it is live answers 500 (verification and rollback tests).
   */
  brokenNext?: { count?: number; serviceId?: string };
}

export interface EmulatorOptions {
  /** HTTPS port for all emulated APIs (BES, classic management, ARM, Entra). 0 = pick a free one. */
  port?: number;
  /** Attach to an Azurite that is already running instead of starting one. */
  azurite?: { connectionString: string };
  /** Persist jobs, web services and endpoints here; memory only when omitted. */
  stateDir?: string;
  /**
   * Sign the TLS leaf certificate with this CA instead of generating a fresh self-signed CA. Lets a parent process
   * put the CA in NODE_EXTRA_CA_CERTS before children start. Also read from ML_EMULATOR_CA_DIR (ca.pem + ca.key).
   */
  ca?: { certPem: string; keyPem: string };
  /** Directory for generated files (CA file, Azurite data when started). A temp dir when omitted. */
  workDir?: string;
  jobs?: {
    /** Time a started job spends Running before it ends. Default 3000 ms. */
    runningMs?: number;
    /** 'string' (default, BESSW) or 'integer' (0-4, older services). */
    statusCodeFormat?: 'string' | 'integer';
    /** Lifetime of SAS tokens in Results. Default 24 h. */
    sasTtlSeconds?: number;
    /** Evaluation metrics written to the .csv output. Default { AUC: 0.91, Accuracy: 0.87 }. */
    metrics?: Record<string, number>;
    /**
     * Added [I] (docs/spec/ml-studio-classic-api.md §2.3): when a missing input blob is reported. 'run' (default, the spec's suggestion): the job
     * is accepted and ends Failed with BlobNotFound in Details. 'submit': 400 BadArgument/BlobNotFound at submit.
     */
    inputBlobCheck?: 'run' | 'submit';
    /** Added [I] (docs/spec/ml-studio-classic-api.md §2.8): also reject input blobs without a .csv/.tsv/.arff extension. Default true. */
    checkInputExtensions?: boolean;
    /**
     * Added [I]: reject output blobs without the extension of their port (.ilearner for models, .csv/.tsv/.arff for
     * datasets). Default true, as BES; false lets the ADF docs' own sample (bare folder paths) run.
     */
    checkOutputExtensions?: boolean;
  };
  classic?: {
    /** Delay before a PATCHed model serves scoring calls. Default 0 (the real service took ~30 s). */
    activationDelayMs?: number;
    /** 200 (default) or 204. */
    patchSuccessStatus?: 200 | 204;
    /** Added [I] (docs/spec/ml-studio-classic-api.md §3.5): error for a PATCH of the default endpoint. Default 400 BadArgument. */
    defaultEndpointPatchError?: { status: number; code: string };
    /** Added [I] (docs/spec/ml-studio-classic-api.md §3.5): error for an unknown resource Name. Default 400 BadArgument. */
    unknownResourceError?: { status: number; code: string };
    /** Added [I]: error when the blob is not readable through the given SAS. Default 400 BadArgument. */
    unreadableBlobError?: { status: number; code: string };
  };
  arm?: {
    /** Time a PUT/PATCH stays Provisioning. Default 1500 ms. */
    provisioningMs?: number;
    /** Added [I] (docs/spec/ml-studio-classic-api.md §4.5, open question 9): PATCH merges the `assets` map by key (default) or replaces it. */
    assetsPatch?: 'merge' | 'replace';
    /** Added: false makes every ARM call 403 AuthorizationFailed (principal without Contributor/Owner). */
    principalHasRole?: boolean;
  };
  token?: {
    /** Access-token lifetime. Default 3599 s. */
    lifetimeSeconds?: number;
  };
  /** Seed for fault probabilities and generated ids. */
  seed?: number;
  faults?: FaultRule[];
  /** Print a line per request to stderr (secrets masked). */
  verbose?: boolean;
  /** Added: names of the seeded topology (defaults: the ADF "update machine learning models" sample). */
  topology?: {
    /** Tenant domain accepted besides the generated tenant GUID. Default 'mycompany.com'. */
    tenantDomain?: string;
    resourceGroup?: string;
    /** ARM location display name. Default 'South Central US'. */
    region?: string;
    armWebServiceName?: string;
    trainedModelName?: string;
    classicEndpointName?: string;
  };
  /** Added: where the request log is capped (oldest dropped). Default 10000. */
  maxLoggedRequests?: number;
  /**
   * Added: Key Vault secrets served at `GET {url}/secrets/{name}` (name → value; more with `keyVault.setSecret`). The
   * vault is always on; `writeConfig(dir, { secrets: 'keyVault' })` puts the linked services' secrets in it.
   */
  keyVault?: { secrets?: Record<string, string> };
}

/** Added: options of `writeConfig`. */
export interface WriteConfigOptions {
  /**
   * 'inline' (default): keys as SecureString values in the linked services. 'keyVault': an AzureKeyVault linked
   * service `keyVault` pointing at the emulator, and every key (apiKey, servicePrincipalKey, the storage account key)
   * as an AzureKeyVaultSecret reference to a secret the emulator serves. The worker then needs AZURE_TENANT_ID,
   * AZURE_CLIENT_ID and AZURE_CLIENT_SECRET of the emulator's service principal (see `identity`, `keys`).
   */
  secrets?: 'inline' | 'keyVault';
}

/** ADF v2 linked-service JSON, as found in an ADF git folder (`linkedService/<name>.json`). */
export interface AdfLinkedServiceJson {
  name: string;
  type?: string;
  properties: { type: string; typeProperties: Record<string, unknown>; description?: string };
}

export interface EmulatedJob {
  jobId: string;
  /** `workspaces/{ws}/services/{id}` or `subscriptions/{sub}/services/{id}`. */
  service: string;
  status: 'NotStarted' | 'Running' | 'Failed' | 'Cancelled' | 'Finished';
  submitted: number;
  started: number;
  cancelled: number;
  details: string | null;
  outputs: Record<string, { container: string; blobName: string }>;
  createdAt: string;
  // Added:
  /** Runtime service id (the `{id}` in `.../services/{id}`). */
  serviceId: string;
  startedAt: string | null;
  endedAt: string | null;
  /** Metrics written to the evaluation output (training jobs). */
  metrics: Record<string, number> | null;
}

export interface EmulatedUpdate {
  at: string;
  kind: 'classic' | 'arm';
  /** Classic: `{ws}/{webServiceId}/{endpointName}`; ARM: the resource id. */
  target: string;
  resourceName: string;
  /** Model identity read from the ilearner blob (the BES job id that produced it). */
  modelJobId: string | null;
  blobUrl: string;
}

export interface EmulatorInspection {
  jobs: EmulatedJob[];
  updates: EmulatedUpdate[];
  /** Model live on each scoring target (classic endpoint or ARM web service): the job id that produced it. */
  liveModels: Record<string, string | null>;
  requests: {
    at: string;
    method: string;
    /** Path and query, secrets masked. */
    path: string;
    route: string | null;
    /** 0 when the connection was reset. */
    status: number;
    // Added:
    /** Arrival time in epoch ms (to check that retries honoured Retry-After). */
    atMs: number;
    durationMs: number;
    /** Fault applied, e.g. '429', 'reset', 'latency:200'. */
    fault: string | null;
  }[];
  /** Added: the seed in use (the random one when none was given), to replay a run. */
  seed: number;
}

export interface EmulatorHandle {
  /** https://127.0.0.1:PORT */
  url: string;
  urls: {
    /** BES base of the training service (classic URL shape), `.../jobs` appended by clients. */
    trainingBes: string;
    /** BES base of the training service in the ARM (subscription) URL shape. */
    trainingBesArmShape: string;
    /** Classic management URL of the scoring service's non-default endpoint. */
    classicUpdateResource: string;
    /** RRS execute URL of the classic non-default endpoint. */
    classicScore: string;
    /** ARM resource URL of the scoring web service, with ?api-version=2016-05-01-preview. */
    armUpdateResource: string;
    /** RRS execute URL of the ARM scoring service. */
    armScore: string;
    /** Value for AZURE_AUTHORITY_HOST. */
    authorityHost: string;
    /** Azurite blob endpoint, e.g. http://127.0.0.1:10000/account */
    blobEndpoint: string;
    // Added:
    /** BES base of the classic scoring service's non-default endpoint. */
    classicRetrainBes: string;
    /** BES base, management URL and RRS URL of the classic scoring service's default endpoint. */
    classicDefaultBes: string;
    classicDefaultUpdateResource: string;
    classicDefaultScore: string;
    /** BES base of the ARM scoring service (subscription URL shape). */
    armBes: string;
  };
  /** The four linked services described in the issue, keyed by name. Contains secrets: never log. */
  linkedServices: Record<string, AdfLinkedServiceJson>;
  /** AZURE_AUTHORITY_HOST and NODE_EXTRA_CA_CERTS for child processes. */
  env: Record<string, string>;
  caFile: string;
  storage: { connectionString: string; accountName: string; blobEndpoint: string };
  /** Tenant, client id and subscription the emulator accepts (the secret is in linkedServices). */
  identity: { tenant: string; clientId: string; subscriptionId: string; resourceGroup: string };
  // Added:
  /** Generated ids of the seeded topology. */
  ids: {
    workspaceId: string;
    trainingServiceId: string;
    classicWebServiceId: string;
    classicDefaultEndpointId: string;
    classicRetrainEndpointId: string;
    armServiceId: string;
    armResourceId: string;
    /** Tenant GUID (identity.tenant is the domain; both are accepted). */
    tenantId: string;
    trainedModelName: string;
    classicEndpointName: string;
  };
  /** Keys of every seeded endpoint and the workspace token. Contains secrets: never log. */
  keys: {
    workspaceToken: string;
    training: { primary: string; secondary: string };
    classicDefault: { primary: string; secondary: string };
    classicRetrain: { primary: string; secondary: string };
    arm: { primary: string; secondary: string };
    clientSecret: string;
  };
  inspect(): EmulatorInspection;
  setFaults(rules: FaultRule[]): void;
  setJobFaults(opts: JobFaultOptions): void;
  /** Write linkedService/*.json and emulator.env into dir. */
  writeConfig(dir: string, options?: WriteConfigOptions): Promise<void>;
  /** Added: the emulated Key Vault. */
  keyVault: {
    /** Vault base URL (the emulator URL): the AzureKeyVault linked service's `baseUrl`. */
    url: string;
    /** Add a new version of a secret (it becomes the latest); returns the version id. */
    setSecret(name: string, value: string): string;
  };
  close(): Promise<void>;
}
