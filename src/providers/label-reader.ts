// Reading a container's labels (pure): case-insensitive keys, trimmed values, typed getters that report a problem
// naming the label instead of throwing. Used by labels.ts and its steps.

import { tlsDomainSchema, type TlsDomain } from '../config/tls-schema.ts';
import { parseDuration } from '../config/units.ts';
import { parseRule } from '../routing/rule.ts';

export interface Label {
  /** the key as written on the container, for problem messages */
  key: string;
  /** trimmed; never '' (an empty label counts as unset), except for a middleware option (OPTION_KEYS) */
  value: string;
}

/** The label families read; every other label is ignored. */
const PREFIXES = ['baton.', 'traefik.', 'com.docker.compose.', 'com.docker.stack.'];
/** Middleware options, where an empty value means something (Traefik: `customrequestheaders.X-Foo=` removes it). */
const OPTION_KEYS = ['baton.middlewares.', 'traefik.http.middlewares.'];
/** Entrypoint, certificate resolver and TLS options names, as the config file spells them. */
const NAME = /^[A-Za-z0-9_-]+$/;
/** What may follow a TLS label prefix (lower-cased): Traefik's router `tls` fields. */
const TLS_FIELD = /^tls(?:\.certresolver|\.options|\.domains\[(0|[1-9]\d*)\]\.(main|sans))?$/;
/** The config file's rule for a certificate's DNS names (normalised: lower case, no trailing dot). */
const DOMAIN_NAME = tlsDomainSchema.shape.main;

/** A route's TLS as labels give it (a RouteTls of the config schema). */
export interface TlsLabels {
  certResolver?: string;
  domains: TlsDomain[];
  options?: string;
}

export class Reader {
  readonly errors: string[] = [];
  readonly notes: string[] = [];
  /** lower-cased key → label, for the baton.*, traefik.*, compose and stack keys only */
  readonly #labels = new Map<string, Label>();

  constructor(labels: Record<string, string>) {
    for (const key of Object.keys(labels).sort()) {
      const lower = key.toLowerCase();
      if (!PREFIXES.some((p) => lower.startsWith(p))) continue;
      const raw = labels[key];
      const value = typeof raw === 'string' ? raw.trim() : '';
      if (value === '' && !OPTION_KEYS.some((p) => lower.startsWith(p))) continue;
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

  /** A name (entrypoint, certificate resolver, TLS options); if `known` is given, one of those. */
  name(label: Label, value: string, what: string, known?: readonly string[]): string | undefined {
    if (!NAME.test(value)) {
      return this.error(label, `${what} names are letters, digits, '_' and '-', got ${JSON.stringify(value)}`);
    }
    if (known !== undefined && !known.includes(value)) {
      const list = [...known].sort().join(', ') || 'none';
      return this.error(label, `${what} ${JSON.stringify(value)} does not exist; known: ${list}`);
    }
    return value;
  }

  /** A comma-separated list of names, each checked as by name(); duplicates dropped. */
  names(label: Label | undefined, what: string, known?: readonly string[]): string[] | undefined {
    if (label === undefined) return undefined;
    const names: string[] = [];
    let ok = true;
    for (const item of label.value.split(',')) {
      const name = this.name(label, item.trim(), what, known);
      if (name === undefined) ok = false;
      else if (!names.includes(name)) names.push(name);
    }
    return ok ? names : undefined;
  }

  /**
   * The TLS labels after `prefix` (`baton.` or `traefik.http.routers.<r>.`): `tls=true|false`, `tls.certresolver`,
   * `tls.options`, `tls.domains[n].main` and `.sans` (comma-separated). null if none is set, false for `tls=false`.
   * As in Traefik, where any tls.* label creates the router's tls section, each of them turns TLS on without
   * `tls=true`; `tls=false` next to one is a contradiction, hence a problem. Unknown tls.* fields are problems too
   * (Traefik refuses them; a typo must not quietly drop a setting).
   */
  tls(prefix: string, resolvers?: readonly string[]): TlsLabels | false | null {
    const found = new Map<string, Label>();
    for (const [lower, label] of this.#labels) {
      const field = lower.startsWith(prefix) ? lower.slice(prefix.length) : '';
      if (field !== 'tls' && !field.startsWith('tls.')) continue;
      if (TLS_FIELD.test(field)) found.set(field, label);
      else this.error(label, 'unknown TLS label (tls, tls.certresolver, tls.options, tls.domains[n].main or .sans)');
    }
    if (found.size === 0) return null;
    const flag = found.get('tls');
    const on = this.bool(flag);
    const tls: TlsLabels = { domains: this.#domains(found) };
    const resolver = found.get('tls.certresolver');
    const certResolver = resolver && this.name(resolver, resolver.value, 'certificate resolver', resolvers);
    if (certResolver !== undefined) tls.certResolver = certResolver;
    const optionsLabel = found.get('tls.options');
    // Traefik defines TLS options in the file provider, so its labels say `name@file`: baton's config is that file
    const options = optionsLabel && this.name(optionsLabel, optionsLabel.value.replace(/@file$/i, ''), 'TLS options');
    if (options !== undefined) tls.options = options;
    if (on !== false) return tls;
    const others = [...found.values()].filter((l) => l !== flag).map((l) => l.key);
    if (others.length > 0) this.error(flag!, `false contradicts ${others.join(', ')} (any tls.* label turns TLS on)`);
    return false;
  }

  /** `tls.domains[n].main` / `.sans` of found TLS labels, numbered from 0 without gaps. */
  #domains(found: Map<string, Label>): TlsDomain[] {
    const byIndex = new Map<number, { main?: Label; sans?: Label }>();
    for (const [field, label] of found) {
      const m = TLS_FIELD.exec(field);
      if (m === null || m[1] === undefined) continue;
      const i = Number(m[1]);
      const entry = byIndex.get(i) ?? {};
      entry[m[2] as 'main' | 'sans'] = label;
      byIndex.set(i, entry);
    }
    const domains: TlsDomain[] = [];
    for (const [n, i] of [...byIndex.keys()].sort((a, b) => a - b).entries()) {
      const { main, sans } = byIndex.get(i)!;
      if (i !== n) {
        this.error((main ?? sans)!, `domains[${n}] is missing (domains are numbered from 0 without gaps)`);
        break;
      }
      if (main === undefined) {
        this.error(sans!, `no domains[${i}].main for these sans`);
        continue;
      }
      const name = this.#domain(main, main.value);
      const names: string[] = [];
      for (const item of sans?.value.split(',') ?? []) {
        const san = this.#domain(sans!, item);
        if (san !== undefined && !names.includes(san)) names.push(san);
      }
      if (name !== undefined) domains.push({ main: name, sans: names });
    }
    return domains;
  }

  #domain(label: Label, value: string): string | undefined {
    const parsed = DOMAIN_NAME.safeParse(value);
    if (parsed.success) return parsed.data;
    return this.error(label, `expected a DNS name like "example.com" or "*.example.com", got ${JSON.stringify(value)}`);
  }
}
