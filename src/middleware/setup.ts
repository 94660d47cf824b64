// The middleware types a config can use: the built-in ones and the config's plugins (TypeScript modules run by
// Node's type stripping, imported once at start), and the check of the config file's own middlewares against
// them — a problem there stops baton from starting, as any other config problem does.
import { pathToFileURL } from 'node:url';
import { resolve } from 'node:path';
import type { LoadedConfig } from '../config/load.ts';
import { ConfigError } from '../errors.ts';
import type { Plugin } from './api.ts';
import { builtinTypes } from './builtins.ts';
import { builtinFactory, chainMembers, checkDefinition, pluginFactory, type Factory } from './compile.ts';
import { FILE_PROVIDER, qualify, type MiddlewareDef } from './definitions.ts';

/** The type a plugin's middleware has in definitions (never written by users). */
const PLUGIN_TYPE = (name: string) => `#plugin:${name.toLowerCase()}`;

/** The config file's middlewares and plugins as definitions (name → definition). */
export function fileDefinitions(config: Pick<LoadedConfig, 'middlewares' | 'plugins'>): Record<string, MiddlewareDef> {
  const out: Record<string, MiddlewareDef> = {};
  for (const [name, def] of Object.entries(config.middlewares)) {
    const [type] = Object.keys(def);
    out[name] = { type, options: def[type] };
  }
  for (const [name, p] of Object.entries(config.plugins)) out[name] = { type: PLUGIN_TYPE(name), options: p.options };
  return out;
}

function isPlugin(v: unknown): v is Plugin<unknown> {
  if (v === null || typeof v !== 'object') return false;
  const p = v as Record<string, unknown>;
  return typeof p.create === 'function' && (p.options === undefined || typeof p.options === 'function');
}

/** Imports each plugin module; problems for modules that cannot be loaded or export no plugin. */
async function loadPlugins(config: LoadedConfig, problems: string[]): Promise<Map<string, Factory>> {
  const out = new Map<string, Factory>();
  for (const [name, p] of Object.entries(config.plugins)) {
    const at = `plugins.${name}`;
    if (name in config.middlewares) {
      problems.push(`${at}: a middleware is named ${name} too; plugin and middleware names share one namespace`);
      continue;
    }
    const path = resolve(config.baseDir, p.module);
    let mod: Record<string, unknown>;
    try {
      mod = (await import(pathToFileURL(path).href)) as Record<string, unknown>;
    } catch (err) {
      problems.push(`${at}.module: cannot load ${path}: ${err instanceof Error ? err.message : String(err)}`);
      continue;
    }
    const plugin = mod.default ?? mod.plugin;
    if (!isPlugin(plugin)) {
      problems.push(`${at}.module: ${path} must export a plugin as its default export: { create(options, env) {...} }`);
      continue;
    }
    out.set(
      PLUGIN_TYPE(name),
      pluginFactory(name, plugin, (p) => resolve(config.baseDir, p)),
    );
  }
  return out;
}

/** References in the config file must name its own middlewares (other providers' are checked when they appear). */
function checkReferences(config: LoadedConfig, defs: Record<string, MiddlewareDef>, problems: string[]): void {
  const check = (at: string, refs: readonly string[]) => {
    for (const [i, ref] of refs.entries()) {
      const q = qualify(ref, FILE_PROVIDER);
      if (typeof q !== 'string') problems.push(`${at}.${i}: ${q.error}`);
      else if (q.endsWith(`@${FILE_PROVIDER}`) && !(q.slice(0, q.lastIndexOf('@')) in defs)) {
        problems.push(`${at}.${i}: no middleware or plugin named ${ref.replace(/@file$/i, '')} in this file`);
      }
    }
  };
  for (const [name, s] of Object.entries(config.services)) check(`services.${name}.middlewares`, s.middlewares ?? []);
  for (const [name, e] of Object.entries(config.entrypoints))
    check(`entrypoints.${name}.http.middlewares`, e.http.middlewares);
  for (const [name, def] of Object.entries(defs)) check(`middlewares.${name}.chain.middlewares`, chainMembers(def));
}

/** Chains of the config file that include themselves, directly or through others (each loop reported once). */
function checkChainLoops(defs: Record<string, MiddlewareDef>, problems: string[]): void {
  const members = (name: string): string[] => {
    const d = defs[name];
    if (d === undefined) return [];
    return chainMembers(d)
      .map((r) => qualify(r, FILE_PROVIDER))
      .filter((q): q is string => typeof q === 'string' && q.endsWith(`@${FILE_PROVIDER}`))
      .map((q) => q.slice(0, q.lastIndexOf('@')));
  };
  const done = new Set<string>();
  const visit = (name: string, path: string[]): void => {
    if (path.includes(name)) {
      const loop = [...path.slice(path.indexOf(name)), name];
      if (!done.has(loop[0]))
        problems.push(`middlewares.${loop[0]}.chain.middlewares: the chain loops: ${loop.join(' → ')}`);
      for (const n of loop) done.add(n);
      return;
    }
    if (done.has(name)) return;
    for (const m of members(name)) visit(m, [...path, name]);
    done.add(name);
  };
  for (const name of Object.keys(defs)) visit(name, []);
}

/**
 * The factories for every type (built-ins by Traefik's name, plugins by theirs), with the config file's
 * middlewares checked against them. Throws ConfigError with every problem.
 */
export async function middlewareTypes(config: LoadedConfig): Promise<Map<string, Factory>> {
  const problems: string[] = [];
  const factories = new Map<string, Factory>();
  for (const t of builtinTypes()) factories.set(t.name.toLowerCase(), builtinFactory(t));
  for (const [type, f] of await loadPlugins(config, problems)) factories.set(type, f);
  const defs = fileDefinitions(config);
  for (const [name, def] of Object.entries(defs)) {
    if (def.type.startsWith('#plugin:') && !factories.has(def.type)) continue; // its load problem is reported
    const at = def.type.startsWith('#plugin:') ? `plugins.${name}.options` : `middlewares.${name}.${def.type}`;
    for (const e of checkDefinition(def, factories).errors) problems.push(`${at}: ${e}`);
  }
  checkReferences(config, defs, problems);
  checkChainLoops(defs, problems);
  if (problems.length > 0) throw new ConfigError(problems);
  return factories;
}
