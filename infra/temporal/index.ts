/**
 * Provisions a real Temporal server for the demo, the tests and the benchmarks.
 *
 * Resolution order: TEMPORAL_ADDRESS (use it, start nothing) → TEMPORAL_CLI_PATH → `temporal` on PATH → the cached
 * binary → `go install` of the CLI from the Go module proxy → the SDK's own download. The machines reach package
 * registries only, so the Go module proxy is the path that normally works offline (see
 * docs/spec/temporal-notes.md §0–§2).
 */
export { cacheDir, ensureTemporalCli, TEMPORAL_CLI_VERSION } from './binary';
export { startTemporalServer } from './server';
export type { EnsureTemporalCliOptions, StartTemporalServerOptions, TemporalServerHandle } from './types';
