// The ACME resolvers (`certificatesResolvers.<name>.acme`): every certificate the TLS routes ask a resolver for
// is obtained from its CA, kept in its storage file, served from the certificate store, and renewed before it
// expires. Stored certificates serve at once on start; a host without one gets the default certificate until its
// order succeeds. Orders are queued per resolver and rate-limited; a failing one backs off without holding up the
// others, and nothing here ever removes a certificate that serves.
import type { Client } from 'acme-client';
import type { Logger } from 'pino';
import type { AcmeConfig } from '../config/tls-schema.ts';
import { AcmeError, ConfigError } from '../errors.ts';
import { registeredClient } from './acme-account.ts';
import { ChallengeBoard, type ChallengeChange } from './acme-challenges.ts';
import * as D from './acme-demands.ts';
import { AcmeTransport } from './acme-http.ts';
import { obtainCertificate, type ChallengeType } from './acme-order.ts';
import { backoffDelay, MAX_TIMER_MS, OrderQueue, RateLimit } from './acme-queue.ts';
import { DEFAULT_ACME_TUNING, type AcmeTuning } from './acme-tuning.ts';
import { AcmeStorage, type StoredResolver } from './acme-storage.ts';
import { parseCertificate } from './certificate.ts';
import { PendingRows, withPending, type AcmeStatus } from './acme-status.ts';
import type { CertificateStatus, CertificateStore } from './store.ts';
import type { Challenges } from './terminator.ts';

export type { Demand } from './acme-demands.ts';
export type { AcmeStatus } from './acme-status.ts';
export { DEFAULT_ACME_TUNING, type AcmeTuning } from './acme-tuning.ts';

/** What Entrypoint asks for HTTP-01 (the shape of HttpChallenges in src/proxy/entrypoint.ts). */
export interface HttpChallengeAnswers {
  keyAuthorization(token: string): string | null;
}

/** Where demands come from (the Registry has both). */
export interface DemandSource {
  certificateDemands(): readonly D.Demand[];
  changed(ms: number, signal?: AbortSignal): Promise<void>;
}

export interface AcmeResolversOptions {
  resolvers: Readonly<Record<string, AcmeConfig>>;
  store: CertificateStore;
  log: Logger;
  tuning?: Partial<AcmeTuning>;
}

interface Resolver {
  name: string;
  config: AcmeConfig;
  challenge: ChallengeType;
  storage: AcmeStorage;
  stored: StoredResolver;
  transport: AcmeTransport;
  queue: OrderQueue;
  client: Promise<Client> | null;
}

export class AcmeResolvers {
  readonly #board = new ChallengeBoard();
  readonly httpChallenges: HttpChallengeAnswers = this.#board;
  readonly tlsChallenges: Challenges = this.#board;
  /** orders started, certificates obtained, orders failed (since start) */
  readonly stats = { ordered: 0, obtained: 0, failed: 0 };
  readonly #store: CertificateStore;
  readonly #log: Logger;
  readonly #tuning: AcmeTuning;
  readonly #resolvers = new Map<string, Resolver>();
  readonly #closing = new AbortController();
  #wanted = new Map<string, D.Wanted>();
  #signature = '';
  /** wanted certificates without one in the store: their status */
  readonly #rows: PendingRows;
  readonly #unknown = new Set<string>();
  #renewTimer: NodeJS.Timeout | null = null;
  #following: Promise<void> | null = null;

  /** Reads every storage file and serves the certificates in it; throws ConfigError when a file cannot be read. */
  constructor(opts: AcmeResolversOptions) {
    this.#store = opts.store;
    this.#rows = new PendingRows(opts.store);
    this.#log = opts.log;
    this.#tuning = { ...DEFAULT_ACME_TUNING, ...opts.tuning };
    const { pems, problems } = D.readCaCertificates(opts.resolvers);
    if (problems.length > 0) throw new ConfigError(problems);
    const files = new Map<string, AcmeStorage>();
    const rate = new RateLimit(this.#tuning.ordersPerMinute);
    for (const [name, config] of Object.entries(opts.resolvers)) {
      let storage = files.get(config.storage);
      if (storage === undefined) {
        storage = new AcmeStorage(config.storage, (error, movedTo) =>
          this.#log.error({ storage: config.storage, movedTo, error }, 'ACME storage unreadable; starting afresh'),
        );
        files.set(config.storage, storage);
      }
      const r: Resolver = {
        name,
        config,
        challenge: config.tlsChallenge !== undefined ? 'tls-alpn-01' : 'http-01',
        storage,
        stored: storage.resolver(name),
        transport: new AcmeTransport({ ca: pems.get(name)!, timeoutMs: this.#tuning.requestTimeoutMs }),
        queue: new OrderQueue({
          concurrency: this.#tuning.concurrency,
          rate,
          backoff: this.#tuning.backoff,
          run: (key, signal) => this.#order(r, key, signal),
        }),
        client: null,
      };
      this.#resolvers.set(name, r);
      this.#load(r);
    }
    this.#armRenewal();
  }

  /** Every challenge added or removed from now on (worker threads answer them too). */
  observeChallenges(fn: (c: ChallengeChange) => void): void {
    this.#board.observe(fn);
  }

  /** The HTTP-01 answers for an entrypoint: the board when a resolver names it in httpChallenge, else null. */
  httpChallengesFor(entrypoint: string): HttpChallengeAnswers | null {
    for (const r of this.#resolvers.values()) if (r.config.httpChallenge?.entryPoint === entrypoint) return this.#board;
    return null;
  }

  /** The certificates wanted now. Idempotent; does nothing when they have not changed. */
  want(demands: readonly D.Demand[]): void {
    if (this.#closing.signal.aborted) return;
    const wanted = D.normalizeDemands(demands, new Set(this.#resolvers.keys()), (name) => {
      if (this.#unknown.has(name)) return;
      this.#unknown.add(name);
      this.#log.warn({ resolver: name }, 'A route names a certificate resolver the config does not have');
    });
    const sig = D.signature(wanted);
    if (sig === this.#signature) return;
    this.#signature = sig;
    for (const [key, w] of this.#wanted) {
      if (wanted.has(key)) continue;
      this.#resolvers.get(w.resolver)!.queue.cancel(key);
      this.#rows.close(key);
    }
    this.#wanted = wanted;
    for (const w of wanted.values()) this.#check(w);
  }

  /** Calls want() with the source's demands now and whenever they may have changed, until close(). */
  follow(source: DemandSource): void {
    if (this.#following !== null) throw new Error('AcmeResolvers.follow() called twice');
    const signal = this.#closing.signal;
    this.#following = (async () => {
      while (!signal.aborted) {
        this.want(source.certificateDemands());
        await source.changed(60_000, signal);
      }
    })();
  }

  /** Rows for wanted certificates that have none in the store yet (pending, or failing with lastError). */
  list(): AcmeStatus[] {
    return this.#rows.rows(this.#wanted.values(), (name) => this.#resolvers.get(name)!.queue);
  }

  /** The store's rows with list()'s merged in before the default certificate: what GET /api/certificates shows. */
  certificateList(): { list(): CertificateStatus[] } {
    return withPending(this.#store, () => this.list());
  }

  /** challenges being answered now, and validation requests answered so far (tests, leak checks) */
  get challenges(): { pending: number; answered: { http: number; alpn: number } } {
    return { pending: this.#board.pending, answered: { ...this.#board.answered } };
  }

  /** Aborts the orders in flight and stops every timer; certificates keep serving. */
  async close(): Promise<void> {
    this.#closing.abort();
    if (this.#renewTimer !== null) clearTimeout(this.#renewTimer);
    this.#renewTimer = null;
    await this.#following;
    await Promise.allSettled([...this.#resolvers.values()].map((r) => r.queue.close()));
    for (const r of this.#resolvers.values()) r.transport.close();
  }

  /** Serves the resolver's stored certificates; an unusable one is dropped (and ordered again when wanted). */
  #load(r: Resolver): void {
    for (const [main, c] of Object.entries(r.stored.certificates)) {
      const id = D.certificateId(r.name, main);
      try {
        const parsed = parseCertificate(c.certPem, c.keyPem);
        c.domains = parsed.domains;
        c.notBefore = parsed.notBefore.toISOString();
        c.notAfter = parsed.notAfter.toISOString();
        this.#store.put(id, `resolver:${r.name}`, c.certPem, c.keyPem);
      } catch (err) {
        delete r.stored.certificates[main];
        const fields = { resolver: r.name, certificate: id, err: (err as Error).message };
        this.#log.warn(fields, 'Stored certificate unusable; ordered again when wanted');
      }
    }
  }

  /** Queues an order for `w` unless a certificate that is not due for renewal already covers it. */
  #check(w: D.Wanted): void {
    const r = this.#resolvers.get(w.resolver)!;
    if (r.queue.has(w.key)) return;
    const c = r.stored.certificates[w.domains[0]];
    if (c !== undefined && D.coversAll(c.domains, w.domains)) {
      const due = D.renewalTime(Date.parse(c.notBefore), Date.parse(c.notAfter), r.config.renewBefore);
      if (Date.now() < due) return;
    } else if (c === undefined && D.coveredByFile(w.domains, r.config.renewBefore, (d) => this.#store.covers(d))) {
      return;
    }
    this.#rows.open(w);
    r.queue.schedule(w.key);
  }

  async #order(r: Resolver, key: string, signal: AbortSignal): Promise<void> {
    const w = this.#wanted.get(key);
    if (w === undefined) return; // no longer wanted
    const id = D.certificateId(r.name, w.domains[0]);
    const fields = { resolver: r.name, domains: w.domains, challenge: r.challenge };
    const started = Date.now();
    const attempt = { lastRenewalAttempt: new Date(started).toISOString() };
    this.#rows.record(w, attempt);
    this.stats.ordered++;
    this.#log.info(fields, 'Ordering certificate');
    try {
      const got = await r.transport.run(signal, async () => {
        const client = await this.#client(r);
        const { keyType } = r.config;
        const order = { client, domains: w.domains, keyType, challenge: r.challenge, board: this.#board };
        return obtainCertificate({ ...order, signal, poll: this.#tuning.poll });
      });
      const parsed = parseCertificate(got.certPem, got.keyPem);
      this.#store.put(id, `resolver:${r.name}`, got.certPem, got.keyPem);
      this.#store.update(id, attempt); // a first certificate's row starts now
      r.stored.certificates[w.domains[0]] = {
        domains: parsed.domains,
        ...got,
        notBefore: parsed.notBefore.toISOString(),
        notAfter: parsed.notAfter.toISOString(),
        obtainedAt: new Date().toISOString(),
      };
      this.#save(r);
      this.#rows.close(key);
      this.stats.obtained++;
      const done = { notAfter: parsed.notAfter.toISOString(), durationMs: Date.now() - started };
      this.#log.info({ ...fields, ...done }, 'Certificate obtained');
    } catch (err) {
      if (signal.aborted) throw err; // closing
      r.client = null; // registered again by the next order: the CA may have forgotten the account
      this.stats.failed++;
      const message = (err as Error).message || String(err);
      this.#rows.record(w, { lastError: message, lastErrorAt: new Date().toISOString() });
      const retryInMs = backoffDelay(this.#tuning.backoff, r.queue.failures(key) + 1);
      this.#log.warn({ ...fields, err: message, retryInMs }, 'Certificate order failed');
      throw new AcmeError(message, r.name, w.domains, { cause: err });
    }
  }

  /** The resolver's client, registered with the CA on first use (and again after a failure). */
  #client(r: Resolver): Promise<Client> {
    const save = () => this.#save(r);
    r.client ??= registeredClient({ resolver: r.name, config: r.config, stored: r.stored, save, log: this.#log });
    return r.client.catch((err: unknown) => {
      r.client = null;
      throw err;
    });
  }

  #save(r: Resolver): void {
    try {
      r.storage.save();
    } catch (err) {
      const fields = { storage: r.storage.file, err: (err as Error).message };
      this.#log.error(fields, 'Cannot write the ACME storage; certificates will be ordered again after a restart');
    }
  }

  #armRenewal(): void {
    this.#renewTimer = setTimeout(
      () => {
        if (this.#closing.signal.aborted) return;
        for (const w of this.#wanted.values()) this.#check(w);
        this.#armRenewal();
      },
      Math.min(this.#tuning.renewCheckMs, MAX_TIMER_MS),
    );
    this.#renewTimer.unref();
  }
}

/** The resolvers of a config (`certificatesResolvers`), or null when it has none. */
export function createAcme(opts: {
  certificatesResolvers: Readonly<Record<string, { acme: AcmeConfig }>>;
  store: CertificateStore;
  log: Logger;
  tuning?: Partial<AcmeTuning>;
}): AcmeResolvers | null {
  const entries = Object.entries(opts.certificatesResolvers);
  if (entries.length === 0) return null;
  const resolvers = Object.fromEntries(entries.map(([name, r]) => [name, r.acme]));
  return new AcmeResolvers({ resolvers, store: opts.store, log: opts.log, tuning: opts.tuning });
}
