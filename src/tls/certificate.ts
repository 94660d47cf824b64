// A certificate as baton serves it: a PEM chain (leaf first, served whole) and its private key, checked with
// node:crypto, with the DNS names the leaf covers and its validity.
import { readFileSync } from 'node:fs';
import { createPrivateKey, X509Certificate, type KeyObject } from 'node:crypto';
import { CertificateError } from '../errors.ts';

export interface ParsedCertificate {
  /** the whole chain as read (leaf first): what the handshake sends */
  certPem: string;
  keyPem: string;
  leaf: X509Certificate;
  /** DNS names, lower-case, the subject's CN first when it is one of them */
  domains: string[];
  notBefore: Date;
  notAfter: Date;
}

const PEM_CERTIFICATE = /-----BEGIN CERTIFICATE-----[A-Za-z0-9+/=\s]+?-----END CERTIFICATE-----/g;
const PEM_KEY = /-----BEGIN (?:[A-Z]+ )?PRIVATE KEY-----/;
const DNS_NAME = /^(\*\.)?[a-z0-9_](?:[a-z0-9_-]*[a-z0-9_])?(?:\.[a-z0-9_](?:[a-z0-9_-]*[a-z0-9_])?)*$/;

/** Lower-case, without the trailing dot: the form every lookup uses. */
export function normalizeHost(name: string): string {
  const lower = name.toLowerCase();
  return lower.endsWith('.') ? lower.slice(0, -1) : lower;
}

/** Parses and checks a chain and its key; throws CertificateError saying which half is wrong. */
export function parseCertificate(certPem: string, keyPem: string): ParsedCertificate {
  const { cert, problems } = check(certPem, keyPem);
  if (cert === undefined) throw problems[0];
  return cert;
}

/** Reads and checks a certificate file and its key file: the certificate, or every problem (each naming its file). */
export function readCertificateFiles(
  certFile: string,
  keyFile: string,
): { cert?: ParsedCertificate; problems: CertificateError[] } {
  const read = (file: string, part: 'certificate' | 'key'): string | CertificateError => {
    try {
      return readFileSync(file, 'utf8');
    } catch (err) {
      return new CertificateError(`cannot read ${file}: ${readReason(err)}`, part, { cause: err });
    }
  };
  const { cert, problems } = check(read(certFile, 'certificate'), read(keyFile, 'key'));
  const named = problems.map((p) =>
    p.message.startsWith('cannot read ')
      ? p
      : new CertificateError(`${p.part === 'key' ? keyFile : certFile}: ${p.message}`, p.part, { cause: p.cause }),
  );
  return { cert, problems: named };
}

function check(
  certPem: string | CertificateError,
  keyPem: string | CertificateError,
): { cert?: ParsedCertificate; problems: CertificateError[] } {
  const problems: CertificateError[] = [];
  let chain: X509Certificate[] | null = null;
  let key: KeyObject | null = null;
  const blocks = typeof certPem === 'string' ? certPem.match(PEM_CERTIFICATE) : null;
  if (typeof certPem !== 'string') problems.push(certPem);
  else if (blocks === null) problems.push(new CertificateError('no PEM certificate in it', 'certificate'));
  else {
    try {
      chain = blocks.map((b) => new X509Certificate(b));
    } catch (err) {
      problems.push(new CertificateError(`not a valid certificate: ${reason(err)}`, 'certificate', { cause: err }));
    }
  }
  if (typeof keyPem !== 'string') problems.push(keyPem);
  else if (!PEM_KEY.test(keyPem)) problems.push(new CertificateError('no PEM private key in it', 'key'));
  else {
    try {
      key = createPrivateKey(keyPem);
    } catch (err) {
      problems.push(new CertificateError(`not a valid private key: ${reason(err)}`, 'key', { cause: err }));
    }
  }
  if (chain === null || key === null || blocks === null || typeof keyPem !== 'string') return { problems };
  const leaf = chain[0];
  if (!leaf.checkPrivateKey(key))
    return { problems: [new CertificateError('the key does not match the certificate', 'key')] };
  const cert = {
    certPem: blocks.join('\n') + '\n',
    keyPem,
    leaf,
    domains: domainsOf(leaf),
    notBefore: leaf.validFromDate,
    notAfter: leaf.validToDate,
  };
  return { cert, problems };
}

function readReason(err: unknown): string {
  const code = (err as NodeJS.ErrnoException).code;
  if (code === 'ENOENT') return 'no such file';
  if (code === 'EISDIR') return 'it is a directory';
  if (code === 'EACCES' || code === 'EPERM') return 'permission denied';
  return code ?? reason(err);
}

function reason(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

/** The leaf's DNS subjectAltNames (the CN first when listed); the CN only when there is no SAN at all. */
export function domainsOf(cert: X509Certificate): string[] {
  const cn = /^CN=(.*)$/m.exec(cert.subject)?.[1];
  const sans = cert.subjectAltName;
  if (sans === undefined) return cn !== undefined && DNS_NAME.test(normalizeHost(cn)) ? [normalizeHost(cn)] : [];
  const names: string[] = [];
  for (const entry of sans.split(', ')) {
    if (!entry.startsWith('DNS:')) continue;
    const name = normalizeHost(entry.slice(4).replace(/^"(.*)"$/, '$1'));
    if (!names.includes(name)) names.push(name);
  }
  const main = cn === undefined ? -1 : names.indexOf(normalizeHost(cn));
  if (main > 0) names.unshift(...names.splice(main, 1));
  return names;
}

/** Whether `domain` (a SAN, maybe `*.parent`) covers the normalized `host`: a wildcard is one label, never the apex. */
export function domainCovers(domain: string, host: string): boolean {
  if (domain === host) return true;
  if (!domain.startsWith('*.')) return false;
  const dot = host.indexOf('.');
  return dot > 0 && host.slice(dot + 1) === domain.slice(2);
}
