// The ACME storage file (`certificatesResolvers.<name>.acme.storage`): per resolver, the account (key and URL) for
// each CA it used, and the certificates it obtained, one per main domain. JSON, mode 0600, replaced atomically
// (temp file, fsync, rename, fsync the folder). Several resolvers may share one file: each owns its own key in it,
// and entries of resolvers the config no longer has are kept as they are.
import { closeSync, fsyncSync, mkdirSync, openSync, readFileSync, renameSync, rmSync, writeSync } from 'node:fs';
import { dirname } from 'node:path';
import { ConfigError } from '../errors.ts';

export const STORAGE_VERSION = 1;

export interface StoredAccount {
  /** PEM (PKCS#8) */
  keyPem: string;
  /** null until the CA has answered newAccount */
  url: string | null;
  email: string | null;
  createdAt: string;
}

export interface StoredCertificate {
  /** main domain first, then the SANs */
  domains: string[];
  /** leaf first, then the chain the CA sent */
  certPem: string;
  keyPem: string;
  notBefore: string;
  notAfter: string;
  obtainedAt: string;
}

export interface StoredResolver {
  /** by CA directory URL */
  accounts: Record<string, StoredAccount>;
  /** by main domain */
  certificates: Record<string, StoredCertificate>;
}

export interface StorageFile {
  version: number;
  resolvers: Record<string, StoredResolver>;
}

/** Reads what the file held (an empty file when there is none). A file that is not valid storage JSON is moved
 *  aside (`<file>.corrupt-<ms>`) and reported through `onCorrupt`: certificates get ordered again. */
export class AcmeStorage {
  readonly file: string;
  #data: StorageFile;

  constructor(file: string, onCorrupt: (error: string, movedTo: string) => void) {
    this.file = file;
    let text: string | null = null;
    try {
      text = readFileSync(file, 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') {
        throw new ConfigError([`acme storage ${file}: cannot read it: ${(err as Error).message}`], { cause: err });
      }
    }
    this.#data = { version: STORAGE_VERSION, resolvers: {} };
    if (text === null) return;
    const parsed = parseStorage(text);
    if (typeof parsed !== 'string') {
      this.#data = parsed;
      return;
    }
    const movedTo = `${file}.corrupt-${Date.now()}`;
    renameSync(file, movedTo);
    onCorrupt(parsed, movedTo);
  }

  /** The resolver's entry (created empty when the file has none). Changes are written by save(). */
  resolver(name: string): StoredResolver {
    const r = this.#data.resolvers[name];
    if (r !== undefined) return r;
    const created: StoredResolver = { accounts: {}, certificates: {} };
    this.#data.resolvers[name] = created;
    return created;
  }

  /** Writes the whole file atomically, mode 0600. Throws when the disk refuses (the caller logs it). */
  save(): void {
    mkdirSync(dirname(this.file), { recursive: true, mode: 0o700 });
    const tmp = `${this.file}.${process.pid}.tmp`;
    rmSync(tmp, { force: true }); // a stale one would keep its own mode
    try {
      const fd = openSync(tmp, 'w', 0o600);
      try {
        writeSync(fd, JSON.stringify(this.#data, null, 2) + '\n');
        fsyncSync(fd);
      } finally {
        closeSync(fd);
      }
      renameSync(tmp, this.file);
    } catch (err) {
      rmSync(tmp, { force: true });
      throw err;
    }
    try {
      const dfd = openSync(dirname(this.file), 'r');
      try {
        fsyncSync(dfd);
      } finally {
        closeSync(dfd);
      }
    } catch {
      // some filesystems refuse fsync on a directory; the rename is still atomic
    }
  }
}

/** The file's contents, or what is wrong with them. Entries that are not the expected shape are dropped one by
 *  one (a certificate missing its key is ordered again), never the whole file. */
export function parseStorage(text: string): StorageFile | string {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (err) {
    return `not JSON: ${(err as Error).message}`;
  }
  if (!isObject(raw) || !isObject(raw.resolvers)) return 'not an ACME storage file (no "resolvers" object)';
  if (raw.version !== STORAGE_VERSION) return `unknown storage version ${JSON.stringify(raw.version)}`;
  const resolvers: Record<string, StoredResolver> = {};
  for (const [name, r] of Object.entries(raw.resolvers)) {
    if (!isObject(r)) continue;
    const accounts: Record<string, StoredAccount> = {};
    for (const [ca, a] of Object.entries(isObject(r.accounts) ? r.accounts : {})) {
      if (!isObject(a) || typeof a.keyPem !== 'string') continue;
      accounts[ca] = {
        keyPem: a.keyPem,
        url: typeof a.url === 'string' ? a.url : null,
        email: typeof a.email === 'string' ? a.email : null,
        createdAt: typeof a.createdAt === 'string' ? a.createdAt : new Date(0).toISOString(),
      };
    }
    const certificates: Record<string, StoredCertificate> = {};
    for (const [main, c] of Object.entries(isObject(r.certificates) ? r.certificates : {})) {
      if (!isObject(c) || typeof c.certPem !== 'string' || typeof c.keyPem !== 'string') continue;
      if (!Array.isArray(c.domains) || !c.domains.every((d) => typeof d === 'string')) continue;
      certificates[main] = {
        domains: c.domains as string[],
        certPem: c.certPem,
        keyPem: c.keyPem,
        notBefore: typeof c.notBefore === 'string' ? c.notBefore : '',
        notAfter: typeof c.notAfter === 'string' ? c.notAfter : '',
        obtainedAt: typeof c.obtainedAt === 'string' ? c.obtainedAt : '',
      };
    }
    resolvers[name] = { accounts, certificates };
  }
  return { version: STORAGE_VERSION, resolvers };
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}
