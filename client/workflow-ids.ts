/** `20261207T184356Z`: sortable, readable in the Web UI's list, and free of characters workflow ids dislike. */
export function timestamp(d = new Date()): string {
  return d
    .toISOString()
    .replace(/[-:]/g, '')
    .replace(/\.\d+Z$/, 'Z');
}

/** The id of a run started without `--workflow-id`: `retrain-<pipeline>-<timestamp>`. */
export function runWorkflowId(pipeline: string, d = new Date()): string {
  return `retrain-${pipeline}-${timestamp(d)}`;
}
