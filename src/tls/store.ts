// The certificate store: every certificate baton serves (files from `tls.certificates`, the default certificate,
// and the ones the ACME resolver obtains), a SecureContext for each under every `tls.options` entry, and the SNI
// lookup a handshake runs (names.ts). Files are re-read on reload() (SIGHUP) and when they change (watch.ts).
import type { SecureContext } from 'node:tls';
import type { Logger } from 'pino';
import { CERT_EXPIRY_WARNING_MS } from '../config/defaults.ts';
import type { CertificateFile, TlsConfig, TlsOptionConfig } from '../config/tls-schema.ts';
import { CertificateError, ConfigError } from '../errors.ts';
import {
  domainCovers,
  normalizeHost,
  parseCertificate,
  readCertificateFiles,
  type ParsedCertificate,
} from './certificate.ts';
import { selfSignedCertificate } from './self-signed.ts';
import { checkTlsOptions, DEFAULT_TLS_OPTIONS, secureContext } from './context.ts';
import { NameIndex } from './names.ts';
import { FileWatcher } from './watch.ts';

/** One row of GET /api/certificates and `baton certs`. */
export interface CertificateStatus {
  /** stable: 'file:<certFile>' | 'default' | 'acme:<resolver>:<main domain>' */
  id: string;
  source: 'file' | 'default' | 'self-signed' | `resolver:${string}`;
  /** DNS subjectAltNames, main first */
  domains: string[];
  notBefore: string;
  notAfter: string;
  certFile?: string;
  keyFile?: string;
  /** e.g. a reload that failed (the previous certificate keeps serving) */
  lastError: string | null;
  lastErrorAt: string | null;
  /** filled by the ACME resolver via update() */
  lastRenewalAttempt?: string | null;
}

export type StatusPatch = Partial<Pick<CertificateStatus, 'lastError' | 'lastErrorAt' | 'lastRenewalAttempt'>>;

export interface CertificateStoreOptions {
  tls: TlsConfig;
  log: Logger;
  /** reload when a certificate or key file changes (default true) */
  watch?: boolean;
}

interface Entry {
  status: CertificateStatus;
  domains: string[];
  /** notAfter, ms */
  expires: number;
  cert: ParsedCertificate;
  /** per tls.options name, all built when the entry is made (a handshake never builds one) */
  contexts: Map<string, SecureContext>;
}

/** A managed certificate put or removed, as data (worker threads replay it on their own store). */
export type ManagedChange =
  | { kind: 'put'; id: string; source: `resolver:${string}`; certPem: string; keyPem: string }
  | { kind: 'remove'; id: string };

/** A certificate that comes from files: re-read by reload(). */
interface FileSpec {
  id: string;
  source: 'file' | 'default';
  file: CertificateFile;
  /** where it is in the config, for start-up problems */
  path: string;
}

export class CertificateStore {
  readonly #log: Logger;
  #options = new Map<string, TlsOptionConfig>();
  #files: FileSpec[] = [];
  /** every certificate but the default, in config order then in the order put() added them */
  readonly #entries = new Map<string, Entry>();
  #default!: Entry;
  #index = new NameIndex<Entry>([]);
  #watcher: FileWatcher | null = null;
  #observer: ((c: ManagedChange) => void) | null = null;
  readonly #watchFiles: boolean;

  /** Loads every file synchronously; throws ConfigError listing every problem with its config path. */
  static load(opts: CertificateStoreOptions): CertificateStore {
    return new CertificateStore(opts);
  }

  constructor(opts: CertificateStoreOptions) {
    this.#log = opts.log;
    const problems: string[] = [];
    this.#options.set('default', DEFAULT_TLS_OPTIONS);
    for (const [name, o] of Object.entries(opts.tls.options)) {
      this.#options.set(name, o);
      problems.push(...checkTlsOptions(`tls.options.${name}`, o));
    }
    opts.tls.certificates.forEach((file, i) => {
      const id = `file:${file.certFile}`;
      const twin = this.#files.find((f) => f.id === id);
      if (twin !== undefined) problems.push(`tls.certificates.${i}.certFile: listed twice (also ${twin.path})`);
      else this.#files.push({ id, source: 'file', file, path: `tls.certificates.${i}` });
    });
    const configured = opts.tls.stores.default?.defaultCertificate;
    if (configured !== undefined) {
      this.#files.push({
        id: 'default',
        source: 'default',
        file: configured,
        path: 'tls.stores.default.defaultCertificate',
      });
    }
    if (problems.length > 0) throw new ConfigError(problems); // contexts cannot be built with broken options
    for (const spec of this.#files) {
      const { cert, problems: found } = readCertificateFiles(spec.file.certFile, spec.file.keyFile);
      for (const p of found) problems.push(`${spec.path}.${p.part === 'key' ? 'keyFile' : 'certFile'}: ${p.message}`);
      if (cert === undefined) continue;
      try {
        this.#add(this.#entry(fileStatus(spec, cert), cert));
      } catch (err) {
        problems.push(`${spec.path}: ${(err as Error).message}`);
      }
    }
    if (problems.length > 0) throw new ConfigError(problems);
    if (configured === undefined) {
      const { certPem, keyPem } = selfSignedCertificate();
      const cert = parseCertificate(certPem, keyPem);
      this.#default = this.#entry(row('default', 'self-signed', cert), cert);
    }
    this.#reindex();
    for (const e of this.#all()) this.#checkExpiry(e);
    this.#watchFiles = opts.watch !== false;
    if (this.#watchFiles) this.#watch();
  }

  #watch(): void {
    if (this.#files.length === 0) return;
    const paths = this.#files.flatMap((f) => [f.file.certFile, f.file.keyFile]);
    this.#watcher = new FileWatcher(paths, () => this.reload(), this.#log);
  }

  /** The context for a handshake: exact name, then wildcard, then the default certificate; null (refuse the
   *  handshake) when the options are sniStrict and nothing matches. An unknown options name means 'default'. */
  contextFor(serverName: string | null, options = 'default'): SecureContext | null {
    const name = this.#options.has(options) ? options : 'default';
    const host = serverName === null || serverName === '' ? null : normalizeHost(serverName);
    const entry = host === null ? undefined : this.#index.match(host);
    if (entry !== undefined) return entry.contexts.get(name)!;
    if (this.#options.get(name)!.sniStrict && (host === null || !covered(this.#default, host))) return null;
    return this.#default.contexts.get(name)!;
  }

  /** Every managed certificate put or removed from now on (worker threads serve them too). */
  observe(fn: ((c: ManagedChange) => void) | null): void {
    this.#observer = fn;
  }

  /** Adds or replaces a certificate baton manages (ACME): PEM chain (leaf first) and key. Serves new handshakes at
   *  once. Throws CertificateError when they are invalid or `id` is a configured file. */
  put(id: string, source: `resolver:${string}`, certPem: string, keyPem: string): void {
    const previous = this.#entries.get(id);
    if (id === 'default' || (previous !== undefined && !previous.status.source.startsWith('resolver:'))) {
      throw new CertificateError(`${id} is a configured certificate; put() only adds managed ones`, 'certificate');
    }
    const cert = parseCertificate(certPem, keyPem);
    const status = { ...row(id, source, cert), lastRenewalAttempt: previous?.status.lastRenewalAttempt ?? null };
    let entry: Entry;
    try {
      entry = this.#entry(status, cert);
    } catch (err) {
      throw new CertificateError(`cannot serve it: ${(err as Error).message}`, 'certificate', { cause: err });
    }
    this.#add(entry);
    this.#reindex();
    this.#observer?.({ kind: 'put', id, source, certPem, keyPem });
    this.#log.info({ certificate: id, domains: cert.domains, notAfter: status.notAfter }, 'Certificate added');
    this.#checkExpiry(entry);
  }

  /** Removes a managed (ACME) certificate; configured ones stay (false). */
  remove(id: string): boolean {
    const e = this.#entries.get(id);
    if (e === undefined || !e.status.source.startsWith('resolver:')) return false;
    this.#entries.delete(id);
    this.#reindex();
    this.#observer?.({ kind: 'remove', id });
    this.#log.info({ certificate: id }, 'Certificate removed');
    return true;
  }

  /** Records an error or a renewal attempt on a row; false when there is no such row. */
  update(id: string, patch: StatusPatch): boolean {
    const e = id === 'default' ? this.#default : this.#entries.get(id);
    if (e === undefined) return false;
    if (patch.lastError !== undefined) e.status.lastError = patch.lastError;
    if (patch.lastErrorAt !== undefined) e.status.lastErrorAt = patch.lastErrorAt;
    if (patch.lastRenewalAttempt !== undefined) e.status.lastRenewalAttempt = patch.lastRenewalAttempt;
    return true;
  }

  /** The certificate (never the default) a handshake for `host` would get, expired or not; null when none. */
  covers(host: string): CertificateStatus | null {
    const e = this.#index.match(normalizeHost(host));
    return e === undefined ? null : copy(e.status);
  }

  /** Re-reads every file. One that fails (unreadable, invalid, key not matching yet) keeps its previous
   *  certificate serving; the error goes to the log and the row's lastError. Unchanged files keep their contexts. */
  reload(): { changed: string[]; failed: string[] } {
    const changed: string[] = [];
    const failed: string[] = [];
    const now = () => new Date().toISOString();
    for (const spec of this.#files) {
      const current = spec.source === 'default' ? this.#default : this.#entries.get(spec.id)!;
      const { cert, problems } = readCertificateFiles(spec.file.certFile, spec.file.keyFile);
      let next: Entry | null = null;
      let error = problems.map((p) => p.message).join('; ');
      if (cert !== undefined && (cert.certPem !== current.cert.certPem || cert.keyPem !== current.cert.keyPem)) {
        try {
          next = this.#entry(fileStatus(spec, cert), cert);
        } catch (err) {
          error = `cannot serve it: ${(err as Error).message}`;
        }
      }
      if (error !== '') {
        current.status.lastError = error;
        current.status.lastErrorAt = now();
        failed.push(spec.id);
        this.#log.error({ certificate: spec.id, error }, 'Certificate reload failed; the previous one keeps serving');
      } else if (next !== null) {
        this.#add(next);
        changed.push(spec.id);
        this.#log.info({ certificate: spec.id, notAfter: next.status.notAfter }, 'Certificate reloaded');
        this.#checkExpiry(next);
      } else {
        current.status.lastError = null; // read fine and unchanged: whatever failed before is over
        current.status.lastErrorAt = null;
      }
    }
    if (changed.length > 0) this.#reindex();
    return { changed, failed };
  }

  /** Takes over the files, options and default certificate of `staged` (a store loaded from a reloaded config's
   *  `tls`, unwatched), atomically: the managed (ACME) certificates stay, their contexts made under the new options.
   *  A self-signed default stays the same certificate. Throws (changing nothing) when a managed one cannot be served
   *  under the new options. */
  adopt(staged: CertificateStore): void {
    const managed = [...this.#entries.values()].filter((e) => e.status.source.startsWith('resolver:'));
    const options = this.#options;
    this.#options = staged.#options;
    try {
      const rebuilt = managed.map((e) => this.#entry(e.status, e.cert));
      const keepDefault =
        staged.#default.status.source === 'self-signed' && this.#default.status.source === 'self-signed';
      this.#default = keepDefault ? this.#entry(this.#default.status, this.#default.cert) : staged.#default;
      this.#entries.clear();
      for (const e of [...staged.#entries.values(), ...rebuilt]) this.#entries.set(e.status.id, e);
    } catch (err) {
      this.#options = options;
      throw err;
    }
    this.#files = staged.#files;
    this.#reindex();
    this.#watcher?.close();
    this.#watcher = null;
    if (this.#watchFiles) this.#watch();
  }

  /** Every row: files in config order, then managed ones, then the default. Copies. */
  list(): CertificateStatus[] {
    return this.#all().map((e) => copy(e.status));
  }

  /** folders the file watcher watches (0 once closed) */
  get watching(): number {
    return this.#watcher?.watching ?? 0;
  }

  /** Stops the file watcher. The store keeps answering contextFor(). */
  close(): void {
    this.#watcher?.close();
    this.#watcher = null;
  }

  #all(): Entry[] {
    return [...this.#entries.values(), this.#default];
  }

  /** Builds every context for a certificate (throws when Node refuses it). */
  #entry(status: CertificateStatus, cert: ParsedCertificate): Entry {
    const contexts = new Map<string, SecureContext>();
    for (const [name, o] of this.#options) contexts.set(name, secureContext(cert, o));
    return { status, domains: cert.domains, expires: cert.notAfter.getTime(), cert, contexts };
  }

  #add(e: Entry): void {
    if (e.status.id === 'default') this.#default = e;
    else this.#entries.set(e.status.id, e);
  }

  #reindex(): void {
    this.#index = new NameIndex(this.#entries.values());
  }

  #checkExpiry(e: Entry): void {
    const left = e.cert.notAfter.getTime() - Date.now();
    if (left >= CERT_EXPIRY_WARNING_MS) return;
    const fields = { certificate: e.status.id, notAfter: e.status.notAfter };
    this.#log.warn(fields, left <= 0 ? 'Certificate has expired' : 'Certificate expires soon');
  }
}

function row(id: string, source: CertificateStatus['source'], cert: ParsedCertificate): CertificateStatus {
  return {
    id,
    source,
    domains: cert.domains,
    notBefore: cert.notBefore.toISOString(),
    notAfter: cert.notAfter.toISOString(),
    lastError: null,
    lastErrorAt: null,
  };
}

function fileStatus(spec: FileSpec, cert: ParsedCertificate): CertificateStatus {
  return { ...row(spec.id, spec.source, cert), certFile: spec.file.certFile, keyFile: spec.file.keyFile };
}

function covered(e: Entry, host: string): boolean {
  return e.status.domains.some((d) => domainCovers(d, host));
}

function copy(s: CertificateStatus): CertificateStatus {
  return { ...s, domains: [...s.domains] };
}
