// TLS for the nginx-tls and baton-tls targets: the throwaway certificate (openssl, EC P-256), nginx's TLS
// directives (matched to Node's TLS defaults, which baton uses), and the readiness check over HTTPS/1.1 and h2.

import { execFileSync, spawnSync } from 'node:child_process';
import dns from 'node:dns/promises';
import fs from 'node:fs';
import http2 from 'node:http2';
import https from 'node:https';
import path from 'node:path';
import tls from 'node:tls';

/** The TLS host name: SNI, Host / :authority, the certificate's SAN. wrk sends the URL's host as SNI. */
export const TLS_HOST = 'localhost';
export const tlsUrl = (port: number): string => `https://${TLS_HOST}:${port}/`;

export interface Certificate {
  certFile: string;
  keyFile: string;
  pem: string;
}

/** A self-signed EC P-256 certificate for TLS_HOST and 127.0.0.1, valid for 30 days (baton warns
 *  about certificates that expire within 14), in `dir`. */
export function makeCertificate(opensslBin: string, dir: string): Certificate {
  const certFile = path.join(dir, 'bench-cert.pem');
  const keyFile = path.join(dir, 'bench-key.pem');
  execFileSync(
    opensslBin,
    [
      'req',
      '-x509',
      '-newkey',
      'ec',
      '-pkeyopt',
      'ec_paramgen_curve:P-256',
      '-nodes',
      '-keyout',
      keyFile,
      '-out',
      certFile,
      '-days',
      '30',
      '-subj',
      `/CN=${TLS_HOST}`,
      '-addext',
      `subjectAltName=DNS:${TLS_HOST},IP:127.0.0.1`,
    ],
    { stdio: ['ignore', 'ignore', 'pipe'], timeout: 20_000 },
  );
  return { certFile, keyFile, pem: fs.readFileSync(certFile, 'utf8') };
}

/** Why the TLS targets cannot run on this machine (beyond missing programs), or null. */
export async function tlsProblem(nginxBin: string): Promise<string | null> {
  const addresses = await dns.lookup(TLS_HOST, { all: true }).catch(() => []);
  if (!addresses.some((a) => a.address === '127.0.0.1')) {
    return `${TLS_HOST} does not resolve to 127.0.0.1 (wrk connects to, and sends as SNI, the URL's host)`;
  }
  if (!nginxSays(nginxBin, '-V').includes('--with-http_v2_module')) return 'nginx is built without http_v2_module';
  return null;
}

/** What `nginx <flag>` prints (to stderr: -v and -V write there). */
function nginxSays(nginxBin: string, flag: '-v' | '-V'): string {
  const res = spawnSync(nginxBin, [flag], { stdio: ['ignore', 'pipe', 'pipe'], encoding: 'utf8', timeout: 10_000 });
  return `${res.stdout ?? ''}${res.stderr ?? ''}`;
}

/** nginx's version as [major, minor, patch] (nginx -v), or null when it cannot be read. */
export function nginxVersion(nginxBin: string): [number, number, number] | null {
  const m = /nginx\/(\d+)\.(\d+)\.(\d+)/.exec(nginxSays(nginxBin, '-v'));
  return m ? [Number(m[1]), Number(m[2]), Number(m[3])] : null;
}

/**
 * The `listen` and `ssl_*` lines of nginx's TLS server: HTTP/2 (nginx >= 1.25.1 `http2 on;`, before that
 * `listen ... ssl http2`), TLS 1.2 and 1.3 only (1.22's default would leave out 1.3), the server's cipher order,
 * and Node's default cipher lists, so both servers negotiate the same protocol, cipher and group.
 */
export function nginxTlsLines(port: number, cert: Certificate, version: [number, number, number] | null): string[] {
  const [major, minor, patch] = version ?? [0, 0, 0];
  const http2On = major > 1 || (major === 1 && (minor > 25 || (minor === 25 && patch >= 1)));
  const ciphers = tls.DEFAULT_CIPHERS.split(':');
  const tls13 = ciphers.filter((c) => c.startsWith('TLS_'));
  const tls12 = ciphers.filter((c) => !c.startsWith('TLS_'));
  return [
    http2On ? `listen 127.0.0.1:${port} ssl;` : `listen 127.0.0.1:${port} ssl http2;`,
    ...(http2On ? ['http2 on;'] : []),
    `ssl_certificate ${cert.certFile};`,
    `ssl_certificate_key ${cert.keyFile};`,
    'ssl_protocols TLSv1.2 TLSv1.3;',
    'ssl_prefer_server_ciphers on;',
    `ssl_ciphers ${tls12.join(':')};`,
    `ssl_conf_command Ciphersuites ${tls13.join(':')};`,
    'ssl_session_timeout 300s;',
    // h2 streams count as requests (nginx >= 1.19.7); h2load puts far more than 100000 on a connection.
    'keepalive_requests 10000000;',
  ];
}

/** True when the server answers `body` both over HTTPS/1.1 (no ALPN offered) and HTTP/2, with the bench certificate. */
export async function answersOverTls(port: number, cert: Certificate, body: string): Promise<boolean> {
  const h1 = await new Promise<string>((resolve, reject) => {
    const req = https.get(
      {
        host: '127.0.0.1',
        port,
        path: '/',
        servername: TLS_HOST,
        headers: { host: `${TLS_HOST}:${port}` },
        ca: cert.pem,
        agent: false,
        timeout: 2000,
      },
      (res) => {
        let data = '';
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => (data += chunk));
        res.on('end', () => resolve(res.statusCode === 200 ? data : `status ${res.statusCode}`));
        res.on('error', reject);
      },
    );
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', reject);
  });
  if (h1 !== body) return false;
  return (await h2Get(port, cert)) === body;
}

function h2Get(port: number, cert: Certificate): Promise<string> {
  return new Promise((resolve, reject) => {
    const session = http2.connect(`https://127.0.0.1:${port}`, { ca: cert.pem, servername: TLS_HOST });
    const timer = setTimeout(() => session.destroy(new Error('timeout')), 2000);
    const done = (err: Error | null, value = '') => {
      clearTimeout(timer);
      session.close();
      if (err) reject(err);
      else resolve(value);
    };
    session.on('error', (err) => done(err));
    const req = session.request({ ':path': '/', ':authority': `${TLS_HOST}:${port}` });
    let status = 0;
    let data = '';
    req.setEncoding('utf8');
    req.on('response', (headers) => (status = Number(headers[':status'])));
    req.on('data', (chunk: string) => (data += chunk));
    req.on('end', () => done(null, status === 200 ? data : `status ${status}`));
    req.on('error', (err) => done(err));
    req.end();
  });
}
