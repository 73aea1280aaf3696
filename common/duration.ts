/** ADF timespan `[d.]hh:mm:ss` (e.g. `0.12:00:00`, `7.00:00:00`, `02:00:00`) to milliseconds. */
export function parseAdfTimespan(value: string): number | undefined {
  const m = /^(?:(\d+)\.)?(\d{1,2}):([0-5]?\d|60):([0-5]?\d|60)$/.exec(value.trim());
  if (!m) return undefined;
  const [, d, h, min, s] = m;
  return (((Number(d ?? 0) * 24 + Number(h)) * 60 + Number(min)) * 60 + Number(s)) * 1000;
}
