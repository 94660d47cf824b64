// Config loading: YAML file → schema → env overrides → cross-checks. Every problem is reported at once, each
// with its path; nothing starts on an invalid config.
import { readFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { parseDocument } from 'yaml';
import type { ZodError } from 'zod';
import { ConfigError } from '../errors.ts';
import { parseRule } from '../routing/rule.ts';
import { ADMIN_TOKEN_FILE_NAME } from './defaults.ts';
import { configSchema, type Config } from './schema.ts';

export interface LoadedConfig extends Config {
  /** Absolute path of the file read, or null for a config given as an object. */
  file: string | null;
  /** stateDir resolved to an absolute path. */
  stateDirPath: string;
  /** admin.tokenFile resolved to an absolute path (default: <stateDir>/admin-token). */
  tokenFilePath: string;
}

export function formatZodError(err: ZodError): string[] {
  return err.issues.map((issue) => {
    const path = issue.path.map(String).join('.');
    return path === '' ? issue.message : `${path}: ${issue.message}`;
  });
}

/** Validates a plain object (already parsed from YAML, or built by a test). */
export function parseConfig(raw: unknown, opts: { file?: string | null; env?: NodeJS.ProcessEnv; baseDir?: string } = {}): LoadedConfig {
  const env = opts.env ?? process.env;
  const input = raw ?? {};
  if (typeof input !== 'object' || Array.isArray(input)) throw new ConfigError(['the config must be a YAML mapping']);
  const result = configSchema.safeParse(input);
  if (!result.success) throw new ConfigError(formatZodError(result.error));
  const config = result.data;

  const problems: string[] = [];
  for (const [name, service] of Object.entries(config.services)) {
    try {
      parseRule(service.rule);
    } catch (err) {
      problems.push(`services.${name}.rule: ${(err as Error).message}`);
    }
    const seen = new Set<string>();
    for (const [i, url] of service.upstreams.entries()) {
      const key = new URL(url).host;
      if (seen.has(key)) problems.push(`services.${name}.upstreams.${i}: duplicate upstream ${url}`);
      seen.add(key);
    }
  }
  const addresses = new Map<string, string>();
  for (const [name, ep] of Object.entries(config.entrypoints)) addresses.set(ep.address, `entrypoints.${name}`);
  const clash = addresses.get(config.admin.address);
  if (clash !== undefined && !config.admin.address.endsWith(':0')) {
    problems.push(`admin.address: ${config.admin.address} is also ${clash}.address; the admin API never shares an entrypoint`);
  }

  if (env.BATON_ADMIN_TOKEN !== undefined && env.BATON_ADMIN_TOKEN !== '') {
    if (env.BATON_ADMIN_TOKEN.length < 16) problems.push('BATON_ADMIN_TOKEN: must be at least 16 characters');
    else config.admin.token = env.BATON_ADMIN_TOKEN;
  }
  if (problems.length > 0) throw new ConfigError(problems);

  const file = opts.file ?? null;
  const baseDir = opts.baseDir ?? (file !== null ? dirname(file) : process.cwd());
  const stateDirPath = resolve(baseDir, config.stateDir);
  const tokenFilePath = config.admin.tokenFile !== undefined ? resolve(baseDir, config.admin.tokenFile) : resolve(stateDirPath, ADMIN_TOKEN_FILE_NAME);
  return { ...config, file, stateDirPath, tokenFilePath };
}

/** Reads and validates a YAML config file. Throws ConfigError listing every problem. */
export function loadConfig(path: string, env: NodeJS.ProcessEnv = process.env): LoadedConfig {
  const file = resolve(path);
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw new ConfigError([`cannot read ${file}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`], { cause: err });
  }
  const doc = parseDocument(text, { prettyErrors: true, uniqueKeys: true });
  if (doc.errors.length > 0) {
    throw new ConfigError(doc.errors.map((e) => `${file}: ${e.message.split('\n')[0]}`));
  }
  return parseConfig(doc.toJS(), { file, env });
}
