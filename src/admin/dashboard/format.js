// Numbers, times and durations as the dashboard shows them. A missing value (null, undefined, NaN) is a dash.

export const DASH = '–';

const missing = (v) => v === null || v === undefined || Number.isNaN(v);

/** requests per second */
export function rate(n) {
  if (missing(n)) return DASH;
  if (n === 0) return '0';
  return n < 10 ? n.toFixed(1) : String(Math.round(n));
}

/** a ratio 0..1 as a percentage */
export function percent(r) {
  if (missing(r)) return DASH;
  if (r === 0) return '0%';
  return `${(r * 100).toFixed(r < 0.01 ? 2 : 1)}%`;
}

/** a latency in seconds */
export function latency(s) {
  if (missing(s)) return DASH;
  if (s < 0.001) return `${(s * 1000).toFixed(2)} ms`;
  if (s < 1) return `${(s * 1000).toFixed(s < 0.01 ? 1 : 0)} ms`;
  return `${s.toFixed(2)} s`;
}

/** a duration in milliseconds */
export function duration(ms) {
  if (missing(ms)) return DASH;
  if (ms < 1000) return `${Math.round(ms)} ms`;
  if (ms < 60_000) return `${(ms / 1000).toFixed(1)} s`;
  const m = Math.floor(ms / 60_000);
  const s = Math.round((ms % 60_000) / 1000);
  return m < 60 ? `${m} min ${s} s` : `${Math.floor(m / 60)} h ${m % 60} min`;
}

/** seconds left until an ISO time (never below zero) */
export function countdown(iso, now) {
  if (!iso) return DASH;
  const left = Math.max(0, Date.parse(iso) - now);
  return `${(left / 1000).toFixed(left < 10_000 ? 1 : 0)} s`;
}

const pad = (n) => String(n).padStart(2, '0');

/** local wall-clock time of an ISO string or epoch ms: 14:03:07 */
export function clock(t) {
  if (missing(t) || t === '') return DASH;
  const d = new Date(t);
  if (Number.isNaN(d.getTime())) return DASH;
  return `${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`;
}

/** local date and time: 2025-03-01 14:03 */
export function dateTime(t) {
  if (missing(t) || t === '') return DASH;
  const d = new Date(t);
  if (Number.isNaN(d.getTime())) return DASH;
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ${pad(d.getHours())}:${pad(d.getMinutes())}`;
}

/** a count, or a dash */
export function count(n) {
  return missing(n) ? DASH : String(n);
}
