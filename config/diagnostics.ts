/** A finding of the ADF folder validator: which file, where in it (JSON path), and what to change. */
export interface Diagnostic {
  severity: 'error' | 'warning';
  file: string;
  /** JSON path with the keys as spelled in the file, e.g. `$.properties.activities[0].typeProperties.FilePath`. */
  path: string;
  message: string;
}

export function formatDiagnostic(d: Diagnostic): string {
  return `${d.file}: ${d.path}: ${d.message}`;
}

/** Collects diagnostics for one run of the validator or loader. */
export class Diagnostics {
  readonly list: Diagnostic[] = [];

  error(file: string, path: string, message: string): undefined {
    this.list.push({ severity: 'error', file, path, message });
    return undefined;
  }

  warn(file: string, path: string, message: string): void {
    this.list.push({ severity: 'warning', file, path, message });
  }

  get errors(): Diagnostic[] {
    return this.list.filter((d) => d.severity === 'error');
  }

  get warnings(): Diagnostic[] {
    return this.list.filter((d) => d.severity === 'warning');
  }
}

/** JSON path segment for a key: `.key` when it is an identifier, `['key']` otherwise. */
export function key(path: string, k: string | number): string {
  if (typeof k === 'number') return `${path}[${k}]`;
  return /^[A-Za-z_$][A-Za-z0-9_$]*$/.test(k) ? `${path}.${k}` : `${path}['${k.replace(/'/g, "\\'")}']`;
}
