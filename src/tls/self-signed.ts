// A self-signed certificate made synchronously with node:crypto (ECDSA P-256, SHA-256): the default certificate when
// none is configured, so a handshake always has something to answer with. The X.509 structure is written here as
// DER (a dozen fixed fields), because the store loads synchronously at start-up and WebCrypto (and so
// @peculiar/x509's generator) only signs asynchronously.
import { generateKeyPairSync, randomBytes, sign } from 'node:crypto';

export const DEFAULT_CERTIFICATE_CN = 'baton default certificate';
const YEAR_MS = 365 * 86_400_000;
/** notBefore this far back, for clients whose clocks run a little behind */
const CLOCK_SKEW_MS = 3_600_000;

export interface SelfSignedOptions {
  commonName?: string;
  /** subjectAltName DNS entries (none by default) */
  dnsNames?: string[];
  notBefore?: Date;
  notAfter?: Date;
}

/** A fresh key pair and a self-signed leaf certificate for it, both PEM (the key PKCS#8). */
export function selfSignedCertificate(opts: SelfSignedOptions = {}): { certPem: string; keyPem: string } {
  const now = Date.now();
  const notBefore = opts.notBefore ?? new Date(now - CLOCK_SKEW_MS);
  const notAfter = opts.notAfter ?? new Date(now + YEAR_MS);
  const { publicKey, privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const name = seq(set(seq(oid('2.5.4.3'), tlv(0x0c, Buffer.from(opts.commonName ?? DEFAULT_CERTIFICATE_CN)))));
  const ecdsaWithSha256 = seq(oid('1.2.840.10045.4.3.2'));
  const serial = randomBytes(16);
  serial[0] = (serial[0] & 0x7f) | 0x40; // positive, and no leading zero byte
  const extensions = [
    extension('2.5.29.19', true, seq()), // basicConstraints: not a CA
    extension('2.5.29.15', true, tlv(0x03, Buffer.from([0x07, 0x80]))), // keyUsage: digitalSignature
    extension('2.5.29.37', false, seq(oid('1.3.6.1.5.5.7.3.1'))), // extKeyUsage: serverAuth
  ];
  const dns = opts.dnsNames ?? [];
  if (dns.length > 0) extensions.push(extension('2.5.29.17', false, seq(...dns.map((d) => tlv(0x82, Buffer.from(d))))));
  const tbs = seq(
    tlv(0xa0, tlv(0x02, Buffer.from([2]))), // version: v3
    tlv(0x02, serial),
    ecdsaWithSha256,
    name,
    seq(time(notBefore), time(notAfter)),
    name,
    publicKey.export({ type: 'spki', format: 'der' }),
    tlv(0xa3, seq(...extensions)),
  );
  const signature = sign('sha256', tbs, privateKey); // DER-encoded ECDSA signature
  const der = seq(tbs, ecdsaWithSha256, tlv(0x03, Buffer.from([0]), signature));
  const certPem = `-----BEGIN CERTIFICATE-----\n${lines(der.toString('base64'))}-----END CERTIFICATE-----\n`;
  return { certPem, keyPem: privateKey.export({ type: 'pkcs8', format: 'pem' }).toString() };
}

function tlv(tag: number, ...parts: Buffer[]): Buffer {
  const body = Buffer.concat(parts);
  const n = body.length;
  const length = n < 0x80 ? [n] : n < 0x100 ? [0x81, n] : [0x82, n >> 8, n & 0xff];
  return Buffer.concat([Buffer.from([tag, ...length]), body]);
}

const seq = (...parts: Buffer[]) => tlv(0x30, ...parts);
const set = (...parts: Buffer[]) => tlv(0x31, ...parts);

function oid(dotted: string): Buffer {
  const [a, b, ...rest] = dotted.split('.').map(Number);
  const bytes = [40 * a + b];
  for (const v of rest) {
    const groups = [v & 0x7f];
    for (let x = v >>> 7; x > 0; x >>>= 7) groups.unshift((x & 0x7f) | 0x80);
    bytes.push(...groups);
  }
  return tlv(0x06, Buffer.from(bytes));
}

function extension(id: string, critical: boolean, value: Buffer): Buffer {
  const flag = critical ? [tlv(0x01, Buffer.from([0xff]))] : [];
  return seq(oid(id), ...flag, tlv(0x04, value));
}

/** UTCTime through 2049, GeneralizedTime after (RFC 5280 §4.1.2.5). */
function time(d: Date): Buffer {
  const iso = d.toISOString(); // YYYY-MM-DDTHH:MM:SS.sssZ
  const digits = iso.slice(0, 19).replace(/[-T:]/g, '') + 'Z';
  const year = d.getUTCFullYear();
  return year < 2050 && year >= 1950 ? tlv(0x17, Buffer.from(digits.slice(2))) : tlv(0x18, Buffer.from(digits));
}

function lines(base64: string): string {
  return base64.replace(/.{1,64}/g, '$&\n');
}
