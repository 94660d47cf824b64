// SecureContexts as every certificate gets them: the tls.options entry's versions and TLS 1.2 ciphers, the
// server's cipher order, and session resumption with one ticket key for the whole process.
import { randomBytes } from 'node:crypto';
import { createSecureContext, type SecureContext } from 'node:tls';
import type { TlsOptionConfig } from '../config/tls-schema.ts';
import type { ParsedCertificate } from './certificate.ts';

/** Session-ticket keys: one random set per process, shared by every context of every store, so a ticket resumes
 *  whichever certificate the next handshake picks, and across reloads and config changes. Never rotated while the
 *  process runs (a restart rotates it); a ticket is refused once older than TLS_SESSION_TIMEOUT_S anyway. */
const TICKET_KEYS = randomBytes(48);
/** how long a session (ticket) can be resumed, seconds (Node's and nginx's default) */
export const TLS_SESSION_TIMEOUT_S = 300;

/** what an options name not under tls.options (notably 'default') means: TLS 1.2 and 1.3, 1.3 preferred */
export const DEFAULT_TLS_OPTIONS: TlsOptionConfig = {
  minVersion: 'VersionTLS12',
  maxVersion: 'VersionTLS13',
  sniStrict: false,
};
const VERSIONS = { VersionTLS12: 'TLSv1.2', VersionTLS13: 'TLSv1.3' } as const;

/** Throws when Node refuses the certificate, the key or the options. */
export function secureContext(cert: ParsedCertificate, o: TlsOptionConfig): SecureContext {
  return createSecureContext({
    cert: cert.certPem,
    key: cert.keyPem,
    minVersion: VERSIONS[o.minVersion],
    maxVersion: VERSIONS[o.maxVersion],
    ciphers: o.cipherSuites?.join(':'),
    honorCipherOrder: true,
    sessionTimeout: TLS_SESSION_TIMEOUT_S,
    ticketKeys: TICKET_KEYS,
  });
}

/** Problems with one tls.options entry (`path` is its config path): versions out of order, cipher names OpenSSL
 *  does not know. */
export function checkTlsOptions(path: string, o: TlsOptionConfig): string[] {
  if (o.minVersion > o.maxVersion) return [`${path}.minVersion: ${o.minVersion} is above maxVersion ${o.maxVersion}`];
  if (o.cipherSuites === undefined) return [];
  try {
    createSecureContext({ ciphers: o.cipherSuites.join(':') });
    return [];
  } catch (err) {
    return [`${path}.cipherSuites: OpenSSL knows none of them (${(err as Error).message})`];
  }
}
