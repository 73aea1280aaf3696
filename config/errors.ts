/** A configuration that cannot be used, with every problem found (one `file: path: message` line each). */
export class ConfigError extends Error {
  constructor(
    message: string,
    readonly problems: string[] = [message],
  ) {
    super(message);
    this.name = 'ConfigError';
  }
}
