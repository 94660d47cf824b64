// The CLI's side of the admin API: where it is and which token to send (flags, env, the config file, the token
// file baton generated), and one JSON call to it. Every failure is an AdminCallError (or the config's ConfigError).
import { existsSync } from 'node:fs';
import { Agent, request } from 'undici';
import { readTokenFile } from '../admin/token.ts';
import { DEFAULT_CONFIG_PATH } from '../config/defaults.ts';
import { loadConfig, parseConfig, type LoadedConfig } from '../config/load.ts';
import { parseListenAddress } from '../config/schema.ts';
import { AdminCallError } from '../errors.ts';
import { dialHost } from '../net.ts';

/** How long the CLI waits to connect to the admin API. */
const ADMIN_CONNECT_TIMEOUT_MS = 5_000;
/** How much of a non-JSON error answer the CLI quotes. */
const QUOTED_ERROR_MAX_CHARS = 200;

/** The flags every admin command takes. */
export interface AdminFlags {
  config?: string;
  'admin-url'?: string;
  token?: string;
}

export interface AdminTarget {
  url: string;
  token: string | null;
}

/** Finds the admin API URL and token: flags, then env, then the config file and its token file. */
export function adminTarget(flags: AdminFlags, env: NodeJS.ProcessEnv): AdminTarget {
  let config: LoadedConfig | null = null;
  const configPath = flags.config ?? DEFAULT_CONFIG_PATH;
  if (flags.config !== undefined || existsSync(configPath)) {
    try {
      config = loadConfig(configPath, env);
    } catch (err) {
      if (flags.config !== undefined) throw err;
    }
  }
  config ??= parseConfig({}, { env });
  let url = flags['admin-url'] ?? env.BATON_ADMIN_URL;
  if (url === undefined || url === '') {
    const a = parseListenAddress(config.admin.address)!; // the config schema has validated it
    url = `http://${dialHost(a.host)}:${a.port}`;
  }
  const token =
    flags.token ?? (env.BATON_ADMIN_TOKEN || undefined) ?? config.admin.token ?? readTokenFile(config.tokenFilePath);
  return { url: url.replace(/\/+$/, ''), token };
}

/** One call to the admin API, its JSON answer read as `T`; a status >= 400 throws the answer's error message.
 *  `timeoutMs` bounds the connect and the answer (default: no bound on the answer); `signal` aborts the call (it
 *  then throws the signal's reason). */
export async function call<T = any>(
  target: AdminTarget,
  method: string,
  path: string,
  body?: unknown,
  opts: { timeoutMs?: number; signal?: AbortSignal } = {},
): Promise<{ status: number; json: T }> {
  // A waiting drain answers only when the upstream is drained (bounded by its drain timeout, which may be long):
  // no client-side response timeout by default (0 turns undici's off).
  const answer = opts.timeoutMs ?? 0;
  const dispatcher = new Agent({
    headersTimeout: answer,
    bodyTimeout: answer,
    connectTimeout: Math.min(ADMIN_CONNECT_TIMEOUT_MS, opts.timeoutMs ?? Infinity),
  });
  let status: number;
  let text: string;
  try {
    const res = await request(target.url + path, {
      method: method as 'GET',
      headers: {
        ...authorization(target),
        ...(body !== undefined ? { 'content-type': 'application/json' } : {}),
      },
      body: body !== undefined ? JSON.stringify(body) : undefined,
      dispatcher,
      signal: opts.signal,
    });
    status = res.statusCode;
    text = await res.body.text();
  } catch (err) {
    if (opts.signal?.aborted) throw opts.signal.reason;
    throw unreachable(target, err);
  } finally {
    void dispatcher.close();
  }
  const json = parseAnswer(text);
  if (status >= 400) throw answerError(status, json);
  return { status, json: json as T };
}

/** The bearer header for the target's token (none without one). */
export function authorization(target: AdminTarget): { authorization?: string } {
  return target.token !== null ? { authorization: `Bearer ${target.token}` } : {};
}

/** The error for an admin API that could not be reached (or dropped the connection before answering). */
export function unreachable(target: AdminTarget, err: unknown): AdminCallError {
  const why = (err as { code?: string }).code ?? (err as Error).message;
  const message = `cannot reach the admin API at ${target.url} (${why}); is \`baton serve\` running?`;
  return new AdminCallError(message, 0, { cause: err });
}

/** An answer's JSON; a text that is not JSON becomes an error message quoting its start. */
export function parseAnswer(text: string): any {
  try {
    return text === '' ? null : JSON.parse(text);
  } catch {
    return { error: { message: text.slice(0, QUOTED_ERROR_MAX_CHARS) } };
  }
}

/** The error for an answer with a status >= 400: its message, with a hint for a refused token. */
export function answerError(status: number, json: any): AdminCallError {
  const problems: unknown[] = Array.isArray(json?.problems) ? json.problems : []; // a refused config reload's
  const msg = (json?.error?.message ?? `HTTP ${status}`) + problems.map((p) => `\n  - ${String(p)}`).join('');
  const hint = status === 401 ? ' (set BATON_ADMIN_TOKEN, or run the CLI where it can read the token file)' : '';
  return new AdminCallError(`${msg}${hint}`, status);
}
