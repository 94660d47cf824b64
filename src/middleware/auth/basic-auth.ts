// Traefik's basicAuth middleware: `users` ("name:hash", htpasswd's format) and `usersFile` (an htpasswd file, read
// once when the middleware is created; `users` win over the file for the same name), `realm` (default "traefik"),
// `headerField` (that request header is set to the authenticated user) and `removeHeader` (Authorization is not
// sent upstream). A request without valid credentials is answered as Traefik does: 401, `WWW-Authenticate: Basic
// realm="..."`, "401 Unauthorized\n".
//
// Where baton deviates, for safety: hashes are checked when the config is read (plaintext and unknown kinds are
// refused, naming the user, never the hash); an Authorization header over 4 KiB, or whose credentials are not
// UTF-8, is refused without hashing; bcrypt and MD5-crypt are checked in a worker thread (hasher.ts), never on the
// event loop; more than 8 such checks at once on one instance are answered 429 with Retry-After: 1 (a queue of
// hashing would be the attacker's to grow) — see verifier.ts; the realm is sent as a quoted-string (quotes and
// backslashes escaped). The file is read once, when the middleware is created (baton's start): a change applies at
// the next start.
import { readFileSync } from 'node:fs';
import type { RequestContext } from '../api.ts';
import { bool, list, str } from '../options.ts';
import { defineType } from '../types.ts';
import { htpasswdLines, parseBasicAuthorization, parseUserEntries, type ParsedUsers } from './htpasswd.ts';
import { Hasher } from './hasher.ts';
import { Verifier, type Outcome } from './verifier.ts';
import { isToken } from '../header-names.ts';

const DEFAULT_REALM = 'traefik';
// eslint-disable-next-line no-control-regex
const CONTROL = /[\u0000-\u001f\u007f]/;

/** A text as the bytes of its UTF-8 encoding, one character per byte: how a header value carries UTF-8 (HTTP
 *  header values are written byte per character, as Go writes its strings). */
export function utf8Latin1(s: string): string {
  // eslint-disable-next-line no-control-regex
  return /^[\u0000-\u007f]*$/.test(s) ? s : Buffer.from(s, 'utf8').toString('latin1');
}

/** The WWW-Authenticate challenge for a realm ("" is Traefik's default realm). */
export function challenge(realm: string): string {
  const r = realm === '' ? DEFAULT_REALM : realm;
  return `Basic realm="${utf8Latin1(r.replace(/[\\"]/g, (c) => `\\${c}`))}"`;
}

/** Users from the usersFile text (if any) and the `users` list, `users` last (they win). */
export function mergeUsers(fileText: string | null, filePath: string, users: readonly string[]): ParsedUsers {
  const parsed: ParsedUsers = { users: new Map(), problems: [] };
  if (fileText !== null) {
    const lines = htpasswdLines(fileText);
    parseUserEntries(
      lines.map((l) => l.entry),
      (i) => `usersFile ${filePath} line ${lines[i].line}`,
      parsed,
    );
  }
  parseUserEntries(users, (i) => `users[${i}]`, parsed);
  return parsed;
}

export const basicAuth = defineType({
  name: 'basicAuth',
  spec: {
    users: list([]),
    usersFile: str(),
    realm: str(DEFAULT_REALM),
    headerField: str(),
    removeHeader: bool(false),
  },
  check(o) {
    const problems = mergeUsers(null, '', o.users).problems;
    if (o.users.length === 0 && (o.usersFile ?? '') === '') problems.push('users or usersFile: no users given');
    if (CONTROL.test(o.realm)) problems.push('realm: control characters are not allowed');
    if (o.headerField !== undefined && o.headerField !== '' && !isToken(o.headerField)) {
      problems.push(`headerField: ${JSON.stringify(o.headerField)} is not a header name`);
    }
    return problems;
  },
  create(o, env) {
    const file = o.usersFile ?? '';
    let text: string | null = null;
    if (file !== '') {
      const path = env.resolvePath(file);
      try {
        text = readFileSync(path, 'utf8');
      } catch (err) {
        const code = (err as NodeJS.ErrnoException).code;
        throw new Error(`usersFile ${path}: cannot be read (${code ?? String(err)})`, { cause: err });
      }
    }
    const { users, problems } = mergeUsers(text, file, o.users);
    if (problems.length > 0) throw new Error(problems.join('; '));
    if (users.size === 0) throw new Error(`no users found in ${file === '' ? 'users' : file}`);
    const kinds = new Set([...users.values()].map((h) => h.kind));
    if (kinds.size > 1) {
      env.log.warn(
        { kinds: [...kinds] },
        'basicAuth users mix hash kinds: an unknown user costs what the first user does, which may tell them apart',
      );
    }

    const hasher = new Hasher(env.signal, (err) =>
      env.log.error({ err: err.message }, 'basicAuth: the password-checking worker failed'),
    );
    const verifier = new Verifier(users, (h, password) => hasher.verify(h, password));
    const headers401 = { 'WWW-Authenticate': challenge(o.realm), 'Content-Type': 'text/plain' };
    const headerField = o.headerField ?? '';
    const settle = (ctx: RequestContext, user: string, outcome: Outcome): void => {
      if (outcome === true) {
        if (headerField !== '') ctx.headers.set(headerField, utf8Latin1(user));
        if (o.removeHeader) ctx.headers.delete('authorization');
      } else if (outcome === 'busy') {
        ctx.respond(429, { 'Retry-After': '1', 'Content-Type': 'text/plain' }, '429 Too Many Requests\n');
      } else {
        ctx.respond(401, headers401, '401 Unauthorized\n');
      }
    };

    return {
      onRequest(ctx) {
        const credentials = parseBasicAuthorization(ctx.headers.get('authorization'));
        if (credentials === null) return settle(ctx, '', false);
        const outcome = verifier.check(credentials.user, credentials.password);
        if (typeof outcome !== 'object') return settle(ctx, credentials.user, outcome);
        return outcome.then((r) => settle(ctx, credentials.user, r));
      },
    };
  },
});
