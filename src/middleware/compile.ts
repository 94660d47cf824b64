// Definitions → the hooks each route runs. A definition is checked against its type once (options read, problems
// collected), and each route gets its own instance of every middleware it lists (as in Traefik: a rateLimit or
// circuitBreaker counts per router), kept across reconciles while its definition is unchanged, so that a Docker
// event does not reset a rate limiter. `chain` is expanded here (cycles refused), never run as a handler.
import type { Handler, Plugin, PluginEnv, PluginLog } from './api.ts';
import { qualify, type MiddlewareDef } from './definitions.ts';
import { readOptions } from './options.ts';
import type { AnyMiddlewareType } from './types.ts';

/** How a type reads its options and makes its hooks: a built-in type or a plugin module. */
export interface Factory {
  /** for messages: "stripPrefix", "plugin geo" */
  readonly label: string;
  read(raw: Record<string, unknown>, errors: string[]): unknown;
  create(options: unknown, env: PluginEnv): Handler;
}

export function builtinFactory(t: AnyMiddlewareType): Factory {
  return {
    label: t.name,
    read(raw, errors) {
      const before = errors.length;
      const o = readOptions(t.spec, raw, '', errors);
      if (errors.length === before && t.check !== undefined) errors.push(...t.check(o));
      return o;
    },
    create: (o, env) => t.create(o as never, env),
  };
}

export function pluginFactory(name: string, p: Plugin<unknown>, resolvePath: (path: string) => string): Factory {
  return {
    label: `plugin ${name}`,
    read(raw, errors) {
      if (p.options === undefined) return raw;
      try {
        return p.options(raw, { resolvePath });
      } catch (err) {
        errors.push(err instanceof Error ? err.message : String(err));
        return undefined;
      }
    },
    create: (o, env) => p.create(o, env),
  };
}

/** The most middlewares one route runs, chains expanded (a chain listing chains can fan out). */
export const MAX_LINKS = 64;

/** The chain type's options. */
const CHAIN = 'chain';

export interface Checked {
  factory: Factory | null;
  options: unknown;
  /** chain: its members' references */
  members: string[] | null;
  errors: string[];
}

/** A chain definition's member references, as listed (a YAML list or comma-separated text); [] for other types. */
export function chainMembers(def: MiddlewareDef): string[] {
  if (def.type.toLowerCase() !== CHAIN) return [];
  const ms = (def.options as { middlewares?: unknown }).middlewares;
  const list = Array.isArray(ms) ? ms.map(String) : typeof ms === 'string' ? ms.split(',') : [];
  return list.map((s) => s.trim()).filter((s) => s !== '');
}

/** Checks one definition against the factories (by lower-cased type name). */
export function checkDefinition(def: MiddlewareDef, factories: ReadonlyMap<string, Factory>): Checked {
  const errors: string[] = [];
  const type = def.type.toLowerCase();
  if (type === CHAIN) {
    const extra = Object.keys(def.options).filter((k) => k.toLowerCase() !== 'middlewares');
    if (extra.length > 0) errors.push(`${extra[0]}: unknown option (known: middlewares)`);
    const members = chainMembers(def);
    if (members.length === 0) errors.push('middlewares: a chain lists at least one middleware');
    return { factory: null, options: null, members, errors };
  }
  const factory = factories.get(type);
  if (factory === undefined) {
    return { factory: null, options: null, members: null, errors: [`unknown middleware type ${def.type}`] };
  }
  const options = factory.read(def.options, errors);
  return { factory, options, members: null, errors };
}

/** One middleware instance as a route runs it: its hooks and name, and its failures (for logs once per burst). */
export interface Link {
  readonly name: string;
  readonly handler: Handler;
  /** failures since the last one logged, and when that was (ms since the epoch) */
  failures: number;
  loggedAt: number;
}

interface Instance {
  /** the definition it was made from */
  json: string;
  link: Link;
  abort: AbortController;
}

type Defs = Map<string, { def: MiddlewareDef; json: string; checked: Checked }>;

export interface MiddlewareSetOptions {
  factories: ReadonlyMap<string, Factory>;
  log: { child(b: object): PluginLog };
  resolvePath(p: string): string;
}

/** Every middleware instance in use. Build a new generation with `begin`, then `commit` or `discard` it. */
export class MiddlewareSet {
  readonly #opts: MiddlewareSetOptions;
  #defs: Defs = new Map();
  #live = new Map<string, Instance>();
  #next = new Map<string, Instance>();
  #previousDefs: Defs | null = null;

  constructor(opts: MiddlewareSetOptions) {
    this.#opts = opts;
  }

  /** Sets the definitions (qualified name → definition) a new generation resolves against. Returns every
   *  definition's problems ("name@provider: problem"), which only refuse the routes that use it. */
  begin(defs: ReadonlyMap<string, MiddlewareDef>): string[] {
    const problems: string[] = [];
    const next: Defs = new Map();
    for (const [name, def] of defs) {
      const json = JSON.stringify(def);
      const old = this.#defs.get(name);
      const checked = old !== undefined && old.json === json ? old.checked : checkDefinition(def, this.#opts.factories);
      next.set(name, { def, json, checked });
      for (const e of checked.errors) problems.push(`middleware ${name}: ${e}`);
    }
    this.#previousDefs = this.#defs;
    this.#defs = next;
    this.#next = new Map();
    return problems;
  }

  /**
   * The hooks of a route (`route`: a stable key) for its references, in order (chains expanded), or the reason it
   * cannot have them. References are resolved in `provider`'s namespace.
   */
  chain(route: string, refs: readonly string[], provider: string): Link[] | { error: string } {
    const out: Link[] = [];
    const err = this.#expand(route, refs, provider, out, []);
    return err === null ? out : { error: err };
  }

  #expand(route: string, refs: readonly string[], provider: string, out: Link[], path: string[]): string | null {
    for (const ref of refs) {
      if (out.length >= MAX_LINKS) return `more than ${MAX_LINKS} middlewares on one route (chains included)`;
      const name = qualify(ref, provider);
      if (typeof name !== 'string') return name.error;
      if (path.includes(name)) return `middleware chain loops: ${[...path, name].join(' → ')}`;
      const d = this.#defs.get(name);
      if (d === undefined) return `middleware ${name} does not exist`;
      if (d.checked.errors.length > 0) return `middleware ${name} is invalid: ${d.checked.errors.join('; ')}`;
      if (d.checked.members !== null) {
        const owner = name.slice(name.lastIndexOf('@') + 1);
        const err = this.#expand(route, d.checked.members, owner, out, [...path, name]);
        if (err !== null) return err;
        continue;
      }
      const instance = this.#instance(route, name, d.json, d.checked);
      if (typeof instance === 'string') return `middleware ${name}: ${instance}`;
      out.push(instance.link);
    }
    return null;
  }

  #instance(route: string, name: string, json: string, checked: Checked): Instance | string {
    const key = `${route}\u0000${name}`;
    const live = this.#live.get(key);
    const reuse = live !== undefined && live.json === json ? live : this.#next.get(key);
    if (reuse !== undefined && reuse.json === json) {
      this.#next.set(key, reuse);
      return reuse;
    }
    const abort = new AbortController();
    const env: PluginEnv = {
      name,
      log: this.#opts.log.child({ middleware: name }),
      signal: abort.signal,
      resolvePath: this.#opts.resolvePath,
    };
    try {
      const handler = checked.factory!.create(checked.options, env);
      const instance = { json, link: { name, handler, failures: 0, loggedAt: 0 }, abort };
      this.#next.set(key, instance);
      return instance;
    } catch (err) {
      abort.abort();
      return `could not be created: ${err instanceof Error ? err.message : String(err)}`;
    }
  }

  /** The new generation is in use: instances it no longer has are stopped. */
  commit(): void {
    for (const [key, i] of this.#live) if (this.#next.get(key) !== i) i.abort.abort();
    this.#live = this.#next;
    this.#next = new Map();
    this.#previousDefs = null;
  }

  /** The new generation is not used: instances made for it are stopped. */
  discard(): void {
    for (const [key, i] of this.#next) if (this.#live.get(key) !== i) i.abort.abort();
    this.#next = new Map();
    if (this.#previousDefs !== null) this.#defs = this.#previousDefs;
    this.#previousDefs = null;
  }

  close(): void {
    this.discard();
    for (const i of this.#live.values()) i.abort.abort();
    this.#live.clear();
  }
}
