// Reading a container's labels (pure): case-insensitive keys, trimmed values, typed getters that report a problem
// naming the label instead of throwing. Used by labels.ts and its steps.

import { parseDuration } from '../config/units.ts';
import { parseRule } from '../routing/rule.ts';

export interface Label {
  /** the key as written on the container, for problem messages */
  key: string;
  /** trimmed; never '' (an empty label counts as unset) */
  value: string;
}

/** The label families read; every other label is ignored. */
const PREFIXES = ['baton.', 'traefik.', 'com.docker.compose.'];

export class Reader {
  readonly errors: string[] = [];
  readonly notes: string[] = [];
  /** lower-cased key → label, for the baton.*, traefik.* and compose keys only */
  readonly #labels = new Map<string, Label>();

  constructor(labels: Record<string, string>) {
    for (const key of Object.keys(labels).sort()) {
      const lower = key.toLowerCase();
      if (!PREFIXES.some((p) => lower.startsWith(p))) continue;
      const raw = labels[key];
      const value = typeof raw === 'string' ? raw.trim() : '';
      if (value === '') continue;
      const prev = this.#labels.get(lower);
      if (prev === undefined) this.#labels.set(lower, { key, value });
      else if (prev.value !== value) {
        this.errors.push(`labels ${prev.key} and ${key} differ only in case but have different values`);
      }
    }
  }

  get(lowerKey: string): Label | undefined {
    return this.#labels.get(lowerKey);
  }

  /** The first of these (lower-case) keys that is set, in order of precedence. */
  first(...lowerKeys: string[]): Label | undefined {
    for (const k of lowerKeys) {
      const l = this.#labels.get(k);
      if (l !== undefined) return l;
    }
    return undefined;
  }

  entries(): IterableIterator<[string, Label]> {
    return this.#labels.entries();
  }

  error(label: Label, message: string): undefined {
    this.errors.push(`${label.key}: ${message}`);
    return undefined;
  }

  bool(label: Label | undefined): boolean | undefined {
    if (label === undefined) return undefined;
    const v = label.value.toLowerCase();
    if (v === 'true') return true;
    if (v === 'false') return false;
    return this.error(label, `expected true or false, got ${JSON.stringify(label.value)}`);
  }

  int(label: Label | undefined, min: number, max: number, what = 'a whole number'): number | undefined {
    if (label === undefined) return undefined;
    const n = /^[+-]?\d+$/.test(label.value) ? Number(label.value) : NaN;
    if (!Number.isSafeInteger(n) || n < min || n > max) {
      const range = Number.isFinite(min) && Number.isFinite(max) ? ` from ${min} to ${max}` : '';
      return this.error(label, `expected ${what}${range}, got ${JSON.stringify(label.value)}`);
    }
    return n;
  }

  port(label: Label | undefined): number | undefined {
    return this.int(label, 1, 65535, 'a port');
  }

  /**
   * Milliseconds. baton labels read like the config file ("500ms", "2s", bare number = ms); Traefik labels are Go
   * durations, where a bare number means seconds (as Traefik reads them).
   */
  duration(label: Label | undefined, opts: { positive?: boolean } = {}): number | undefined {
    if (label === undefined) return undefined;
    const traefik = label.key.toLowerCase().startsWith('traefik.');
    const text = traefik && /^\d+$/.test(label.value) ? `${label.value}s` : label.value;
    const ms = parseDuration(text);
    if (ms === null) {
      const hint = traefik ? 'e.g. "10s", "500ms" or seconds' : 'e.g. "500ms", "2s", "1m" or milliseconds';
      return this.error(label, `invalid duration ${JSON.stringify(label.value)} (${hint})`);
    }
    if (opts.positive && ms === 0) return this.error(label, 'must be more than 0');
    return ms;
  }

  /** Checks a rule with baton's parser; false (and a problem naming the label) if it does not parse. */
  rule(label: Label | null, rule: string): boolean {
    try {
      parseRule(rule);
      return true;
    } catch (err) {
      const why = err instanceof Error ? err.message : String(err);
      const shown = label === null || label.value !== rule ? ` ${JSON.stringify(rule)}` : '';
      this.errors.push(`${label === null ? 'rule' : label.key}: invalid rule${shown}: ${why}`);
      return false;
    }
  }
}
