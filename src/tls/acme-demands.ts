// What the ACME resolvers are asked for (pure): the routes' certificate demands, normalized and merged so that
// each resolver holds one certificate per main domain, and what a resolver's config needs read from disk.
import { readFileSync } from 'node:fs';
import type { AcmeConfig } from '../config/tls-schema.ts';
import { normalizeHost } from './certificate.ts';

/** The shape of CertificateDemand (src/upstream/listeners.ts): `domains[0]` is the main name, the rest SANs. */
export interface Demand {
  resolver: string;
  domains: readonly string[];
}

/** A certificate to hold: its resolver, main domain first, then the other names sorted. */
export interface Wanted {
  key: string;
  resolver: string;
  domains: string[];
}

export const wantedKey = (resolver: string, main: string): string => `${resolver} ${main}`;

/** The store id of a resolver's certificate. */
export const certificateId = (resolver: string, main: string): string => `acme:${resolver}:${main}`;

/** Demands by key: names lower-cased without a trailing dot, demands for the same main name merged (their SANs
 *  joined), resolvers not in `known` left out (and reported once through `unknown`). */
export function normalizeDemands(
  demands: readonly Demand[],
  known: ReadonlySet<string>,
  unknown: (resolver: string) => void,
): Map<string, Wanted> {
  const out = new Map<string, Wanted>();
  for (const d of demands) {
    if (!known.has(d.resolver)) {
      unknown(d.resolver);
      continue;
    }
    const names = d.domains.map(normalizeHost).filter((n) => n !== '');
    if (names.length === 0) continue;
    const key = wantedKey(d.resolver, names[0]);
    const current = out.get(key);
    const sans = new Set([...(current?.domains.slice(1) ?? []), ...names.slice(1)]);
    sans.delete(names[0]);
    out.set(key, { key, resolver: d.resolver, domains: [names[0], ...[...sans].sort()] });
  }
  return out;
}

/** A stable text for a set of wanted certificates (want() does nothing when it has not changed). */
export function signature(wanted: ReadonlyMap<string, Wanted>): string {
  return [...wanted.values()]
    .map((w) => `${w.resolver} ${w.domains.join(',')}`)
    .sort()
    .join('\n');
}

/** Every name of `want` is among `have`. */
export function coversAll(have: readonly string[], want: readonly string[]): boolean {
  const set = new Set(have);
  return want.every((d) => set.has(d));
}

/** Traefik's rule: names a configured certificate file serves (and will for renewBefore yet) are not ordered. */
export function coveredByFile(
  domains: readonly string[],
  renewBefore: number,
  covers: (host: string) => { source: string; notAfter: string } | null,
): boolean {
  return domains.every((d) => {
    if (d.startsWith('*.')) return false;
    const s = covers(d);
    return s !== null && s.source === 'file' && Date.parse(s.notAfter) - renewBefore > Date.now();
  });
}

/** When a certificate is due for renewal (ms): `renewBefore` ahead of its expiry, but never before half its
 *  lifetime (a renewBefore as long as the certificates the CA issues would otherwise renew at every check). */
export function renewalTime(notBefore: number, notAfter: number, renewBefore: number): number {
  return notAfter - Math.min(renewBefore, Math.max(0, notAfter - notBefore) / 2);
}

/** The PEM text of every `caCertificates` file, or the problems, each with its config path. */
export function readCaCertificates(resolvers: Readonly<Record<string, AcmeConfig>>): {
  pems: Map<string, string[]>;
  problems: string[];
} {
  const pems = new Map<string, string[]>();
  const problems: string[] = [];
  for (const [name, config] of Object.entries(resolvers)) {
    const list: string[] = [];
    config.caCertificates.forEach((file, i) => {
      const path = `certificatesResolvers.${name}.acme.caCertificates.${i}`;
      try {
        const pem = readFileSync(file, 'utf8');
        if (!pem.includes('-----BEGIN CERTIFICATE-----')) problems.push(`${path}: ${file} holds no PEM certificate`);
        else list.push(pem);
      } catch (err) {
        problems.push(`${path}: cannot read ${file}: ${(err as Error).message}`);
      }
    });
    pems.set(name, list);
  }
  return { pems, problems };
}
