// Config loading: YAML file → schema → env overrides → cross-checks. Every problem is reported at once, each
// with its path; nothing starts on an invalid config.
import { readFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { parseDocument } from 'yaml';
import type { ZodError } from 'zod';
import { ConfigError } from '../errors.ts';
import { parseRule } from '../routing/rule.ts';
import { ADMIN_TOKEN_FILE_NAME, DEFAULT_ADMIN_ADDRESS, DEFAULT_ENTRYPOINT_ADDRESS } from './defaults.ts';
import { configSchema, parseListenAddress, type Config } from './schema.ts';
import { checkTlsReferences, resolveTlsPaths } from './tls-checks.ts';

export interface LoadedConfig extends Config {
  /** Absolute path of the file read, or null for a config given as an object. */
  file: string | null;
  /** stateDir resolved to an absolute path. */
  stateDirPath: string;
  /** admin.tokenFile resolved to an absolute path (default: <stateDir>/admin-token). */
  tokenFilePath: string;
  /** the folder relative paths are resolved against (the config file's) */
  baseDir: string;
}

export function formatZodError(err: ZodError): string[] {
  const out: string[] = [];
  const at = (path: PropertyKey[], message: string) => {
    const p = path.map(String).join('.');
    out.push(p === '' ? message : `${p}: ${message}`);
  };
  for (const issue of err.issues) {
    if (issue.code === 'unrecognized_keys') {
      // one problem per key, each naming its own path (zod reports them on the parent object)
      for (const key of issue.keys) at([...issue.path, key], 'unknown key');
    } else if (issue.code === 'invalid_key' && issue.issues.length > 0) {
      // a record key (entrypoint or service name) that fails its pattern: the pattern's message says why
      at(issue.path, `invalid name: ${issue.issues.map((i) => i.message).join('; ')}`);
    } else {
      at(issue.path, issue.message);
    }
  }
  return out;
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** Two listen addresses that cannot both be bound: same non-zero port, and hosts that overlap ("0.0.0.0" holds
 *  every IPv4 address, "::" every address (Node binds it dual-stack), "localhost" is 127.0.0.1 or ::1). */
function sameListener(a: string, b: string): boolean {
  const x = parseListenAddress(a);
  const y = parseListenAddress(b);
  if (x === null || y === null || x.port === 0 || x.port !== y.port) return false;
  const hx = x.host.toLowerCase();
  const hy = y.host.toLowerCase();
  if (hx === hy || hx === '::' || hy === '::') return true;
  const isV4 = (h: string) => !h.includes(':');
  if (hx === '0.0.0.0') return isV4(hy);
  if (hy === '0.0.0.0') return isV4(hx);
  const loopback = (h: string) => h === '127.0.0.1' || h === '::1';
  return (hx === 'localhost' && loopback(hy)) || (hy === 'localhost' && loopback(hx));
}

/**
 * Checks the schema cannot express (rules parse, no duplicate upstreams, no two listeners on one address). They
 * read the raw input, tolerating whatever the schema rejects, so that every problem is reported in one go.
 */
function crossCheck(input: Record<string, unknown>): string[] {
  const problems: string[] = [];
  const services = isRecord(input.services) ? input.services : {};
  for (const [name, service] of Object.entries(services)) {
    if (!isRecord(service)) continue;
    if (typeof service.rule === 'string' && service.rule !== '') {
      try {
        parseRule(service.rule);
      } catch (err) {
        problems.push(`services.${name}.rule: ${(err as Error).message}`);
      }
    }
    if (!Array.isArray(service.upstreams)) continue;
    const seen = new Set<string>();
    for (const [i, url] of service.upstreams.entries()) {
      let key: string;
      try {
        key = new URL(url as string).host;
      } catch {
        continue; // the schema reports it
      }
      if (seen.has(key)) problems.push(`services.${name}.upstreams.${i}: duplicate upstream ${url}`);
      seen.add(key);
    }
  }

  const listeners: Array<[path: string, address: string]> = [];
  if (input.entrypoints === undefined) listeners.push(['entrypoints.web.address', DEFAULT_ENTRYPOINT_ADDRESS]);
  else if (isRecord(input.entrypoints)) {
    for (const [name, ep] of Object.entries(input.entrypoints)) {
      if (isRecord(ep) && typeof ep.address === 'string') listeners.push([`entrypoints.${name}.address`, ep.address]);
    }
  }
  const admin = input.admin === undefined ? {} : input.admin;
  const adminAddress = isRecord(admin) ? (admin.address ?? DEFAULT_ADMIN_ADDRESS) : undefined;
  if (typeof adminAddress === 'string') {
    const clash = listeners.find(([, address]) => sameListener(adminAddress, address));
    if (clash !== undefined) {
      problems.push(
        `admin.address: ${adminAddress} is also ${clash[0]} (${clash[1]}); ` +
          "the admin API never shares an entrypoint's address",
      );
    }
  }
  for (const [i, [path, address]] of listeners.entries()) {
    const clash = listeners.slice(0, i).find(([, other]) => sameListener(address, other));
    if (clash !== undefined) problems.push(`${path}: ${address} is also ${clash[0]} (${clash[1]})`);
  }
  return problems;
}

/** BATON_ADMIN_ADDRESS replaces admin.address (a container publishes the admin API without a config file of its
 *  own). It is checked like the file's value. */
function withEnvOverrides(input: Record<string, unknown>, env: NodeJS.ProcessEnv): Record<string, unknown> {
  const address = env.BATON_ADMIN_ADDRESS;
  if (address === undefined || address === '') return input;
  const admin = isRecord(input.admin) ? input.admin : {};
  return { ...input, admin: { ...admin, address } };
}

/** A problem with an overridden value names the variable it came from. */
function namingEnv(env: NodeJS.ProcessEnv): (problem: string) => string {
  if (!env.BATON_ADMIN_ADDRESS) return (p) => p;
  return (p) => (p.startsWith('admin.address:') ? `BATON_ADMIN_ADDRESS (admin.address):${p.slice(14)}` : p);
}

/** Validates a plain object (already parsed from YAML, or built by a test). Every problem is reported at once. */
export function parseConfig(
  raw: unknown,
  opts: { file?: string | null; env?: NodeJS.ProcessEnv; baseDir?: string } = {},
): LoadedConfig {
  const env = opts.env ?? process.env;
  const raw0 = raw ?? {};
  if (!isRecord(raw0)) throw new ConfigError(['the config must be a YAML mapping']);
  const input = withEnvOverrides(raw0, env);
  const result = configSchema.safeParse(input);
  const problems = (result.success ? [] : formatZodError(result.error)).map(namingEnv(env));
  problems.push(...crossCheck(input).map(namingEnv(env)));

  const envToken = env.BATON_ADMIN_TOKEN;
  if (envToken !== undefined && envToken !== '' && envToken.length < 16)
    problems.push('BATON_ADMIN_TOKEN: must be at least 16 characters');
  if (result.success) problems.push(...checkTlsReferences(result.data));
  if (problems.length > 0 || !result.success) throw new ConfigError(problems);

  const config = result.data;
  if (envToken !== undefined && envToken !== '') config.admin.token = envToken;

  const file = opts.file ?? null;
  const baseDir = opts.baseDir ?? (file !== null ? dirname(file) : process.cwd());
  const stateDirPath = resolve(baseDir, config.stateDir);
  const tokenFilePath =
    config.admin.tokenFile !== undefined
      ? resolve(baseDir, config.admin.tokenFile)
      : resolve(stateDirPath, ADMIN_TOKEN_FILE_NAME);
  resolveTlsPaths(config, baseDir, stateDirPath);
  if (config.log.accessLogFile !== undefined) config.log.accessLogFile = resolve(baseDir, config.log.accessLogFile);
  return { ...config, file, stateDirPath, tokenFilePath, baseDir };
}

/** Reads and validates a YAML config file. Throws ConfigError listing every problem. */
export function loadConfig(path: string, env: NodeJS.ProcessEnv = process.env): LoadedConfig {
  const file = resolve(path);
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    const why =
      code === 'ENOENT'
        ? 'no such file (ENOENT)'
        : code === 'EISDIR'
          ? 'it is a directory (EISDIR)'
          : code === 'EACCES'
            ? 'permission denied (EACCES)'
            : (code ?? (err as Error).message);
    throw new ConfigError([`cannot read config file ${file}: ${why}`], { cause: err });
  }
  const doc = parseDocument(text, { prettyErrors: true, uniqueKeys: true });
  if (doc.errors.length > 0) {
    // prettyErrors appends a code frame after the first line, which then ends in ":"; keep the sentence only
    throw new ConfigError(doc.errors.map((e) => `${file}: ${e.message.split('\n')[0].replace(/:$/, '')}`));
  }
  return parseConfig(doc.toJS(), { file, env });
}
