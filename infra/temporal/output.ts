export type Log = (line: string) => void;
export const noLog: Log = () => undefined;

/** Progress lines come at least this often during long waits, so a first-time build never looks hung. */
export const PROGRESS_INTERVAL_MS = 10_000;
export const OUTPUT_TAIL_LINES = 30;

/**
 * The first and last lines of a process's output, for error messages: the cause is often the first line (a flag
 * error followed by a long usage text) or the last one (a bind error), rarely in between.
 */
export class LineTail {
  private readonly head: string[] = [];
  private readonly tail: string[] = [];
  private omitted = 0;
  constructor(
    private readonly max: number,
    private readonly headMax = 8,
  ) {}
  push(raw: string): void {
    const line = raw.length > 1000 ? `${raw.slice(0, 1000)}…` : raw;
    if (this.head.length < this.headMax) {
      this.head.push(line);
      return;
    }
    this.tail.push(line);
    if (this.tail.length > this.max) {
      this.tail.shift();
      this.omitted++;
    }
  }
  text(): string {
    if (this.head.length === 0) return '(no output)';
    const gap = this.omitted ? [`… ${this.omitted} lines omitted …`] : [];
    return [...this.head, ...gap, ...this.tail].join('\n');
  }
}

export function errorMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
