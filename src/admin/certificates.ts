// GET /api/certificates: every certificate baton serves, as the store lists it (files, resolver certificates, then
// the default), each with how many days it has left and whether that is within the expiry warning. Pure.
import { CERT_EXPIRY_WARNING_MS } from '../config/defaults.ts';
import type { CertificateStatus } from '../tls/store.ts';

const DAY_MS = 86_400_000;

/** What the admin API needs of the certificate store (CertificateStore has it). */
export interface CertificateList {
  list(): CertificateStatus[];
}

/** One row of `GET /api/certificates` (and what `baton certs` prints). */
export interface CertificateView {
  id: string;
  source: CertificateStatus['source'];
  /** DNS subjectAltNames, main first (none for the self-signed default) */
  domains: string[];
  notBefore: string;
  notAfter: string;
  /** whole days until notAfter, rounded down: 0 in its last day, negative once expired */
  expiresInDays: number;
  /** expires within CERT_EXPIRY_WARNING_MS, or has expired */
  expiringSoon: boolean;
  certFile?: string;
  lastError: string | null;
  lastErrorAt: string | null;
  lastRenewalAttempt: string | null;
}

export function certificateView(s: CertificateStatus, now: number): CertificateView {
  const left = Date.parse(s.notAfter) - now;
  return {
    id: s.id,
    source: s.source,
    domains: [...s.domains],
    notBefore: s.notBefore,
    notAfter: s.notAfter,
    expiresInDays: Math.floor(left / DAY_MS),
    expiringSoon: left < CERT_EXPIRY_WARNING_MS,
    ...(s.certFile !== undefined ? { certFile: s.certFile } : {}),
    lastError: s.lastError,
    lastErrorAt: s.lastErrorAt,
    lastRenewalAttempt: s.lastRenewalAttempt ?? null,
  };
}

/** The body of `GET /api/certificates`, at `now` (ms). */
export function certificatesBody(store: CertificateList, now = Date.now()): { certificates: CertificateView[] } {
  return { certificates: store.list().map((s) => certificateView(s, now)) };
}
