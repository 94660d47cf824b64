// What GET /api/certificates shows of the ACME resolvers beyond the store's rows: a row for every wanted
// certificate that has none in the store yet (still being ordered, or failing), with its last error and when the
// next order may start. Once a certificate is in the store, its status is recorded on the store's row instead.
import { certificateId, type Wanted } from './acme-demands.ts';
import type { OrderQueue } from './acme-queue.ts';
import type { CertificateStatus, CertificateStore, StatusPatch } from './store.ts';

/** A certificate wanted but not obtained yet (or failing). */
export interface AcmeStatus extends CertificateStatus {
  /** when the next order may start; null while one runs or none is queued */
  nextAttemptAt: string | null;
  /** failed orders in a row */
  failures: number;
}

type Row = Required<StatusPatch>;

export class PendingRows {
  readonly #store: CertificateStore;
  readonly #rows = new Map<string, Row>();

  constructor(store: CertificateStore) {
    this.#store = store;
  }

  /** Opens a row for `w` unless the store has its certificate (or the row is open already). */
  open(w: Wanted): void {
    // update() with nothing to change says whether the store has the row
    if (this.#rows.has(w.key) || this.#store.update(certificateId(w.resolver, w.domains[0]), {})) return;
    this.#rows.set(w.key, { lastError: null, lastErrorAt: null, lastRenewalAttempt: null });
  }

  /** The certificate arrived, or is no longer wanted. */
  close(key: string): void {
    this.#rows.delete(key);
  }

  /** On the store's row when the certificate is there, else on the pending row. */
  record(w: Wanted, patch: StatusPatch): void {
    if (this.#store.update(certificateId(w.resolver, w.domains[0]), patch)) return;
    const row = this.#rows.get(w.key) ?? { lastError: null, lastErrorAt: null, lastRenewalAttempt: null };
    this.#rows.set(w.key, { ...row, ...patch });
  }

  rows(wanted: Iterable<Wanted>, queueOf: (resolver: string) => OrderQueue): AcmeStatus[] {
    const out: AcmeStatus[] = [];
    for (const w of wanted) {
      const row = this.#rows.get(w.key);
      if (row === undefined) continue;
      const queue = queueOf(w.resolver);
      const next = queue.nextAttempt(w.key);
      out.push({
        id: certificateId(w.resolver, w.domains[0]),
        source: `resolver:${w.resolver}`,
        domains: [...w.domains],
        notBefore: '',
        notAfter: '',
        ...row,
        nextAttemptAt: next === null ? null : new Date(next).toISOString(),
        failures: queue.failures(w.key),
      });
    }
    return out;
  }
}

/** The store's rows with `pending` merged in before the default certificate (which the store lists last). */
export function withPending(store: CertificateStore, pending: () => AcmeStatus[]): { list(): CertificateStatus[] } {
  return {
    list: () => {
      const rows = store.list();
      const last = rows.pop()!;
      return [...rows, ...pending(), last];
    },
  };
}
