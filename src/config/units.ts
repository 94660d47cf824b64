// Durations ("500ms", "2s", "1m30s", or a number of milliseconds) and sizes ("16kb", "10mb", or bytes).
// Pure functions; they return null for text they cannot read so the schema can report the path.

const DURATION_PART = /(\d+(?:\.\d+)?)(ms|s|m|h|d)/gy;
const DURATION_MS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };

/** The longest duration baton accepts: Node's timers hold at most 2^31-1 ms (~24.8 days); a longer delay is
 *  silently turned into 1 ms (TimeoutOverflowWarning), which would make e.g. a huge drain timeout fire at once. */
export const MAX_DURATION_MS = 2 ** 31 - 1;
/** The longest "long" duration (certificate renewal windows): a year. */
export const MAX_LONG_DURATION_MS = 365 * 86_400_000;

/** Milliseconds (a whole number, at most MAX_DURATION_MS), or null for anything else. */
export function parseDuration(input: string | number): number | null {
  return parse(input, MAX_DURATION_MS, false);
}

/** Like parseDuration, with days ("30d") and up to MAX_LONG_DURATION_MS: for comparing with dates, never for a
 *  timer. */
export function parseLongDuration(input: string | number): number | null {
  return parse(input, MAX_LONG_DURATION_MS, true);
}

function parse(input: string | number, max: number, days: boolean): number | null {
  const bounded = (ms: number): number | null => (ms <= max ? ms : null);
  if (typeof input === 'number') return Number.isFinite(input) && input >= 0 ? bounded(Math.round(input)) : null;
  const text = input.trim();
  if (text === '') return null;
  if (/^\d+$/.test(text)) return bounded(Number(text));
  DURATION_PART.lastIndex = 0;
  let total = 0;
  let consumed = 0;
  for (let m = DURATION_PART.exec(text); m !== null; m = DURATION_PART.exec(text)) {
    if (m[2] === 'd' && !days) return null;
    total += Number(m[1]) * DURATION_MS[m[2]];
    consumed = DURATION_PART.lastIndex;
  }
  return consumed === text.length ? bounded(Math.round(total)) : null;
}

const SIZE = /^(\d+(?:\.\d+)?)\s*(b|kb|k|kib|mb|m|mib|gb|g|gib)?$/i;
const SIZE_BYTES: Record<string, number> = {
  b: 1,
  k: 1024,
  kb: 1024,
  kib: 1024,
  m: 1024 ** 2,
  mb: 1024 ** 2,
  mib: 1024 ** 2,
  g: 1024 ** 3,
  gb: 1024 ** 3,
  gib: 1024 ** 3,
};

export function parseSize(input: string | number): number | null {
  if (typeof input === 'number') return Number.isSafeInteger(input) && input >= 0 ? input : null;
  const m = SIZE.exec(input.trim());
  if (m === null) return null;
  return Math.floor(Number(m[1]) * SIZE_BYTES[(m[2] ?? 'b').toLowerCase()]);
}

export function formatDuration(ms: number): string {
  if (ms % 3_600_000 === 0 && ms > 0) return `${ms / 3_600_000}h`;
  if (ms % 60_000 === 0 && ms > 0) return `${ms / 60_000}m`;
  if (ms % 1000 === 0 && ms > 0) return `${ms / 1000}s`;
  return `${ms}ms`;
}
