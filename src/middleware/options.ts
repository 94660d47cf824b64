// Middleware options as Traefik users write them, from labels or from YAML, read by one declarative spec per
// middleware type (pure). Option names match case-insensitively (Traefik's labels and file provider do), values
// follow Traefik's conventions: lists are comma-separated in labels, durations are Go durations ("100ms", "1m30s")
// or a number of seconds, booleans are true/false. Every problem is collected with the option's path.

/** One option: how to read its raw value, and its default (undefined: optional, absent). */
export interface Field<T> {
  read(raw: unknown, at: string, errors: string[]): T | undefined;
  fallback: T | undefined;
  /** a nested object's fields (for unknown-key checks and error paths) */
  fields?: Spec;
}

export type Spec = Record<string, Field<unknown>>;

/** The options object a spec reads. */
export type Options<S extends Spec> = {
  [K in keyof S]: S[K] extends Field<infer T> ? T : never;
};

const describe = (v: unknown): string => JSON.stringify(v) ?? String(v);

function scalar(raw: unknown): string | undefined {
  if (typeof raw === 'string') return raw;
  if (typeof raw === 'number' || typeof raw === 'boolean') return String(raw);
  return undefined;
}

function field<T>(fallback: T | undefined, read: Field<T>['read']): Field<T> {
  return { read, fallback };
}

/** A text option. */
export function str(fallback?: string): Field<string> {
  return field(fallback, (raw, at, errors) => {
    const s = scalar(raw);
    if (s === undefined) errors.push(`${at}: expected a text value, got ${describe(raw)}`);
    return s;
  });
}

/** One of the listed values (matched case-insensitively, returned as listed). */
export function oneOf<T extends string>(values: readonly T[], fallback?: T): Field<T> {
  return field(fallback, (raw, at, errors) => {
    const s = scalar(raw)?.trim().toLowerCase();
    const v = values.find((x) => x.toLowerCase() === s);
    if (v === undefined) errors.push(`${at}: expected one of ${values.join(', ')}, got ${describe(raw)}`);
    return v;
  });
}

export function bool(fallback?: boolean): Field<boolean> {
  return field(fallback, (raw, at, errors) => {
    if (typeof raw === 'boolean') return raw;
    const s = scalar(raw)?.trim().toLowerCase();
    if (s === 'true') return true;
    if (s === 'false') return false;
    errors.push(`${at}: expected true or false, got ${describe(raw)}`);
    return undefined;
  });
}

/** A whole number within [min, max]. */
export function int(fallback?: number, min = -Number.MAX_SAFE_INTEGER, max = Number.MAX_SAFE_INTEGER): Field<number> {
  return field(fallback, (raw, at, errors) => {
    const s = scalar(raw)?.trim();
    const n = s !== undefined && /^-?\d+$/.test(s) ? Number(s) : NaN;
    if (!Number.isSafeInteger(n) || n < min || n > max) {
      errors.push(`${at}: expected a whole number from ${min} to ${max}, got ${describe(raw)}`);
      return undefined;
    }
    return n;
  });
}

/** A number (decimals allowed) within [min, max]. */
export function num(fallback?: number, min = -Number.MAX_VALUE, max = Number.MAX_VALUE): Field<number> {
  return field(fallback, (raw, at, errors) => {
    const s = scalar(raw)?.trim();
    const n = s !== undefined && /^-?\d+(\.\d+)?$/.test(s) ? Number(s) : NaN;
    if (!Number.isFinite(n) || n < min || n > max) {
      errors.push(`${at}: expected a number from ${min} to ${max}, got ${describe(raw)}`);
      return undefined;
    }
    return n;
  });
}

const GO_UNITS: Record<string, number> = { ns: 1e-6, us: 1e-3, µs: 1e-3, ms: 1, s: 1000, m: 60_000, h: 3_600_000 };
/** The longest duration a timer can hold (Node turns longer ones into 1 ms). */
const MAX_MS = 2 ** 31 - 1;

/** Traefik's duration (ptypes.Duration): a number of seconds, or a Go duration ("100ms", "1m30s", "1.5h"), in ms;
 *  null for anything else. */
export function traefikDuration(raw: unknown): number | null {
  const s = scalar(raw)?.trim();
  if (s === undefined || s === '') return null;
  let ms: number;
  if (/^\d+(\.\d+)?$/.test(s)) ms = Number(s) * 1000;
  else {
    const re = /(\d+(?:\.\d+)?|\.\d+)(ns|us|µs|ms|s|m|h)/gy;
    ms = 0;
    let end = 0;
    for (let m = re.exec(s); m !== null; m = re.exec(s)) {
      ms += Number(m[1]) * GO_UNITS[m[2]];
      end = re.lastIndex;
    }
    if (end !== s.length) return null;
  }
  return ms <= MAX_MS ? ms : null;
}

/** A duration in milliseconds (Traefik's conventions, see traefikDuration); `positive`: more than zero. */
export function duration(fallback?: number, positive = false): Field<number> {
  return field(fallback, (raw, at, errors) => {
    const ms = traefikDuration(raw);
    if (ms === null || (positive && ms <= 0)) {
      const what = positive ? 'a duration above zero' : 'a duration';
      errors.push(`${at}: expected ${what} such as "100ms", "10s" or a number of seconds, got ${describe(raw)}`);
      return undefined;
    }
    return ms;
  });
}

/** A list of texts: a YAML list, or comma-separated (labels). Empty items are dropped. */
export function list(fallback?: string[]): Field<string[]> {
  return field(fallback, (raw, at, errors) => {
    const items = Array.isArray(raw) ? raw.map(scalar) : scalar(raw)?.split(',');
    if (items === undefined || items.some((x) => x === undefined)) {
      errors.push(`${at}: expected a list (or comma-separated text), got ${describe(raw)}`);
      return undefined;
    }
    return (items as string[]).map((x) => x.trim()).filter((x) => x !== '');
  });
}

/** A list of whole numbers within [min, max]. */
export function intList(fallback?: number[], min = 0, max = Number.MAX_SAFE_INTEGER): Field<number[]> {
  const texts = list();
  return field(fallback, (raw, at, errors) => {
    const items = texts.read(raw, at, errors);
    if (items === undefined) return undefined;
    const out = items.map(Number);
    if (out.some((n, i) => !/^-?\d+$/.test(items[i]) || n < min || n > max)) {
      errors.push(`${at}: expected whole numbers from ${min} to ${max}, got ${describe(raw)}`);
      return undefined;
    }
    return out;
  });
}

/** Name → text (header maps): names keep their case; values may be "" (Traefik: remove that header). */
export function textMap(fallback?: Record<string, string>): Field<Record<string, string>> {
  return field(fallback, (raw, at, errors) => {
    if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) {
      errors.push(`${at}: expected names with values, got ${describe(raw)}`);
      return undefined;
    }
    const out: Record<string, string> = {};
    for (const [k, v] of Object.entries(raw)) {
      const s = v === null ? '' : scalar(v);
      if (s === undefined) errors.push(`${at}.${k}: expected a text value, got ${describe(v)}`);
      else out[k] = s;
    }
    return out;
  });
}

/** A nested group of options (e.g. ipStrategy). Absent: its fields' defaults when `always`, else undefined. */
export function group<S extends Spec>(fields: S, always = false): Field<Options<S>> {
  const f: Field<Options<S>> = {
    fallback: always ? (readOptions(fields, {}, '', []) as Options<S>) : undefined,
    fields,
    read: (raw, at, errors) => {
      if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) {
        errors.push(`${at}: expected a group of options, got ${describe(raw)}`);
        return undefined;
      }
      return readOptions(fields, raw as Record<string, unknown>, at, errors);
    },
  };
  return f;
}

/**
 * Reads `raw` (option names in any case) by `spec`: each option's value or default. Unknown options are problems
 * (a typo must not silently change nothing). Returns undefined fields for absent options without a default.
 */
export function readOptions<S extends Spec>(
  spec: S,
  raw: Record<string, unknown>,
  at: string,
  errors: string[],
): Options<S> {
  const byLower = new Map(Object.keys(spec).map((k) => [k.toLowerCase(), k]));
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(raw)) {
    const name = byLower.get(k.toLowerCase());
    const path = at === '' ? k : `${at}.${k}`;
    if (name === undefined) {
      errors.push(`${path}: unknown option (known: ${Object.keys(spec).join(', ') || 'none'})`);
      continue;
    }
    if (name in out) {
      errors.push(`${path}: set twice (option names are case-insensitive)`);
      continue;
    }
    const value = spec[name].read(v, path, errors);
    if (value !== undefined) out[name] = value;
  }
  for (const [name, f] of Object.entries(spec)) {
    if (!(name in out) && f.fallback !== undefined) out[name] = structuredClone(f.fallback);
  }
  return out as Options<S>;
}
