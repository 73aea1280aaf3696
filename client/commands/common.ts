import { Client, Connection, ScheduleNotFoundError, WorkflowNotFoundError } from '@temporalio/client';
import { loadClientConnectConfig } from '@temporalio/envconfig';
import type { Command } from 'commander';

/**
 * Plumbing shared by the `retrain` sub-commands: where output goes, how to reach Temporal, how errors read.
 * Every command module exports one `registerXxx(program, io)`, so client/cli.ts registers each with one line.
 */

export interface CliIO {
  /** Results (tables, ids, JSON): stdout. */
  out: (line: string) => void;
  /** Progress, notes and errors: stderr. */
  err: (line: string) => void;
}

/** An expected failure with a message meant for the operator: printed as one line, no stack trace. */
export class CliError extends Error {
  override name = 'CliError';
}

/** Where the client connects, for messages: the envconfig profile or environment decides it. */
export function temporalTarget(): { address: string; namespace: string } {
  const { connectionOptions, namespace } = loadClientConnectConfig();
  return { address: connectionOptions.address ?? 'localhost:7233', namespace: namespace ?? 'default' };
}

/**
 * A client from @temporalio/envconfig: TEMPORAL_ADDRESS / NAMESPACE / API_KEY / TLS_* or a TOML profile
 * (TEMPORAL_CONFIG_FILE, TEMPORAL_PROFILE), the same sources the worker and the `temporal` CLI read.
 */
export async function connectClient(): Promise<Client> {
  const { connectionOptions, namespace } = loadClientConnectConfig();
  try {
    const connection = await Connection.connect(connectionOptions);
    return new Client({ connection, namespace });
  } catch (e) {
    throw new CliError(
      `cannot reach Temporal at ${connectionOptions.address ?? 'localhost:7233'}: ${firstLine(e)} ` +
        `(set TEMPORAL_ADDRESS or a TEMPORAL_PROFILE)`,
    );
  }
}

/** Run `fn` with a connected client and always close the connection, so the process can exit. */
export async function withClient<T>(fn: (client: Client) => Promise<T>): Promise<T> {
  const client = await connectClient();
  try {
    return await fn(client);
  } finally {
    await client.connection.close();
  }
}

function firstLine(e: unknown): string {
  const text = e instanceof Error ? e.message : String(e);
  return text.split('\n')[0];
}

/** One line an operator can act on, for any error a command throws. */
export function describeError(e: unknown): string {
  // A config error lists every problem (file: JSON path: message); the first line alone names none of them.
  const problems = (e as { problems?: unknown }).problems;
  if (e instanceof Error && e.name === 'ConfigError' && Array.isArray(problems) && problems.length) {
    return `${e.message.split('\n')[0]}\n  ${problems.join('\n  ')}`;
  }
  if (e instanceof WorkflowNotFoundError) return `no run with workflow id '${e.workflowId}'`;
  if (e instanceof ScheduleNotFoundError) return `no schedule with id '${e.scheduleId}'`;
  const grpc = e as { code?: number; details?: string };
  // gRPC INVALID_ARGUMENT from visibility usually means an unknown search attribute or a bad query.
  if (grpc.code === 3 && grpc.details) return `Temporal refused the request: ${grpc.details}`;
  return firstLine(e);
}

export function addExamples(cmd: Command, examples: string[]): Command {
  return cmd.addHelpText('after', `\nExamples:\n${examples.map((e) => `  ${e}`).join('\n')}`);
}

export function taskQueueDefault(): string {
  return process.env.TEMPORAL_TASK_QUEUE ?? 'ml-retrain';
}

// ---- formatting ---------------------------------------------------------------------------------------------------

/** `2024-01-01 02:30:00` in UTC: sortable, and the same on every operator's machine. */
export function formatTime(d: Date | string | null | undefined): string {
  if (!d) return '-';
  const date = typeof d === 'string' ? new Date(d) : d;
  if (Number.isNaN(date.getTime())) return '-';
  return date
    .toISOString()
    .replace('T', ' ')
    .replace(/\.\d+Z$/, 'Z');
}

/** `850ms`, `12s`, `3m 05s`, `2h 03m`: as short as still exact enough to read. */
export function formatDuration(ms: number | null | undefined): string {
  if (ms === null || ms === undefined || !Number.isFinite(ms)) return '-';
  if (ms < 1000) return `${Math.round(ms)}ms`;
  const s = Math.floor(ms / 1000);
  if (s < 60) return `${s}s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m}m ${String(s % 60).padStart(2, '0')}s`;
  const h = Math.floor(m / 60);
  return `${h}h ${String(m % 60).padStart(2, '0')}m`;
}

export function truncate(text: string, max: number): string {
  return text.length <= max ? text : `${text.slice(0, Math.max(0, max - 1))}…`;
}

/** A plain left-aligned text table: no colours, so it reads the same in a terminal, a log and a test. */
export function renderTable(headers: string[], rows: string[][]): string[] {
  const widths = headers.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: string[]) =>
    cells
      .map((c, i) => (i === cells.length - 1 ? c : c.padEnd(widths[i])))
      .join('  ')
      .trimEnd();
  return [line(headers), line(widths.map((w) => '-'.repeat(w))), ...rows.map(line)];
}

export function parseJsonOption(value: string, what: string): unknown {
  try {
    return JSON.parse(value) as unknown;
  } catch (e) {
    throw new CliError(`${what} is not valid JSON: ${(e as Error).message}`);
  }
}
