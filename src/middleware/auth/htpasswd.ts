// htpasswd users and Basic credentials, pure: the "name:hash" lines of Traefik's basicAuth `users` and `usersFile`
// (as Apache's htpasswd writes them), the hash kinds Traefik accepts, their verification, and the Authorization
// header's Basic credentials.
//
// Hash kinds: bcrypt ($2y$, $2a$, $2b$; bcryptjs), apr1-MD5 ($apr1$) and MD5-crypt ($1$) (apache-md5), SHA1
// ({SHA}base64; node:crypto). Anything else — plaintext, crypt(3) DES, $5$/$6$ SHA-crypt, $2x$ — is refused when the
// config is read (Traefik accepts the line and then never matches it; a refusal says so at once). Problems name the
// user, never the hash. Digests are compared in constant time (bcryptjs compares its own in constant time).
// bcryptjs's async compare is not used: it computes on the event loop in slices of up to 100 ms (the first within
// the call), so a flood of wrong passwords would stall every request; the hashes are checked in a worker instead.
import { createHash, timingSafeEqual } from 'node:crypto';
import apacheMd5 from 'apache-md5';
import bcrypt from 'bcryptjs';

// apache-md5 is CommonJS (module.exports = the function); its .d.ts declares an ES default export instead
const aprMd5 = apacheMd5 as unknown as (password: string, salt: string) => string;

export type HashKind = 'bcrypt' | 'apr1' | 'md5crypt' | 'sha1';

export interface PasswordHash {
  readonly kind: HashKind;
  /** the hash as written */
  readonly text: string;
}

/** bcrypt costs above this are refused: one check would take seconds (cost 12 is ~0.35 s with bcryptjs). */
export const MAX_BCRYPT_COST = 14;

const BCRYPT = /^\$2[aby]\$(\d\d)\$[./A-Za-z0-9]{53}$/;
const MD5 = /^\$(apr1|1)\$[./0-9A-Za-z]{0,8}\$[./0-9A-Za-z]{22}$/;
const SHA1 = /^\{SHA\}[A-Za-z0-9+/]{27}=$/;

/** The hash, or why it is refused (never quoting it). */
export function parseHash(text: string): PasswordHash | string {
  const b = BCRYPT.exec(text);
  if (b !== null) {
    const cost = Number(b[1]);
    if (cost < 4 || cost > MAX_BCRYPT_COST) return `bcrypt cost ${cost} is outside 4..${MAX_BCRYPT_COST}`;
    return { kind: 'bcrypt', text };
  }
  const m = MD5.exec(text);
  if (m !== null) return { kind: m[1] === 'apr1' ? 'apr1' : 'md5crypt', text };
  if (SHA1.test(text)) return { kind: 'sha1', text };
  if (text.startsWith('$2x$')) return 'bcrypt $2x$ hashes are refused (buggy variant): use htpasswd -B ($2y$)';
  if (/^\$[56]\$/.test(text)) return 'SHA-crypt ($5$, $6$) is not supported: use htpasswd -B (bcrypt)';
  return (
    'the password is not a bcrypt ($2y$, $2a$, $2b$), apr1-MD5 ($apr1$, $1$) or SHA1 ({SHA}) hash ' +
    '(plaintext passwords are refused; make one with htpasswd -nB user)'
  );
}

// eslint-disable-next-line no-control-regex
const CONTROL = /[\u0000-\u001f\u007f]/;

export interface ParsedUsers {
  /** name → hash; a later line for the same name replaces an earlier one (Traefik's map) */
  users: Map<string, PasswordHash>;
  problems: string[];
}

/**
 * Reads "name:hash" entries into `into` (Traefik's basicUserParser: exactly one ':'). `where(i)` names entry i in
 * problems, e.g. `users[2]` or `usersFile line 3`.
 */
export function parseUserEntries(
  entries: readonly string[],
  where: (i: number) => string,
  into: ParsedUsers = { users: new Map(), problems: [] },
): ParsedUsers {
  entries.forEach((entry, i) => {
    const parts = entry.split(':');
    if (parts.length !== 2 || parts[0] === '') {
      into.problems.push(`${where(i)}: expected "name:hash" as htpasswd writes it`);
      return;
    }
    const [name, hashText] = parts;
    if (CONTROL.test(name)) {
      into.problems.push(`${where(i)}: the user name has control characters`);
      return;
    }
    const hash = parseHash(hashText);
    if (typeof hash === 'string') into.problems.push(`${where(i)}: user ${JSON.stringify(name)}: ${hash}`);
    else into.users.set(name, hash);
  });
  return into;
}

/** The entries of an htpasswd file (Traefik's getLinesFromFile): lines trimmed; blank lines and '#' comments
 *  skipped. Each with its 1-based line number. */
export function htpasswdLines(text: string): Array<{ line: number; entry: string }> {
  const out: Array<{ line: number; entry: string }> = [];
  text.split('\n').forEach((raw, i) => {
    const entry = raw.trim();
    if (entry !== '' && !entry.startsWith('#')) out.push({ line: i + 1, entry });
  });
  return out;
}

/** Hashes cheap enough to check on the event loop (SHA1: one digest). bcrypt and MD5-crypt (1000 MD5 rounds,
 *  ~1-2 ms with apache-md5) are checked in a worker thread (hash-worker.ts). */
export function isCheap(h: PasswordHash): boolean {
  return h.kind === 'sha1';
}

function equal(a: Buffer, b: Buffer): boolean {
  return a.length === b.length && timingSafeEqual(a, b);
}

/** Checks a password against a hash, synchronously (bcrypt too: call it from a worker for anything but SHA1). The
 *  password's UTF-8 bytes are hashed, as htpasswd hashed them. */
export function verifySync(h: PasswordHash, password: string): boolean {
  if (h.kind === 'sha1') {
    const digest = createHash('sha1').update(password, 'utf8').digest();
    return equal(digest, Buffer.from(h.text.slice(5), 'base64'));
  }
  if (h.kind === 'bcrypt') return bcrypt.compareSync(password, h.text);
  // apache-md5 hashes each character's low byte ("ascii"): give it the UTF-8 bytes as a binary string
  const computed = aprMd5(Buffer.from(password, 'utf8').toString('latin1'), h.text);
  return equal(Buffer.from(computed, 'latin1'), Buffer.from(h.text, 'latin1'));
}

/** Longest Authorization header that is looked at: a longer one is refused without any hashing. */
export const MAX_AUTHORIZATION = 4096;

const BASE64 = /^[A-Za-z0-9+/]*={0,2}$/;

export interface Credentials {
  user: string;
  password: string;
}

/**
 * Basic credentials from an Authorization header (Go's Request.BasicAuth: "Basic " in any case, then standard
 * base64 of "user:password", cut at the first ':'). Null for none, another scheme, an oversized header, malformed
 * base64, no ':', or credentials that are not UTF-8 (htpasswd hashed the password's UTF-8 bytes).
 */
export function parseBasicAuthorization(header: string | undefined): Credentials | null {
  if (header === undefined || header.length > MAX_AUTHORIZATION || header.length < 6) return null;
  if (header.slice(0, 6).toLowerCase() !== 'basic ') return null;
  const b64 = header.slice(6);
  if (b64.length % 4 !== 0 || !BASE64.test(b64)) return null;
  let decoded: string;
  try {
    decoded = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true }).decode(Buffer.from(b64, 'base64'));
  } catch {
    return null;
  }
  const colon = decoded.indexOf(':');
  if (colon === -1) return null;
  return { user: decoded.slice(0, colon), password: decoded.slice(colon + 1) };
}
