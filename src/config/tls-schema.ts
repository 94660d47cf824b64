// The HTTPS parts of the config schema, with Traefik's names: route TLS, entrypoint redirections and HTTP/2
// settings, `tls` (options, certificate files, the default certificate) and `certificatesResolvers` (ACME).
import { z } from 'zod';
import { middlewareRefs } from './middleware-schema.ts';
import * as D from './defaults.ts';
import { parseLongDuration } from './units.ts';

const NAME = /^[A-Za-z0-9_-]+$/;
export const nameKey = (what: string) => z.string().regex(NAME, `${what} names are letters, digits, "_" and "-"`);

/** A DNS name a certificate may cover: a host name, or `*.` and one. */
const domainName = z
  .string()
  .transform((v) => v.trim().toLowerCase().replace(/\.$/, ''))
  .refine((v) => /^(\*\.)?[a-z0-9_](?:[a-z0-9_-]*[a-z0-9_])?(?:\.[a-z0-9_](?:[a-z0-9_-]*[a-z0-9_])?)*$/.test(v), {
    message: 'expected a DNS name like "example.com" or "*.example.com"',
  });

export const tlsDomainSchema = z.strictObject({
  main: domainName,
  sans: z.array(domainName).default([]),
});

/** A route's TLS (`tls: true` or Traefik's router tls object). */
export const routeTlsSchema = z.union([
  z.literal(true).transform(() => ({ domains: [] as Array<z.output<typeof tlsDomainSchema>> })),
  z.strictObject({
    certResolver: nameKey('resolver').optional(),
    /** certificates to obtain beyond the rule's Host names (ACME) */
    domains: z.array(tlsDomainSchema).default([]),
    /** a name under tls.options */
    options: nameKey('TLS options').optional(),
  }),
]);

/** A duration longer than a timer can hold (e.g. "30d", "720h"), up to a year: compared with dates, never given to
 *  setTimeout. */
const longDuration = (fallback: number) =>
  z
    .union([z.number(), z.string()])
    .transform((v, ctx) => {
      const ms = parseLongDuration(v);
      if (ms === null) {
        ctx.addIssue({ code: 'custom', message: `invalid duration ${JSON.stringify(v)} (use e.g. "30d" or "720h")` });
        return z.NEVER;
      }
      return ms;
    })
    .default(fallback);

const file = z.string().min(1, 'a file path is needed');
export const certificateFileSchema = z.strictObject({ certFile: file, keyFile: file });

export const entrypointHttpSchema = z
  .strictObject({
    redirections: z
      .strictObject({
        entryPoint: z.strictObject({
          /** an entrypoint name, or a port like ":443" */
          to: z.string().min(1),
          scheme: z.enum(['https', 'http']).default('https'),
          permanent: z.boolean().default(true),
        }),
      })
      .optional(),
    /** default TLS for every route served on this entrypoint */
    tls: routeTlsSchema.optional(),
    /** middlewares every route served on this entrypoint runs first (Traefik: entryPoints.<e>.http.middlewares) */
    middlewares: middlewareRefs.default([]),
  })
  .prefault({});

export const http2Schema = z
  .strictObject({
    maxConcurrentStreams: z.number().int().min(1).max(10_000).default(D.DEFAULT_H2_MAX_CONCURRENT_STREAMS),
  })
  .prefault({});

const tlsOptionSchema = z.strictObject({
  minVersion: z.enum(['VersionTLS12', 'VersionTLS13']).default('VersionTLS12'),
  maxVersion: z.enum(['VersionTLS12', 'VersionTLS13']).default('VersionTLS13'),
  /** OpenSSL cipher names for TLS 1.2 (TLS 1.3 suites are always the safe defaults) */
  cipherSuites: z.array(z.string().min(1)).optional(),
  /** refuse handshakes whose SNI matches no certificate (instead of answering with the default certificate) */
  sniStrict: z.boolean().default(false),
});

export const tlsSchema = z
  .strictObject({
    options: z.record(nameKey('TLS options'), tlsOptionSchema).default({}),
    certificates: z.array(certificateFileSchema).default([]),
    /** only the `default` store exists */
    stores: z
      .strictObject({ default: z.strictObject({ defaultCertificate: certificateFileSchema.optional() }).optional() })
      .prefault({}),
  })
  .prefault({});

export const acmeSchema = z
  .strictObject({
    email: z.string().email().optional(),
    /** account key and certificates; relative to stateDir; 0600, replaced atomically */
    storage: z.string().min(1).default('acme.json'),
    caServer: z.url({ protocol: /^https?$/ }).default(D.DEFAULT_ACME_CA_SERVER),
    /** extra CA certificates (PEM files) trusted for the ACME server itself */
    caCertificates: z.array(file).default([]),
    httpChallenge: z.strictObject({ entryPoint: nameKey('entrypoint') }).optional(),
    tlsChallenge: z.strictObject({}).optional(),
    keyType: z.enum(['EC256', 'EC384', 'RSA2048', 'RSA4096']).default('EC256'),
    /** renew a certificate this long before it expires */
    renewBefore: longDuration(D.DEFAULT_ACME_RENEW_BEFORE_MS),
  })
  .refine((a) => (a.httpChallenge === undefined) !== (a.tlsChallenge === undefined), {
    message: 'set exactly one of httpChallenge or tlsChallenge',
  });

export const certificatesResolversSchema = z
  .record(nameKey('resolver'), z.strictObject({ acme: acmeSchema }))
  .default({});

export type RouteTls = z.output<typeof routeTlsSchema>;
export type TlsDomain = z.output<typeof tlsDomainSchema>;
export type TlsConfig = z.output<typeof tlsSchema>;
export type TlsOptionConfig = z.output<typeof tlsOptionSchema>;
export type AcmeConfig = z.output<typeof acmeSchema>;
export type CertificateFile = z.output<typeof certificateFileSchema>;
