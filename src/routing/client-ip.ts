// ClientIP ranges (pure): IP addresses and CIDR ranges from a rule → a test on the client address that does not
// allocate for IPv4 clients.

import { BlockList, isIP, isIPv4 } from 'node:net';
import { RuleSyntaxError } from '../errors.ts';
import type { StringToken } from './lexer.ts';

/**
 * Parses dotted-quad IPv4 in s[start..] into an unsigned 32-bit number without allocating; -1 if it is not one.
 */
function ipv4ToInt(s: string, start: number): number {
  let value = 0;
  let octet = -1;
  let dots = 0;
  for (let i = start; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c === 46 /* . */) {
      if (octet < 0 || ++dots > 3) return -1;
      value = value * 256 + octet;
      octet = -1;
    } else if (c >= 48 && c <= 57) {
      octet = octet < 0 ? c - 48 : octet * 10 + (c - 48);
      if (octet > 255) return -1;
    } else {
      return -1;
    }
  }
  if (octet < 0 || dots !== 3) return -1;
  return value * 256 + octet;
}

/** Prefix length of a leading `::ffff:` (IPv4-mapped IPv6), case-insensitive; 0 if absent. */
function mappedPrefixLength(s: string): number {
  return s.length > 7 && s.charCodeAt(0) === 58 && s.charCodeAt(1) === 58 && s.slice(2, 7).toLowerCase() === 'ffff:'
    ? 7
    : 0;
}

/**
 * IPv4 ranges (and IPv4-mapped IPv6 ones, e.g. `::ffff:10.0.0.0/104`) are matched in plain JS against IPv4 and
 * IPv4-mapped clients; IPv6 ranges go to a node:net BlockList and match IPv6 clients (as in Go's net.IPNet).
 * Throws RuleSyntaxError pointing at an argument that is not an address or range.
 */
export function clientIpRanges(args: StringToken[]): (clientIp: string) => boolean {
  const v4Nets: number[] = []; // pairs: network, mask
  const v6 = new BlockList();
  let hasV6 = false;
  for (const a of args) {
    const bad = () => new RuleSyntaxError(`invalid IP address or CIDR '${a.value}' in ClientIP`, a.pos);
    const slash = a.value.indexOf('/');
    const addr = slash === -1 ? a.value : a.value.slice(0, slash);
    const family = isIP(addr);
    if (family === 0) throw bad();
    let prefix = family === 4 ? 32 : 128;
    if (slash !== -1) {
      const bits = a.value.slice(slash + 1);
      if (!/^\d{1,3}$/.test(bits) || Number(bits) > prefix) throw bad();
      prefix = Number(bits);
    }
    const mapped = family === 6 ? mappedPrefixLength(addr) : 0;
    if (family === 4 || (mapped && prefix >= 96 && isIPv4(addr.slice(mapped)))) {
      const ip = ipv4ToInt(addr, mapped);
      const bits = family === 4 ? prefix : prefix - 96;
      const mask = bits === 0 ? 0 : (0xffffffff << (32 - bits)) >>> 0;
      v4Nets.push((ip & mask) >>> 0, mask);
    } else {
      v6.addSubnet(addr, prefix, 'ipv6');
      hasV6 = true;
    }
  }
  const inV4 = (ip: number): boolean => {
    if (ip < 0) return false;
    for (let i = 0; i < v4Nets.length; i += 2) if ((ip & v4Nets[i + 1]) >>> 0 === v4Nets[i]) return true;
    return false;
  };
  return (clientIp) => {
    let ip = clientIp;
    if (!ip) return false;
    if (ip.indexOf(':') === -1) return inV4(ipv4ToInt(ip, 0));
    // dual-stack sockets report IPv4 clients as ::ffff:a.b.c.d
    const mapped = mappedPrefixLength(ip);
    if (mapped && ip.indexOf('.', mapped) !== -1) return inV4(ipv4ToInt(ip, mapped));
    if (!hasV6) return false;
    if (ip.charCodeAt(0) === 91 /* [ */) ip = ip.slice(1, ip.indexOf(']'));
    const zone = ip.indexOf('%');
    if (zone !== -1) ip = ip.slice(0, zone);
    return v6.check(ip, 'ipv6');
  };
}
