// A pure reader for the first bytes of a TLS connection: is it TLS, and which server name (SNI) and ALPN
// protocols does the ClientHello offer? Reassembles a ClientHello fragmented over several handshake records,
// checks every length against what remains, never throws and never reads out of bounds.
//
// Choices (RFC 8446, RFC 6066, RFC 7301):
// - byte 0 other than 0x16 is 'not-tls': plain HTTP, garbage, and SSLv2-style hellos (high bit set) alike.
// - records: type 22, version 0x03xx, length 1..2^14; the ClientHello must end exactly at a record boundary (a
//   client sends nothing else before the server answers), so a record running past it is 'invalid'.
// - several host_name entries in the SNI list are 'invalid' (RFC 6066 §3 allows one name per type); entries of
//   other name types are skipped. A name whose last label is all digits (an IPv4 literal, which RFC 6066 forbids)
//   is reported as serverName null, as if no SNI were sent; an IPv6 literal fails the character check: 'invalid'.
// - supportedVersions and the ALPN list are returned as sent, GREASE values included.

/** What the first bytes of a connection say. */
export type HelloResult =
  | { kind: 'need-more' }
  | { kind: 'not-tls' }
  | { kind: 'invalid'; reason: string }
  | { kind: 'hello'; serverName: string | null; alpn: string[]; legacyVersion: number; supportedVersions: number[] };

/** A complete, well-formed ClientHello: SNI host name (null when none), ALPN names (latin1), versions offered. */
export type ClientHello = Extract<HelloResult, { kind: 'hello' }>;

/**
 * Bytes (record headers included) a ClientHello may occupy. Real ones are under 2 KB even with a post-quantum key
 * share (X25519MLKEM768 adds 1216 bytes; Node 24's hello is about 1.6 KB); this allows one full 2^14-byte plaintext
 * record, some 8 times that, while bounding what a connection may make us buffer before TLS starts.
 */
export const MAX_CLIENT_HELLO_BYTES = 16 * 1024 + 5;

const RECORD_HANDSHAKE = 22;
const HANDSHAKE_CLIENT_HELLO = 1;
const MAX_RECORD_PLAINTEXT = 1 << 14;
/** version(2) random(32) session_id(1) cipher_suites(2+2) compression_methods(1+1) */
const MIN_HELLO_BODY = 41;
const EXT_SERVER_NAME = 0;
const EXT_ALPN = 16;
const EXT_PRE_SHARED_KEY = 41;
const EXT_SUPPORTED_VERSIONS = 43;

const NEED_MORE: HelloResult = { kind: 'need-more' };
const NOT_TLS: HelloResult = { kind: 'not-tls' };

function invalid(reason: string): HelloResult {
  return { kind: 'invalid', reason };
}

/**
 * Reads the ClientHello at the start of buf. 'need-more' means buf is a correct prefix: call again with more bytes.
 * A hello whose records would run past maxBytes is 'invalid' (as soon as a length field says so). Bytes after the
 * hello's last record (early data, say) are ignored.
 */
export function readClientHello(buf: Buffer, maxBytes: number = MAX_CLIENT_HELLO_BYTES): HelloResult {
  if (buf.length === 0) return NEED_MORE;
  if (buf[0] !== RECORD_HANDSHAKE) return NOT_TLS;
  const parts: number[] = []; // [start, end) offsets of handshake fragments in buf
  let pos = 0; // start of the current record
  let have = 0; // handshake bytes before the current record
  let need = -1; // 4 + handshake length, once the handshake header is in
  for (;;) {
    if (pos > 0 && pos < buf.length && buf[pos] !== RECORD_HANDSHAKE) return invalid('record type');
    if (pos + 1 < buf.length && buf[pos + 1] !== 3) return invalid('record version');
    if (pos + 5 > buf.length) return NEED_MORE;
    const len = buf.readUInt16BE(pos + 3);
    if (len === 0 || len > MAX_RECORD_PLAINTEXT) return invalid('record length');
    if (pos + 5 + len > maxBytes) return invalid('too large');
    const start = pos + 5;
    const end = Math.min(start + len, buf.length);
    parts.push(start, end);
    if (need < 0 && have + end - start >= 4) {
      const header = gather(buf, parts, 4);
      if (header[0] !== HANDSHAKE_CLIENT_HELLO) return invalid('handshake type');
      need = 4 + header.readUIntBE(1, 3);
      if (need - 4 < MIN_HELLO_BODY) return invalid('handshake length');
      if (start + need - have > maxBytes) return invalid('too large');
    }
    if (need >= 0 && have + len > need) return invalid('data after hello');
    if (start + len > buf.length) return NEED_MORE;
    have += len;
    pos = start + len;
    if (have === need) return parseHello(gather(buf, parts, need).subarray(4));
  }
}

/** The first n handshake bytes: a view of buf when one fragment holds them, else a copy. */
function gather(buf: Buffer, parts: number[], n: number): Buffer {
  if (parts[1] - parts[0] >= n) return buf.subarray(parts[0], parts[0] + n);
  const out = Buffer.allocUnsafe(n);
  let at = 0;
  for (let i = 0; i < parts.length && at < n; i += 2) {
    at += buf.copy(out, at, parts[i], Math.min(parts[i + 1], parts[i] + n - at));
  }
  return out;
}

/** Parses a ClientHello body (after the 4-byte handshake header); b is exactly the body. */
function parseHello(b: Buffer): HelloResult {
  const legacyVersion = b.readUInt16BE(0);
  if (b[0] !== 3) return invalid('client version');
  let p = 34; // version + random
  const sessionLen = b[p];
  if (sessionLen > 32) return invalid('session id length');
  p += 1 + sessionLen;
  if (p + 2 > b.length) return invalid('truncated');
  const suitesLen = b.readUInt16BE(p);
  if (suitesLen < 2 || suitesLen % 2 !== 0) return invalid('cipher suites length');
  p += 2 + suitesLen;
  if (p + 1 > b.length) return invalid('truncated');
  const compressionLen = b[p];
  if (compressionLen < 1) return invalid('compression methods length');
  p += 1 + compressionLen;
  if (p > b.length) return invalid('truncated');
  const result: ClientHello = { kind: 'hello', serverName: null, alpn: [], legacyVersion, supportedVersions: [] };
  if (p === b.length) return result; // no extensions (allowed before TLS 1.3)
  if (p + 2 > b.length || b.readUInt16BE(p) !== b.length - p - 2) return invalid('extensions length');
  p += 2;
  const seen = new Set<number>();
  while (p < b.length) {
    if (p + 4 > b.length) return invalid('extension header');
    const type = b.readUInt16BE(p);
    const len = b.readUInt16BE(p + 2);
    const start = p + 4;
    p = start + len;
    if (p > b.length) return invalid('extension length');
    if (seen.has(type)) return invalid('duplicate extension');
    if (seen.has(EXT_PRE_SHARED_KEY)) return invalid('pre_shared_key not last');
    seen.add(type);
    const data = b.subarray(start, p);
    if (type === EXT_SERVER_NAME) {
      const name = parseServerName(data);
      if (typeof name === 'object') return name;
      result.serverName = name === '' ? null : name;
    } else if (type === EXT_ALPN) {
      const alpn = parseAlpn(data);
      if (!Array.isArray(alpn)) return alpn;
      result.alpn = alpn;
    } else if (type === EXT_SUPPORTED_VERSIONS) {
      const versions = parseVersions(data);
      if (!Array.isArray(versions)) return versions;
      result.supportedVersions = versions;
    }
  }
  return result;
}

/** The host_name of a server_name extension, normalized; '' for an IPv4 literal or no host_name entry. */
function parseServerName(d: Buffer): string | HelloResult {
  if (d.length < 3 || d.readUInt16BE(0) !== d.length - 2) return invalid('server_name length');
  let name: string | null = null;
  for (let p = 2; p < d.length;) {
    if (p + 3 > d.length) return invalid('server_name entry');
    const type = d[p];
    const len = d.readUInt16BE(p + 1);
    const start = p + 3;
    p = start + len;
    if (len === 0 || p > d.length) return invalid('server_name entry length');
    if (type !== 0) continue;
    if (name !== null) return invalid('several host names');
    name = hostName(d, start, p);
    if (name === null) return invalid('bad host name');
  }
  return name ?? '';
}

/**
 * A host name: letters, digits, '-', '_' and '.', no empty label, at most 253 characters without the trailing dot.
 * Lower-cased, trailing dot removed; '' when the last label is all digits (an IP literal); null when malformed.
 */
function hostName(d: Buffer, start: number, end: number): string | null {
  if (d[end - 1] === 0x2e) end--;
  if (end <= start || end - start > 253) return null;
  let numericLabel = true;
  for (let i = start; i < end; i++) {
    const c = d[i];
    if (c === 0x2e) {
      if (i === start || d[i - 1] === 0x2e) return null;
      numericLabel = true;
      continue;
    }
    const digit = c >= 0x30 && c <= 0x39;
    const letter = (c | 0x20) >= 0x61 && (c | 0x20) <= 0x7a;
    if (!digit && !letter && c !== 0x2d && c !== 0x5f) return null;
    if (!digit) numericLabel = false;
  }
  if (d[end - 1] === 0x2e) return null;
  return numericLabel ? '' : d.toString('latin1', start, end).toLowerCase();
}

/** The protocol names of an ALPN extension (RFC 7301 §3.1: a non-empty list of non-empty names). */
function parseAlpn(d: Buffer): string[] | HelloResult {
  if (d.length < 3 || d.readUInt16BE(0) !== d.length - 2) return invalid('alpn length');
  const out: string[] = [];
  for (let p = 2; p < d.length;) {
    const len = d[p];
    const start = p + 1;
    p = start + len;
    if (len === 0 || p > d.length) return invalid('alpn entry length');
    out.push(d.toString('latin1', start, p));
  }
  return out;
}

/** The versions of a supported_versions extension (RFC 8446 §4.2.1: 1-byte length, 2 to 254 bytes). */
function parseVersions(d: Buffer): number[] | HelloResult {
  if (d.length < 1 || d[0] !== d.length - 1 || d[0] < 2 || d[0] % 2 !== 0) return invalid('supported_versions length');
  const out: number[] = [];
  for (let p = 1; p < d.length; p += 2) out.push(d.readUInt16BE(p));
  return out;
}
