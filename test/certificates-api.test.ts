// GET /api/certificates against a real baton serving real (openssl-made) certificate files, and the pure pieces
// behind it and behind `baton certs`: the row's days left and expiry warning, and the table. (The CLI itself, as a
// child process, is in cli.test.ts.)
import { X509Certificate } from 'node:crypto';
import t, { type Test } from 'tap';
import { certificateView } from '../src/admin/certificates.ts';
import { certsTable } from '../src/cli/output.ts';
import { CERT_EXPIRY_WARNING_MS } from '../src/config/defaults.ts';
import type { CertificateStatus } from '../src/tls/store.ts';
import { CORRUPT_PEM, makeCa, makeLeaf, replaceFile } from './fixtures/certs.ts';
import { admin, startBaton, tempDir, TOKEN } from './fixtures/harness.ts';

const DAY_MS = 86_400_000;

function twoCertificates(t: Test) {
  const dir = tempDir(t);
  const ca = makeCa(dir);
  const a = makeLeaf(ca, dir, ['a.test', 'www.a.test']);
  const soon = makeLeaf(ca, dir, ['soon.test'], { days: 5 });
  const tls = { certificates: [a, soon].map(({ certFile, keyFile }) => ({ certFile, keyFile })) };
  return { a, soon, tls };
}

t.test('GET /api/certificates lists the files in config order, then the default, with days left', async (t) => {
  const { a, soon, tls } = twoCertificates(t);
  const baton = await startBaton(t, { tls });
  const r = await admin(baton.adminPort, 'GET', '/api/certificates');
  t.equal(r.status, 200);
  t.same(Object.keys(r.json), ['certificates']);
  const rows = r.json.certificates;
  t.same(
    rows.map((c: { id: string; source: string }) => [c.id, c.source]),
    [
      [`file:${a.certFile}`, 'file'],
      [`file:${soon.certFile}`, 'file'],
      ['default', 'self-signed'],
    ],
  );
  const [ra, rsoon, rdefault] = rows;
  const keys = [
    'id',
    'source',
    'domains',
    'notBefore',
    'notAfter',
    'expiresInDays',
    'expiringSoon',
    'certFile',
    'lastError',
    'lastErrorAt',
    'lastRenewalAttempt',
  ];
  t.same(Object.keys(ra), keys, 'a file row: the documented fields, in order (no keyFile)');
  t.same(Object.keys(rdefault), keys.filter((k) => k !== 'certFile'), 'the default has no certFile');

  t.same(ra.domains, ['a.test', 'www.a.test'], 'main domain first');
  t.equal(ra.certFile, a.certFile);
  const x509 = new X509Certificate(a.certPem);
  t.equal(ra.notAfter, new Date(x509.validTo).toISOString());
  t.equal(ra.notBefore, new Date(x509.validFrom).toISOString());
  t.ok(ra.expiresInDays === 29 || ra.expiresInDays === 30, `30-day cert: ${ra.expiresInDays} whole days left`);
  t.equal(ra.expiringSoon, false);
  t.same([ra.lastError, ra.lastErrorAt, ra.lastRenewalAttempt], [null, null, null]);

  t.same(rsoon.domains, ['soon.test']);
  t.ok(rsoon.expiresInDays === 4 || rsoon.expiresInDays === 5, `5-day cert: ${rsoon.expiresInDays} whole days left`);
  t.equal(rsoon.expiringSoon, true, 'within the 14-day warning');

  t.same(rdefault.domains, []);
  t.ok(rdefault.expiresInDays >= 364, 'the self-signed default lasts a year');
  t.equal(rdefault.expiringSoon, false);

  // a reload that fails keeps the old certificate serving and shows on its row
  replaceFile(a.certFile, CORRUPT_PEM);
  baton.app.certificates.reload();
  const after = (await admin(baton.adminPort, 'GET', '/api/certificates')).json.certificates[0];
  t.equal(after.id, `file:${a.certFile}`);
  t.type(after.lastError, 'string');
  t.ok(after.lastError.length > 0, `lastError: ${after.lastError}`);
  t.ok(!Number.isNaN(Date.parse(after.lastErrorAt)), 'lastErrorAt is a timestamp');
  t.equal(after.notAfter, ra.notAfter, 'still the previous certificate');
});

t.test('GET /api/certificates needs the bearer token; other methods are 405 with Allow: GET', async (t) => {
  const baton = await startBaton(t);
  for (const token of [null, 'wrong-token-0123456789abcdef']) {
    const res = await fetch(`http://127.0.0.1:${baton.adminPort}/api/certificates`, {
      headers: token === null ? {} : { authorization: `Bearer ${token}` },
    });
    t.equal(res.status, 401, token === null ? 'no token' : 'a wrong token');
    t.equal(res.headers.get('www-authenticate'), 'Bearer realm="baton"');
    t.equal((await res.json()).error.code, 'BATON_UNAUTHORIZED');
  }
  for (const method of ['POST', 'PUT', 'DELETE', 'PATCH']) {
    const res = await fetch(`http://127.0.0.1:${baton.adminPort}/api/certificates`, {
      method,
      headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' },
      body: method === 'DELETE' ? undefined : '{}',
    });
    t.equal(res.status, 405, `${method} → 405`);
    t.equal(res.headers.get('allow'), 'GET');
    t.equal((await res.json()).error.code, 'BATON_METHOD_NOT_ALLOWED');
  }
  const only = await admin(baton.adminPort, 'GET', '/api/certificates');
  t.same(
    only.json.certificates.map((c: { id: string; source: string }) => [c.id, c.source]),
    [['default', 'self-signed']],
    'without tls.certificates: only the self-signed default',
  );
  t.equal((await admin(baton.adminPort, 'GET', '/api/certificates/default')).status, 404);
});

const NOW = Date.parse('2030-06-01T12:00:00.000Z');

function status(id: string, notAfterMs: number, extra: Partial<CertificateStatus> = {}): CertificateStatus {
  return {
    id,
    source: 'file',
    domains: ['x.test'],
    notBefore: new Date(notAfterMs - 90 * DAY_MS).toISOString(),
    notAfter: new Date(notAfterMs).toISOString(),
    certFile: '/certs/x.crt',
    keyFile: '/certs/x.key',
    lastError: null,
    lastErrorAt: null,
    ...extra,
  };
}

t.test('certificateView: whole days rounded down, the warning at 14 days and after expiry', async (t) => {
  const days = (ms: number) => {
    const v = certificateView(status('file:x', NOW + ms), NOW);
    return [v.expiresInDays, v.expiringSoon];
  };
  t.same(days(30 * DAY_MS), [30, false]);
  t.same(days(CERT_EXPIRY_WARNING_MS), [14, false], 'exactly 14 days left: not yet');
  t.same(days(CERT_EXPIRY_WARNING_MS - 1), [13, true], 'a millisecond less: expiring soon');
  t.same(days(5 * DAY_MS - 1000), [4, true]);
  t.same(days(1000), [0, true], 'its last day');
  t.same(days(-1000), [-1, true], 'just expired');
  t.same(days(-3 * DAY_MS), [-3, true]);
  const v = certificateView(status('file:x', NOW, { lastRenewalAttempt: undefined }), NOW);
  t.equal(v.lastRenewalAttempt, null, 'always present');
  t.notOk('keyFile' in v, 'key paths are not listed');
  const acme = certificateView(
    status('acme:le:y.test', NOW + DAY_MS, { source: 'resolver:le', certFile: undefined, keyFile: undefined }),
    NOW,
  );
  t.notOk('certFile' in acme, 'no certFile for a resolver certificate');
});

t.test('certsTable: domains, source, date, days left, errors; expiring rows marked', async (t) => {
  const long = 'cannot read /etc/baton/certs/x.crt: ENOENT: no such file or directory, open the file again later';
  const rows = [
    status('file:a', NOW + 29.25 * DAY_MS, { domains: ['a.test', 'www.a.test'] }),
    status('file:b', NOW + 4.5 * DAY_MS, { domains: ['b.test'], lastError: long, lastErrorAt: new Date(NOW).toISOString() }),
    status('acme:le:c.test', NOW - 3.2 * DAY_MS, { domains: ['c.test'], source: 'resolver:le' }),
    status('default', NOW + 365 * DAY_MS, { domains: [], source: 'self-signed' }),
  ].map((s) => certificateView(s, NOW));
  const out = certsTable(rows);
  const line = (needle: string) => {
    const found = out.split('\n').filter((l) => l.includes(needle));
    if (found.length !== 1) throw new Error(`expected one line with ${needle} in:\n${out}`);
    return found[0];
  };
  t.match(out, /DOMAINS.*SOURCE.*NOT AFTER.*EXPIRES IN.*LAST ERROR/);
  t.match(line('a.test, www.a.test'), /│ file\s+│ 2030-06-30 │ 29 d\s+│ —/);
  t.notMatch(line('a.test, www.a.test'), /⚠/);
  t.match(line('b.test'), /│ ⚠ 4 d\s+│ cannot read \/etc\/baton/);
  t.match(line('b.test'), /…/, 'a long error is shortened');
  t.notOk(out.includes('open the file again later'));
  t.match(line('c.test'), /resolver:le.*⚠ expired 4 d ago/);
  t.match(line('(default)'), /self-signed.*365 d/);
  t.match(out, /⚠ 2 of 4 expire within 14 days or have expired\n$/);
  t.notMatch(certsTable(rows.filter((r) => !r.expiringSoon)), /expire within/, 'no note when all is well');
});
