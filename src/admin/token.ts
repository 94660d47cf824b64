// The admin bearer token: from config / BATON_ADMIN_TOKEN, or generated once into a 0600 file that the CLI
// reads by itself. The token is never logged; the file's path is.
import { randomBytes, timingSafeEqual, createHash } from 'node:crypto';
import { chmodSync, mkdirSync, readFileSync, renameSync, statSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';

export interface TokenSource {
  token: string;
  /** where it came from: 'config', 'env' or the file path */
  source: string;
  generated: boolean;
}

export function readTokenFile(path: string): string | null {
  try {
    const t = readFileSync(path, 'utf8').trim();
    return t.length >= 16 ? t : null;
  } catch {
    return null;
  }
}

/** Returns the configured token, else the one in `tokenFile`, else generates and stores a new one (0600). */
export function ensureToken(configured: string | undefined, tokenFile: string): TokenSource {
  if (configured !== undefined) return { token: configured, source: 'config', generated: false };
  const existing = readTokenFile(tokenFile);
  if (existing !== null) {
    // tighten permissions if someone loosened them
    try {
      if ((statSync(tokenFile).mode & 0o077) !== 0) chmodSync(tokenFile, 0o600);
    } catch {}
    return { token: existing, source: tokenFile, generated: false };
  }
  // hex, not base64url: a base64url token starts with "-" one time in 64, and `baton status --token -…` is then
  // read as an option (node:util parseArgs rejects it as ambiguous)
  const token = randomBytes(32).toString('hex');
  mkdirSync(dirname(tokenFile), { recursive: true, mode: 0o700 });
  const tmp = `${tokenFile}.${process.pid}.tmp`;
  writeFileSync(tmp, token + '\n', { mode: 0o600 });
  renameSync(tmp, tokenFile);
  return { token, source: tokenFile, generated: true };
}

/** Constant-time check of an Authorization header against the token. */
export function checkBearer(header: string | undefined, token: string): boolean {
  // the auth scheme is case-insensitive (RFC 9110 §11.1); the token itself is compared exactly
  const m = header === undefined ? null : /^bearer[ \t]+(.*)$/is.exec(header);
  const given = m === null ? '' : m[1].trim();
  // hash both so the comparison is constant-time whatever the lengths
  const a = createHash('sha256').update(given).digest();
  const b = createHash('sha256').update(token).digest();
  return timingSafeEqual(a, b) && given.length > 0;
}
