/** Wall-clock time in an IANA zone, through Intl (the zone data Node ships), without a time-zone library. */

/** Wall-clock fields of a local time in a zone. */
export interface Local {
  y: number;
  mo: number;
  d: number;
  h: number;
  mi: number;
  s: number;
}

export function localIn(zone: string, utcMs: number): Local {
  const parts = new Intl.DateTimeFormat('en-US', {
    timeZone: zone,
    hourCycle: 'h23',
    year: 'numeric',
    month: 'numeric',
    day: 'numeric',
    hour: 'numeric',
    minute: 'numeric',
    second: 'numeric',
  }).formatToParts(new Date(utcMs));
  const get = (t: string) => Number(parts.find((p) => p.type === t)?.value);
  return { y: get('year'), mo: get('month'), d: get('day'), h: get('hour') % 24, mi: get('minute'), s: get('second') };
}

/** UTC instant of a wall-clock time in a zone (the earlier one when ambiguous, shifted forward when skipped). */
export function zonedToUtc(l: Local, zone: string): Date {
  const asUtc = Date.UTC(l.y, l.mo - 1, l.d, l.h, l.mi, l.s);
  let guess = asUtc;
  for (let i = 0; i < 3; i++) {
    const seen = localIn(zone, guess);
    const diff = Date.UTC(seen.y, seen.mo - 1, seen.d, seen.h, seen.mi, seen.s) - asUtc;
    if (diff === 0) break;
    guess -= diff;
  }
  return new Date(guess);
}

export function isIana(zone: string): boolean {
  try {
    new Intl.DateTimeFormat('en-US', { timeZone: zone });
    return true;
  } catch {
    return false;
  }
}
