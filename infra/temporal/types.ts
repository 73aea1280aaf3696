/** What the demo, the tests and the benchmarks hold on to: a server they started, or one TEMPORAL_ADDRESS names. */
export interface TemporalServerHandle {
  /** `host:port` of the frontend gRPC service. */
  address: string;
  namespace: string;
  uiUrl?: string;
  metricsUrl?: string;
  /** PID of the server process, which leads its own process group. Absent for external or SDK-managed servers. */
  pid?: number;
  /** True when TEMPORAL_ADDRESS pointed at a server we did not start; `stop()` then leaves it alone. */
  external: boolean;
  /** Resolves when a server we started has exited, for whatever reason (stop(), kill -9, crash). */
  exited?: Promise<void>;
  stop(): Promise<void>;
}

export interface EnsureTemporalCliOptions {
  log?: (line: string) => void;
}

export interface StartTemporalServerOptions {
  /** Frontend gRPC port. Default: a free port P such that P+1000 is free too. */
  port?: number;
  /** Web UI port. Default: port + 1000. */
  uiPort?: number;
  headless?: boolean;
  /** SQLite file that keeps state across restarts. Default: in-memory, lost on exit. */
  dbFilename?: string;
  namespace?: string;
  log?: (line: string) => void;
  /** Appended to `temporal server start-dev` (e.g. `--sqlite-pragma journal_mode=WAL`). */
  extraArgs?: string[];
  /** How long to wait for the server to answer and show the search attributes. Default 60 s. */
  readyTimeoutMs?: number;
}
