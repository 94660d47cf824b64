// basicAuth and forwardAuth (src/middleware/auth/): htpasswd files written by Debian's htpasswd for every hash
// kind, verification, the credential cache and its bounds, hostile Authorization headers, and forwardAuth's header
// decisions (Traefik's forward.go) as tables; then both types' hooks on a stand-in request context, forwardAuth
// against a real auth server on port 0.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { testsNeeding } from './fixtures/tools.ts';
import { basicAuth, challenge, mergeUsers } from '../src/middleware/auth/basic-auth.ts';
import { forwardAuth } from '../src/middleware/auth/forward-auth.ts';
import {
  authRequestHeaders,
  canonicalHeaderKey,
  copyOps,
  cookieName,
  mergeCookies,
  redirectBody,
  refusalHeaders,
  refusalLocation,
  requestAuthority,
  signinLocation,
  withCookies,
  type AuthRequestInput,
} from '../src/middleware/auth/forward-headers.ts';
import {
  htpasswdLines,
  MAX_AUTHORIZATION,
  parseBasicAuthorization,
  parseHash,
  parseUserEntries,
  verifySync,
  type PasswordHash,
} from '../src/middleware/auth/htpasswd.ts';
import { Hasher } from '../src/middleware/auth/hasher.ts';
import { AUTH_TYPES } from '../src/middleware/auth/index.ts';
import { Verifier } from '../src/middleware/auth/verifier.ts';
import type { AnyMiddlewareType } from '../src/middleware/types.ts';
import {
  authServer,
  BuiltinTypes,
  fakeEnv,
  FakeHeaders,
  fakeRequest,
  fakeResponse,
  type FakeRequestInit,
} from './fixtures/middleware.ts';

const test = testsNeeding(t, ['htpasswd']);

// ---------------------------------------------------------------------------------------------------------------
// helpers

/** `htpasswd -nb<flag> user password` → the "user:hash" line. */
function htpasswd(flag: string, user: string, password: string, extra: string[] = []): string {
  return execFileSync('htpasswd', [`-nb${flag}`, ...extra, user, password], { encoding: 'utf8' }).trim();
}

function tmp(t: { teardown(fn: () => void): void }): string {
  const dir = mkdtempSync(join(tmpdir(), 'baton-auth-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/** A request from 192.0.2.7 for app.test. */
const fakeCtx = (o: FakeRequestInit = {}) => fakeRequest({ remoteAddr: '192.0.2.7', ...o });

const types = new BuiltinTypes(AUTH_TYPES);

function make(
  t: { teardown(fn: () => void): void },
  type: AnyMiddlewareType,
  raw: Record<string, unknown>,
  base = '/nowhere',
) {
  const { env, logs } = fakeEnv('auth@file', { t, base });
  return { handler: types.create(type.name, raw, env), logs };
}

const basic = (user: string, password: string) =>
  `Basic ${Buffer.from(`${user}:${password}`, 'utf8').toString('base64')}`;

// ---------------------------------------------------------------------------------------------------------------
// htpasswd: every kind Debian's htpasswd writes, checked in the worker thread and inline

const stop = new AbortController();
t.teardown(() => stop.abort());
const hasher = new Hasher(stop.signal, (e) => console.error('HASHER', e));
/** through the worker thread, and inline: both must agree */
const verify = async (h: PasswordHash, password: string): Promise<boolean> => {
  const viaWorker = await hasher.verify(h, password);
  if (viaWorker !== verifySync(h, password)) throw new Error('the worker and verifySync disagree');
  return viaWorker;
};

test('AUTH_TYPES lists basicAuth and forwardAuth', async (t) => {
  t.same(
    AUTH_TYPES.map((x) => x.name),
    ['basicAuth', 'forwardAuth'],
  );
});

const PASSWORDS = ['secret', 'pa:ss wörd', 'x'.repeat(60), '日本語 パスワード'];
const KINDS: Array<[string, string, string]> = [
  ['B', 'bcrypt', '$2y$'],
  ['m', 'apr1', '$apr1$'],
  ['s', 'sha1', '{SHA}'],
];

for (const [flag, kind, prefix] of KINDS) {
  t.test(`htpasswd -nb${flag} (${kind}): parsed, the right password verifies, others do not`, async (t) => {
    for (const password of PASSWORDS) {
      const line = htpasswd(flag, 'alice', password);
      t.ok(line.startsWith(`alice:${prefix}`), line.slice(0, 12));
      const { users, problems } = parseUserEntries([line], (i) => `users[${i}]`);
      t.same(problems, []);
      const h = users.get('alice')!;
      t.equal(h.kind, kind);
      t.equal(await verify(h, password), true, `right password ${JSON.stringify(password)}`);
      t.equal(await verify(h, `${password}!`), false);
      t.equal(await verify(h, password.slice(1)), false);
      t.equal(await verify(h, ''), false);
    }
  });
}

test('bcrypt with -C cost, and MD5-crypt ($1$) from openssl', async (t) => {
  const h = parseHash(htpasswd('B', 'u', 'pw', ['-C', '6']).split(':')[1]);
  t.equal(typeof h === 'object' && h.kind, 'bcrypt');
  if (typeof h === 'object') t.equal(await verify(h, 'pw'), true);
  const md5 = execFileSync('openssl', ['passwd', '-1', 'pw'], { encoding: 'utf8' }).trim();
  const m = parseHash(md5);
  t.equal(typeof m === 'object' && m.kind, 'md5crypt');
  if (typeof m === 'object') {
    t.equal(await verify(m, 'pw'), true);
    t.equal(await verify(m, 'pW'), false);
  }
});

test('a file written by htpasswd -c with all three kinds, comments and blank lines', async (t) => {
  const dir = tmp(t);
  const file = join(dir, 'users');
  execFileSync('htpasswd', ['-cbB', file, 'bea', 'b-pass']);
  execFileSync('htpasswd', ['-bm', file, 'max', 'm-pass']);
  execFileSync('htpasswd', ['-bs', file, 'sha', 's-pass']);
  const text = `# admins\n\n${execFileSync('cat', [file], { encoding: 'utf8' })}   \n`;
  const lines = htpasswdLines(text);
  t.same(
    lines.map((l) => l.line),
    [3, 4, 5],
  );
  const parsed = mergeUsers(text, 'users', ['max:{SHA}5en6G6MezRroT3XKqkdPOmY/BfQ=']);
  t.same(parsed.problems, []);
  t.same([...parsed.users.keys()], ['bea', 'max', 'sha']);
  t.equal(parsed.users.get('max')!.kind, 'sha1', '`users` win over the file');
  t.equal(await verify(parsed.users.get('bea')!, 'b-pass'), true);
  t.equal(await verify(parsed.users.get('max')!, 'secret'), true);
  t.equal(await verify(parsed.users.get('sha')!, 's-pass'), true);
});

test('refused hashes: the problem names the user and never quotes the hash', async (t) => {
  const cases: Array<[string, string, RegExp]> = [
    ['plaintext', 'bob:hunter2', /plaintext passwords are refused/],
    ['htpasswd -p (plain)', htpasswd('p', 'bob', 'hunter2'), /plaintext/],
    ['crypt(3) DES (htpasswd -d)', htpasswd('d', 'bob', 'hunter2'), /not a bcrypt/],
    ['SHA-256 crypt (htpasswd -2)', htpasswd('2', 'bob', 'hunter2'), /SHA-crypt/],
    ['SHA-512 crypt (htpasswd -5)', htpasswd('5', 'bob', 'hunter2'), /SHA-crypt/],
    ['$2x$', `bob:$2x$05$${'a'.repeat(53)}`, /\$2x\$/],
    ['bcrypt cost 15', `bob:$2y$15$${'a'.repeat(53)}`, /cost 15/],
    ['bcrypt truncated', `bob:$2y$05$${'a'.repeat(50)}`, /not a bcrypt/],
    ['{SHA} of the wrong length', 'bob:{SHA}abcd', /not a bcrypt/],
    ['$apr1$ malformed', 'bob:$apr1$salt$short', /not a bcrypt/],
  ];
  for (const [name, line, want] of cases) {
    const { users, problems } = parseUserEntries([line], (i) => `users[${i}]`);
    t.equal(users.size, 0, name);
    t.equal(problems.length, 1, name);
    t.match(problems[0], /^users\[0\]: user "bob": /, name);
    t.match(problems[0], want, name);
    t.notOk(problems[0].includes(line.split(':')[1]), `${name}: the hash is not in the message`);
  }
});

test('malformed entries: no colon, two colons, no name — the line is not quoted', async (t) => {
  for (const line of ['bobhunter2', 'bob:x:y', ':{SHA}5en6G6MezRroT3XKqkdPOmY/BfQ=']) {
    const { problems } = parseUserEntries([line], () => 'usersFile f line 2');
    t.same(problems, ['usersFile f line 2: expected "name:hash" as htpasswd writes it'], line);
  }
  t.same(parseUserEntries(['b\tob:{SHA}5en6G6MezRroT3XKqkdPOmY/BfQ='], () => 'u').problems, [
    'u: the user name has control characters',
  ]);
});

// ---------------------------------------------------------------------------------------------------------------
// Authorization headers, hostile ones included

test('parseBasicAuthorization', async (t) => {
  const b64 = (s: string | Buffer) => Buffer.from(s).toString('base64');
  const cases: Array<[string, string | undefined, { user: string; password: string } | null]> = [
    ['valid', basic('alice', 'secret'), { user: 'alice', password: 'secret' }],
    ['scheme in any case', `bAsIc ${b64('alice:secret')}`, { user: 'alice', password: 'secret' }],
    ['password with colons', basic('a', 'b:c:d'), { user: 'a', password: 'b:c:d' }],
    ['empty password', basic('a', ''), { user: 'a', password: '' }],
    ['UTF-8', basic('jörg', 'pässword'), { user: 'jörg', password: 'pässword' }],
    ['none', undefined, null],
    ['empty', '', null],
    ['Bearer', 'Bearer abc.def', null],
    ['Digest', 'Digest username="a"', null],
    ['"Basic" alone', 'Basic', null],
    ['"Basic " and nothing', 'Basic ', null],
    ['two spaces (Go refuses)', `Basic  ${b64('a:b')}`, null],
    ['no colon', `Basic ${b64('alice')}`, null],
    ['base64 with junk', `Basic ${b64('a:b')}!!`, null],
    ['base64 not padded', `Basic ${b64('ab:c').replace(/=+$/, '')}`, null],
    ['base64url alphabet', `Basic ${b64('a:b?>?').replace(/\+/g, '-').replace(/\//g, '_')}`, null],
    ['not UTF-8', `Basic ${b64(Buffer.from([0x61, 0x3a, 0xff, 0xfe]))}`, null],
    ['two headers joined', `${basic('a', 'b')}, ${basic('c', 'd')}`, null],
    ['over 4 KiB', `Basic ${b64(`a:${'x'.repeat(MAX_AUTHORIZATION)}`)}`, null],
  ];
  for (const [name, header, want] of cases) t.same(parseBasicAuthorization(header), want, name);
  const longest = `Basic ${'A'.repeat(MAX_AUTHORIZATION - 6 - 6)}OjE=`; // 4094 characters: the longest base64
  t.equal(longest.length, MAX_AUTHORIZATION - 2);
  t.same(parseBasicAuthorization(longest)?.password, '1', 'up to 4 KiB is read');
});

// ---------------------------------------------------------------------------------------------------------------
// the verifier: cache, shared checks, the bound on bcrypt work

function bcryptUsers(cost = '04'): Map<string, PasswordHash> {
  const line = htpasswd('B', 'alice', 'secret', ['-C', String(Number(cost))]);
  return parseUserEntries([line, htpasswd('B', 'bob', 'bob-pw', ['-C', String(Number(cost))])], String).users;
}

test('verifier: a success is remembered (no second bcrypt check), failures are not', async (t) => {
  const v = new Verifier(bcryptUsers(), verify);
  const first = v.check('alice', 'secret');
  t.type(first, Promise, 'the first check runs bcrypt');
  t.equal(v.verifying, 1);
  t.equal(await first, true);
  t.equal(v.verifying, 0);
  t.equal(v.check('alice', 'secret'), true, 'then it is answered at once from the cache');
  t.equal(v.cached, 1);
  const wrong = v.check('alice', 'nope');
  t.type(wrong, Promise);
  t.equal(await wrong, false);
  t.type(v.check('alice', 'nope'), Promise, 'a failure is checked again');
  t.equal(v.cached, 1);
});

test('verifier: an unknown user costs a check against a hash of the same kind, and fails', async (t) => {
  const v = new Verifier(bcryptUsers('08'), (h, p) => hasher.verify(h, p));
  await v.check('bob', 'warm up');
  const t0 = performance.now();
  t.equal(await v.check('alice', 'wrong'), false);
  const known = performance.now() - t0;
  const t1 = performance.now();
  const p = v.check('mallory', 'secret');
  t.type(p, Promise, 'an unknown user runs bcrypt too');
  t.equal(v.verifying, 1);
  t.equal(await p, false);
  const unknown = performance.now() - t1;
  t.ok(unknown > known / 3, `unknown ${unknown.toFixed(1)} ms vs known ${known.toFixed(1)} ms`);
  t.equal(v.cached, 0);
  const sha = parseUserEntries([htpasswd('s', 'carol', 'pw')], String).users;
  const vs = new Verifier(sha, verify);
  t.equal(vs.check('dave', 'pw'), false, 'SHA1: unknown user, synchronous, false');
  t.equal(vs.check('carol', 'pw'), true);
});

test('verifier: identical checks in flight share one bcrypt run', async (t) => {
  const v = new Verifier(bcryptUsers(), verify);
  const a = v.check('alice', 'secret');
  const b = v.check('alice', 'secret');
  t.equal(a, b, 'the same promise');
  t.equal(v.verifying, 1);
  t.same(await Promise.all([a, b]), [true, true]);
});

test('verifier: beyond maxVerifying bcrypt checks at once the answer is busy, cached users still pass', async (t) => {
  const v = new Verifier(bcryptUsers(), verify, { cacheSize: 16, cacheTtlMs: 60_000, maxVerifying: 3 });
  t.equal(await v.check('bob', 'bob-pw'), true);
  const running = [v.check('alice', 'w1'), v.check('alice', 'w2'), v.check('mallory', 'w3')];
  t.equal(v.verifying, 3);
  t.equal(v.check('alice', 'w4'), 'busy', 'no fourth check is started, none queued');
  t.equal(v.check('alice', 'secret'), 'busy', 'even a right password that is not remembered');
  t.equal(v.check('bob', 'bob-pw'), true, 'a remembered success needs no slot');
  t.same(await Promise.all(running), [false, false, false]);
  t.equal(v.verifying, 0, 'slots are given back');
  t.equal(await v.check('alice', 'secret'), true);
});

test('verifier: the cache is bounded in size and in time', async (t) => {
  const lines = Array.from({ length: 5 }, (_, i) => htpasswd('s', `u${i}`, `p${i}`));
  let now = 0;
  const v = new Verifier(
    parseUserEntries(lines, String).users,
    verify,
    { cacheSize: 3, cacheTtlMs: 1000, maxVerifying: 1 },
    () => now,
  );
  for (let i = 0; i < 5; i++) t.equal(v.check(`u${i}`, `p${i}`), true);
  t.equal(v.cached, 3, 'oldest evicted');
  const b = new Verifier(bcryptUsers(), verify, { cacheSize: 3, cacheTtlMs: 1000, maxVerifying: 1 }, () => now);
  t.equal(await b.check('alice', 'secret'), true);
  now = 999;
  t.equal(b.check('alice', 'secret'), true, 'within the TTL');
  now = 1000;
  t.type(b.check('alice', 'secret'), Promise, 'expired: checked again');
});

test(
  'hasher: bcrypt runs in a worker thread, the event loop stays free; idle and aborted workers stop',
  async (t) => {
    const abort = new AbortController();
    const h = new Hasher(abort.signal, () => {}, 200);
    const slow = parseHash(htpasswd('B', 'u', 'pw', ['-C', '12']).slice(2)) as PasswordHash;
    t.equal(slow.kind, 'bcrypt');
    t.equal(h.running, false, 'no thread until a check');
    const t0 = performance.now();
    const check = h.verify(slow, 'pw');
    const ticks: number[] = [];
    const ticker = setInterval(() => ticks.push(performance.now()), 10);
    t.equal(await check, true);
    clearInterval(ticker);
    const took = performance.now() - t0;
    const gaps = ticks.map((x, i) => x - (ticks[i - 1] ?? t0));
    t.ok(took > 100, `a cost-12 check took ${took.toFixed(0)} ms`);
    t.ok(Math.max(...gaps) < 80, `the event loop kept turning (longest gap ${Math.max(...gaps).toFixed(0)} ms)`);
    t.equal(h.running, true);
    const deadline = Date.now() + 3000;
    while (h.running && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    t.equal(h.running, false, 'stopped when idle');
    t.equal(await h.verify(slow, 'nope'), false, 'started again when needed');
    const pending = h.verify(slow, 'pw');
    abort.abort();
    t.equal(await pending, false, 'a check cut short by the abort is a mismatch');
    t.equal(h.running, false);
    t.equal(await h.verify(slow, 'pw'), false, 'no checks once aborted');
  },
);

// ---------------------------------------------------------------------------------------------------------------
// basicAuth: options and hooks

test('basicAuth options: Traefik names and defaults; plaintext and typos refused', async (t) => {
  const sha = htpasswd('s', 'carol', 'pw');
  const ok = types.read('basicAuth', { Users: `${sha},${htpasswd('m', 'bob', 'x')}`, REALM: 'admin' });
  t.same(ok.errors, []);
  t.same((ok.options as { users: string[] }).users.length, 2, 'comma-separated (labels)');
  t.equal((ok.options as { realm: string }).realm, 'admin');
  t.equal((types.read('basicAuth', { users: [sha] }).options as { realm: string }).realm, 'traefik');
  t.match(types.read('basicAuth', { users: ['carol:pw'] }).errors, [/users\[0\]: user "carol": .*plaintext/]);
  t.notOk(
    types
      .read('basicAuth', { users: ['carol:pw'] })
      .errors.join()
      .includes(':pw'),
  );
  t.match(types.read('basicAuth', {}).errors, [/no users given/]);
  t.match(types.read('basicAuth', { users: [sha], headerField: 'X User' }).errors, [/headerField/]);
  t.match(types.read('basicAuth', { users: [sha], realm: 'a\nb' }).errors, [/realm/]);
  t.match(types.read('basicAuth', { users: [sha], removeHeaders: true }).errors, [/removeHeaders: unknown option/]);
  t.same(types.read('basicAuth', { usersFile: 'users' }).errors, [], 'the file is read when created');
});

test('basicAuth: 401 as Traefik, success with headerField and removeHeader', async (t) => {
  const { handler } = make(t, basicAuth, {
    users: [htpasswd('s', 'carol', 'pw'), htpasswd('s', 'jörg', 'pw2')],
    headerField: 'X-WebAuth-User',
    removeHeader: true,
  });
  const none = fakeCtx();
  await handler.onRequest!(none);
  t.same(none.answer, {
    status: 401,
    headers: { 'WWW-Authenticate': 'Basic realm="traefik"', 'Content-Type': 'text/plain' },
    body: '401 Unauthorized\n',
  });
  const wrong = fakeCtx({ headers: new FakeHeaders([['Authorization', basic('carol', 'nope')]]) });
  await handler.onRequest!(wrong);
  t.equal(wrong.answer?.status, 401);
  const spoof = new FakeHeaders([
    ['Authorization', basic('carol', 'pw')],
    ['x-webauth-user', 'admin'],
  ]);
  const good = fakeCtx({ headers: spoof });
  t.equal(handler.onRequest!(good), undefined, 'SHA1 checks are synchronous');
  t.equal(good.answer, null);
  t.same(good.headers.getAll('x-webauth-user'), ['carol'], 'the client cannot choose the user header');
  t.equal(good.headers.get('authorization'), undefined, 'removeHeader');
  const utf = fakeCtx({ headers: new FakeHeaders([['Authorization', basic('jörg', 'pw2')]]) });
  await handler.onRequest!(utf);
  t.equal(utf.answer, null);
  t.equal(Buffer.from(utf.headers.get('x-webauth-user')!, 'latin1').toString('utf8'), 'jörg', 'sent as UTF-8 bytes');
});

test('basicAuth realm is a quoted-string', async (t) => {
  t.equal(challenge('my "admin" \\ area'), 'Basic realm="my \\"admin\\" \\\\ area"');
  t.equal(challenge(''), 'Basic realm="traefik"');
});

test('basicAuth: bcrypt through the hook (in the worker); more than 8 at once answered 429', async (t) => {
  const { handler } = make(t, basicAuth, { users: [htpasswd('B', 'alice', 'secret', ['-C', '4'])] });
  const ok = fakeCtx({ headers: new FakeHeaders([['Authorization', basic('alice', 'secret')]]) });
  const p = handler.onRequest!(ok);
  t.type(p, Promise);
  await p;
  t.equal(ok.answer, null);
  t.equal(
    handler.onRequest!(fakeCtx({ headers: new FakeHeaders([['Authorization', basic('alice', 'secret')]]) })),
    undefined,
  );
  const flood = Array.from({ length: 12 }, (_, i) =>
    fakeCtx({ headers: new FakeHeaders([['Authorization', basic('alice', `wrong${i}`)]]) }),
  );
  await Promise.all(flood.map((c) => handler.onRequest!(c)));
  const statuses = flood.map((c) => c.answer?.status);
  t.same(statuses.slice(0, 8), Array(8).fill(401));
  t.same(statuses.slice(8), Array(4).fill(429));
  t.same(flood[8].answer?.headers['Retry-After'], '1');
});

test('basicAuth: oversized and malformed Authorization answered 401 with no hashing', async (t) => {
  const { handler } = make(t, basicAuth, { users: [htpasswd('B', 'alice', 'secret', ['-C', '4'])] });
  const huge = `Basic ${Buffer.from(`alice:${'x'.repeat(10_000)}`).toString('base64')}`;
  for (const header of [huge, 'Basic %%%%', 'Bearer x', `Basic ${Buffer.from('alice').toString('base64')}`]) {
    const ctx = fakeCtx({ headers: new FakeHeaders([['Authorization', header]]) });
    t.equal(handler.onRequest!(ctx), undefined, 'answered synchronously: nothing was hashed');
    t.equal(ctx.answer?.status, 401);
  }
});

test('basicAuth usersFile: resolved with env.resolvePath, problems name the file line and user', async (t) => {
  const dir = tmp(t);
  writeFileSync(join(dir, 'users'), `${htpasswd('m', 'bob', 'bob-pw')}\n`);
  const { handler } = make(t, basicAuth, { usersFile: 'users' }, dir);
  const ctx = fakeCtx({ headers: new FakeHeaders([['Authorization', basic('bob', 'bob-pw')]]) });
  await handler.onRequest!(ctx);
  t.equal(ctx.answer, null);
  t.throws(() => make(t, basicAuth, { usersFile: 'missing' }, dir), /usersFile .*missing: cannot be read \(ENOENT\)/);
  writeFileSync(join(dir, 'bad'), `# c\n${htpasswd('s', 'ok', 'x')}\nmallory:hunter2\n`);
  t.throws(() => make(t, basicAuth, { usersFile: 'bad' }, dir), /usersFile bad line 3: user "mallory": .*plaintext/);
  writeFileSync(join(dir, 'empty'), '# nobody\n');
  t.throws(() => make(t, basicAuth, { usersFile: 'empty' }, dir), /no users found in empty/);
  const mixed = make(t, basicAuth, { users: [htpasswd('s', 'a', 'x'), htpasswd('m', 'b', 'x')] });
  t.match(mixed.logs, [{ level: 'warn', msg: /mix hash kinds/ }]);
});

// ---------------------------------------------------------------------------------------------------------------
// forwardAuth: header decisions (Traefik's forward.go)

test("canonicalHeaderKey is Go's", async (t) => {
  const cases: Array<[string, string]> = [
    ['x-auth-user', 'X-Auth-User'],
    ['X-AUTH-USER', 'X-Auth-User'],
    ['content-type', 'Content-Type'],
    ['www-authenticate', 'Www-Authenticate'],
    ['x_forwarded_uri', 'X_forwarded_uri'],
    ['bad name', 'bad name'],
    ['-x-', '-X-'],
  ];
  for (const [raw, want] of cases) t.equal(canonicalHeaderKey(raw), want, raw);
});

const pairs = (flat: string[]) => {
  const out: Record<string, string[]> = {};
  for (let i = 0; i < flat.length; i += 2) (out[flat[i]] ??= []).push(flat[i + 1]);
  return out;
};

/** ctx.headers as baton's entrypoint leaves them for an untrusted client that tried to spoof everything */
const spoofed = (): Array<[string, string]> => [
  ['host', 'app.test:8080'],
  ['cookie', 'sid=1'],
  ['authorization', 'Bearer t'],
  ['user-agent', 'curl/8'],
  ['x-forwarded-uri', '/public'],
  ['x-forwarded-method', 'GET'],
  ['X_Forwarded_Uri', '/public'],
  ['x-forwarded-prefix', '/api'],
  ['x-forwarded-tls-client-cert', 'forged'],
  ['x-forwarded-for', '192.0.2.7'],
  ['x-forwarded-host', 'app.test:8080'],
  ['x-forwarded-proto', 'http'],
  ['x-forwarded-port', '8080'],
  ['x-real-ip', '192.0.2.7'],
];

const input = (over: Partial<AuthRequestInput>): AuthRequestInput => ({
  headers: spoofed(),
  method: 'POST',
  scheme: 'http',
  authority: 'app.test:8080',
  uri: '/admin/delete?id=1',
  remoteAddr: '192.0.2.7',
  forwardedFor: [],
  trust: true,
  allowed: [],
  ...over,
});

test('auth request headers: trustForwardHeader true, an untrusted peer cannot choose them', async (t) => {
  const h = pairs(authRequestHeaders(input({ trust: true })));
  t.same(h['X-Forwarded-Uri'], ['/admin/delete?id=1'], 'the real URI, not the spoofed one');
  t.same(h['X-Forwarded-Method'], ['POST']);
  t.same(h['X-Forwarded-For'], ['192.0.2.7'], 'the peer, once');
  t.same(h['X-Forwarded-Host'], ['app.test:8080']);
  t.same(h['X-Forwarded-Proto'], ['http']);
  t.same(h['X-Forwarded-Port'], ['8080']);
  t.same(h['X-Forwarded-Prefix'], ['/api'], "stripPrefix's header passes");
  t.equal(h['X-Forwarded-Tls-Client-Cert'], undefined);
  t.equal(h['X_forwarded_uri'], undefined, 'underscore variants dropped');
  t.same(h.Cookie, ['sid=1']);
  t.same(h.Authorization, ['Bearer t']);
  t.same(h['User-Agent'], ['curl/8']);
  t.equal(h.Host, undefined, "Host is the auth server's");
});

test("auth request headers: trustForwardHeader true, a trusted peer's headers pass, XFF appended", async (t) => {
  const headers = spoofed().map(([n, v]): [string, string] =>
    n === 'x-forwarded-for' ? [n, '203.0.113.9, 10.0.0.1, 192.0.2.7'] : [n, v],
  );
  const h = pairs(authRequestHeaders(input({ trust: true, headers, forwardedFor: ['203.0.113.9', '10.0.0.1'] })));
  t.same(h['X-Forwarded-For'], ['203.0.113.9, 10.0.0.1, 192.0.2.7']);
  t.same(h['X-Forwarded-Uri'], ['/public'], "the trusted proxy's URI");
  t.same(h['X-Forwarded-Tls-Client-Cert'], ['forged']);
});

test("auth request headers: trustForwardHeader false, every X-Forwarded-* is baton's", async (t) => {
  const h = pairs(authRequestHeaders(input({ trust: false, forwardedFor: ['203.0.113.9'] })));
  t.same(h['X-Forwarded-For'], ['192.0.2.7']);
  t.same(h['X-Forwarded-Uri'], ['/admin/delete?id=1']);
  t.same(h['X-Forwarded-Method'], ['POST']);
  t.same(h['X-Forwarded-Proto'], ['http']);
  t.same(h['X-Forwarded-Host'], ['app.test:8080']);
  t.same(h['X-Forwarded-Port'], ['8080']);
  for (const k of ['X-Forwarded-Prefix', 'X-Real-Ip', 'X-Forwarded-Tls-Client-Cert', 'X_forwarded_uri']) {
    t.equal(h[k], undefined, k);
  }
  const tls = pairs(authRequestHeaders(input({ trust: false, scheme: 'https', authority: 'app.test' })));
  t.same([tls['X-Forwarded-Proto'], tls['X-Forwarded-Port']], [['https'], ['443']]);
  const plain = pairs(authRequestHeaders(input({ trust: false, authority: 'app.test' })));
  t.same(plain['X-Forwarded-Port'], ['80']);
});

test("auth request headers: trustForwardHeader unset is Traefik's legacy set", async (t) => {
  const h = pairs(authRequestHeaders(input({ trust: undefined, forwardedFor: ['203.0.113.9'] })));
  t.same(h['X-Forwarded-For'], ['192.0.2.7'], 'the peer only');
  t.same(h['X-Forwarded-Uri'], ['/admin/delete?id=1']);
  t.same(h['X-Forwarded-Method'], ['POST']);
  t.same(h['X-Forwarded-Port'], ['8080'], 'passed through as it is');
  t.same(h['X-Forwarded-Prefix'], ['/api']);
  const untrusted = pairs(authRequestHeaders(input({ trust: undefined })));
  t.equal(untrusted['X-Forwarded-Tls-Client-Cert'], undefined, 'not from an untrusted peer');
});

test('auth request headers: authRequestHeaders filters (X-Forwarded-* kept with trust)', async (t) => {
  const trusted = pairs(authRequestHeaders(input({ trust: true, allowed: ['cookie'] })));
  t.same(Object.keys(trusted).sort(), [
    'Cookie',
    'X-Forwarded-For',
    'X-Forwarded-Host',
    'X-Forwarded-Method',
    'X-Forwarded-Port',
    'X-Forwarded-Prefix',
    'X-Forwarded-Proto',
    'X-Forwarded-Uri',
    'X-Real-Ip',
  ]);
  const strict = pairs(authRequestHeaders(input({ trust: false, allowed: ['Authorization'] })));
  t.same(Object.keys(strict).sort(), [
    'Authorization',
    'X-Forwarded-For',
    'X-Forwarded-Host',
    'X-Forwarded-Method',
    'X-Forwarded-Port',
    'X-Forwarded-Proto',
    'X-Forwarded-Uri',
  ]);
});

test('requestAuthority: the port from X-Forwarded-Host when it names the same host', async (t) => {
  t.equal(requestAuthority('app.test:8080', 'app.test'), 'app.test:8080');
  t.equal(requestAuthority('APP.test', 'app.test'), 'APP.test');
  t.equal(requestAuthority('evil.test:80', 'app.test'), 'app.test');
  t.equal(requestAuthority('[::1]:8443', '::1'), '[::1]:8443');
  t.equal(requestAuthority(undefined, 'app.test'), 'app.test');
});

test('copyOps: authResponseHeaders and authResponseHeadersRegex as Traefik applies them', async (t) => {
  const auth = { 'x-auth-user': 'alice', 'x-auth-groups': ['a', 'b'], 'content-length': '0', 'x-other': 'o' };
  t.same(copyOps(['X-Auth-User', 'Cookie'], auth, { names: ['X-Auth-User', 'x-auth-missing'], regex: null }), [
    { op: 'delete', name: 'X-Auth-User' },
    { op: 'append', name: 'X-Auth-User', value: 'alice' },
    { op: 'delete', name: 'X-Auth-Missing' },
  ]);
  const ops = copyOps(['x-auth-spoof', 'Cookie', 'Host'], auth, { names: [], regex: /^X-Auth-/ });
  t.same(ops, [
    { op: 'delete', name: 'X-Auth-Spoof' },
    { op: 'delete', name: 'X-Auth-User' },
    { op: 'append', name: 'X-Auth-User', value: 'alice' },
    { op: 'delete', name: 'X-Auth-Groups' },
    { op: 'append', name: 'X-Auth-Groups', value: 'a' },
    { op: 'append', name: 'X-Auth-Groups', value: 'b' },
  ]);
  const all = copyOps(['Host', 'Cookie'], auth, { names: ['Content-Length'], regex: /.*/ });
  t.notOk(
    all.some((o) => /^(Host|Content-Length)$/.test(o.name)),
    'framing and Host are never touched',
  );
});

test('refusal: headers relayed, Location resolved against the address, cookies apart', async (t) => {
  const { headers, cookies } = refusalHeaders({
    'www-authenticate': 'Bearer',
    'content-length': '5',
    connection: 'close',
    'transfer-encoding': 'chunked',
    'set-cookie': ['a=1', 'b=2'],
    vary: ['Accept', 'Cookie'],
    location: '/login',
  });
  t.same(headers, { 'Www-Authenticate': 'Bearer', Vary: 'Accept, Cookie', Location: '/login' });
  t.same(cookies, ['a=1', 'b=2']);
  t.equal(refusalLocation('/login?x=1', 'http://auth.test:9000/verify', false), 'http://auth.test:9000/login?x=1');
  t.equal(refusalLocation('/login', 'http://auth.test/verify', true), '/login');
  t.equal(refusalLocation('https://sso.test/a', 'http://auth.test/verify', false), 'https://sso.test/a');
  t.equal(refusalLocation(undefined, 'http://auth.test/', false), null);
  t.equal(refusalLocation('http://[bad', 'http://auth.test/', false), undefined);
});

test('withCookies: one key per Set-Cookie line, bounded', async (t) => {
  const h = withCookies({ Vary: 'Cookie' }, ['a=1', 'b=2', 'c=3']);
  t.same(h, { Vary: 'Cookie', 'set-cookie': 'a=1', 'Set-cookie': 'b=2', 'sEt-cookie': 'c=3' });
  const many = withCookies(
    {},
    Array.from({ length: 100 }, (_, i) => `c${i}=1`),
  );
  t.equal(Object.keys(many).length, 64);
  t.equal(new Set(Object.keys(many).map((k) => k.toLowerCase())).size, 1);
});

test('addAuthCookiesToResponse merge, cookie names as Go reads them', async (t) => {
  t.equal(cookieName(' sid=abc; Path=/'), 'sid');
  t.equal(cookieName('novalue'), null);
  t.equal(cookieName('bad name=1'), null);
  t.same(mergeCookies(['sid=old', 'theme=dark', 'junk'], ['sid=new; HttpOnly', 'csrf=x'], new Set(['sid'])), [
    'theme=dark',
    'sid=new; HttpOnly',
  ]);
});

test("authSigninURL: Location and body as Go's http.Redirect", async (t) => {
  t.equal(signinLocation('https://sso.test/login?rd=1', '/a/b'), 'https://sso.test/login?rd=1');
  t.equal(signinLocation('/login', '/a/b'), '/login');
  t.equal(signinLocation('login', '/a/b'), '/a/login');
  t.equal(signinLocation('https://sso.test/ü', '/'), 'https://sso.test/%C3%BC');
  t.equal(redirectBody('/l?a=1&b="2"'), '<a href="/l?a=1&amp;b=&#34;2&#34;">Found</a>.\n\n');
});

test('forwardAuth options: address required, regexes run in linear time, names checked', async (t) => {
  t.same(types.read('forwardAuth', { address: 'http://auth.test/verify', trustForwardHeader: 'true' }).errors, []);
  t.match(types.read('forwardAuth', {}).errors, [/address: expected/]);
  t.match(types.read('forwardAuth', { address: 'ftp://x' }).errors, [/address: expected/]);
  t.match(types.read('forwardAuth', { address: 'http://a', authResponseHeadersRegex: '(a)\\1' }).errors, [
    /authResponseHeadersRegex: /,
  ]);
  t.match(types.read('forwardAuth', { address: 'http://a', authResponseHeaders: 'X-User,bad name' }).errors, [
    /authResponseHeaders: "bad name"/,
  ]);
  t.match(types.read('forwardAuth', { address: 'http://a', tls: { cert: 'c.pem' } }).errors, [/tls.key: required/]);
  t.match(types.read('forwardAuth', { address: 'http://a', maxBodySize: -2 }).errors, [/maxBodySize/]);
  const o = types.read('forwardAuth', { address: 'http://a' }).options as Record<string, unknown>;
  t.equal(o.maxBodySize, -1, "Traefik's default");
  t.equal(o.trustForwardHeader, undefined, 'unset is not false');
});

// ---------------------------------------------------------------------------------------------------------------
// forwardAuth's hooks against a real auth server

const fakeRes = (headers: Array<[string, string]> = []) => fakeResponse({ headers });

test('forwardAuth: a 2xx lets the request on with the listed headers, spoofed ones replaced', async (t) => {
  const auth = await authServer(t, (_req, res) => {
    res.writeHead(200, { 'X-Auth-User': 'alice', 'X-Auth-Groups': 'admins', 'X-Secret': 'no' });
    res.end('ok');
  });
  const { handler } = make(t, forwardAuth, {
    address: `${auth.url}/verify?app=1`,
    trustForwardHeader: false,
    authResponseHeaders: ['X-Auth-User', 'X-Auth-Missing'],
    authResponseHeadersRegex: '^X-Auth-G',
  });
  const ctx = fakeCtx({
    method: 'DELETE',
    path: '/admin/x',
    query: 'a=1',
    headers: new FakeHeaders([
      ['host', 'app.test'],
      ['x-forwarded-host', 'app.test:8080'],
      ['x-auth-user', 'root'],
      ['X-Auth-Missing', 'spoof'],
      ['x-auth-groups', 'root'],
      ['cookie', 's=1'],
    ]),
  });
  await handler.onRequest!(ctx);
  t.equal(ctx.answer, null, 'not answered: the request goes on');
  t.same(ctx.headers.getAll('x-auth-user'), ['alice']);
  t.same(ctx.headers.getAll('x-auth-groups'), ['admins']);
  t.same(ctx.headers.getAll('x-auth-missing'), [], 'a listed header the auth server did not send is removed');
  t.same(ctx.headers.getAll('x-secret'), []);
  const seen = auth.seen[0];
  t.equal(seen.method, 'GET');
  t.equal(seen.url, '/verify?app=1');
  t.equal(seen.headers.host, auth.url.slice('http://'.length), "Host is the auth server's");
  t.equal(seen.headers['x-forwarded-method'], 'DELETE');
  t.equal(seen.headers['x-forwarded-uri'], '/admin/x?a=1');
  t.equal(seen.headers['x-forwarded-host'], 'app.test:8080');
  t.equal(seen.headers['x-forwarded-for'], '192.0.2.7');
  t.equal(seen.headers['x-forwarded-proto'], 'http');
  t.equal(seen.headers.cookie, 's=1');
  t.equal(seen.headers['user-agent'], undefined, "no User-Agent of baton's own");
  t.equal(seen.headers['content-length'], undefined, 'no body');
});

test('forwardAuth: a refusal goes to the client as the auth server made it', async (t) => {
  const auth = await authServer(t, (_req, res) => {
    res.setHeader('Set-Cookie', ['csrf=1; Path=/', 'rd=/x']);
    res.writeHead(302, { Location: '/oauth/start?rd=%2F', 'Content-Type': 'text/html', 'X-Why': 'login' });
    res.end('<a>login</a>');
  });
  const { handler } = make(t, forwardAuth, { address: `${auth.url}/verify`, trustForwardHeader: true });
  const ctx = fakeCtx();
  await handler.onRequest!(ctx);
  t.equal(ctx.answer?.status, 302);
  t.equal(ctx.answer?.body, '<a>login</a>');
  t.equal(ctx.answer?.headers.Location, `${auth.url}/oauth/start?rd=%2F`, 'resolved against the address');
  t.equal(ctx.answer?.headers['X-Why'], 'login');
  t.equal(ctx.answer?.headers['Content-Type'], 'text/html');
  t.equal(ctx.answer?.headers['Content-Length'], undefined);
  const cookies = Object.entries(ctx.answer!.headers).filter(([k]) => k.toLowerCase() === 'set-cookie');
  t.same(
    cookies.map(([, v]) => v),
    ['csrf=1; Path=/', 'rd=/x'],
    'every cookie reaches the client (one key each)',
  );
  t.equal(handler.onResponse, undefined, 'no response hook without addAuthCookiesToResponse');
});

test('forwardAuth: preserveLocationHeader, authSigninURL', async (t) => {
  const auth = await authServer(t, (req, res) => {
    res.writeHead(req.url === '/401' ? 401 : 307, { Location: '/relative' });
    res.end();
  });
  const keep = make(t, forwardAuth, { address: `${auth.url}/307`, preserveLocationHeader: true }).handler;
  const a = fakeCtx();
  await keep.onRequest!(a);
  t.same([a.answer?.status, a.answer?.headers.Location], [307, '/relative']);
  const signin = make(t, forwardAuth, { address: `${auth.url}/401`, authSigninURL: 'https://sso.test/in' }).handler;
  const b = fakeCtx();
  await signin.onRequest!(b);
  t.same(b.answer, {
    status: 302,
    headers: { Location: 'https://sso.test/in', 'Content-Type': 'text/html; charset=utf-8' },
    body: '<a href="https://sso.test/in">Found</a>.\n\n',
  });
});

test('forwardAuth: unreachable or broken auth server → 500, never let through; logged once', async (t) => {
  const dead = await authServer(t, () => {});
  const port = Number(new URL(dead.url).port);
  await new Promise((r) => setTimeout(r, 10));
  const { handler, logs } = make(t, forwardAuth, { address: `http://127.0.0.1:${port}/x` });
  const broken = await authServer(t, (req) => req.socket.destroy());
  const b = make(t, forwardAuth, { address: broken.url }).handler;
  const c1 = fakeCtx();
  await b.onRequest!(c1);
  t.equal(c1.answer?.status, 500, 'the auth server hung up');
  // a port nothing listens on
  const { closedPort } = await import('./fixtures/harness.ts');
  const gone = make(t, forwardAuth, { address: `http://127.0.0.1:${await closedPort()}/` });
  for (let i = 0; i < 3; i++) {
    const c = fakeCtx();
    await gone.handler.onRequest!(c);
    t.equal(c.answer?.status, 500);
  }
  t.equal(gone.logs.filter((l) => l.level === 'error').length, 1, 'one log line for a burst');
  t.ok(handler);
  t.same(logs.filter((l) => l.level === 'warn').length, 1, 'trustForwardHeader unset is warned about');
});

test("forwardAuth: the auth server's body is bounded (401 beyond, as Traefik)", async (t) => {
  const auth = await authServer(t, (req, res) => {
    if (req.url === '/chunked') {
      res.writeHead(403);
      for (let i = 0; i < 50; i++) res.write('x'.repeat(100));
      res.end();
    } else {
      res.writeHead(200, { 'Content-Length': '100' });
      res.end('y'.repeat(100));
    }
  });
  for (const path of ['/chunked', '/sized']) {
    const { handler } = make(t, forwardAuth, { address: `${auth.url}${path}`, maxResponseBodySize: 64 });
    const ctx = fakeCtx();
    await handler.onRequest!(ctx);
    t.equal(ctx.answer?.status, 401, path);
  }
  const { handler } = make(t, forwardAuth, { address: `${auth.url}/sized`, maxResponseBodySize: 100 });
  const ok = fakeCtx();
  await handler.onRequest!(ok);
  t.equal(ok.answer, null, 'at the limit is fine');
});

test('forwardAuth: forwardBody, maxBodySize, preserveRequestMethod, credentials in the address', async (t) => {
  const auth = await authServer(t, (_req, res) => res.end());
  const { handler } = make(t, forwardAuth, {
    address: auth.url.replace('http://', 'http://svc:p%40ss@'),
    forwardBody: true,
    maxBodySize: 8,
    preserveRequestMethod: true,
  });
  const ctx = fakeCtx({ method: 'POST', body: Buffer.from('{"a":1}') });
  await handler.onRequest!(ctx);
  t.equal(ctx.answer, null);
  t.same([auth.seen[0].method, auth.seen[0].body, auth.seen[0].headers['content-length']], ['POST', '{"a":1}', '7']);
  t.equal(auth.seen[0].headers.authorization, `Basic ${Buffer.from('svc:p@ss').toString('base64')}`);
  const big = fakeCtx({ method: 'POST', body: Buffer.from('123456789') });
  await handler.onRequest!(big);
  t.equal(big.answer?.status, 401, 'over maxBodySize: 401, as Traefik');
  t.equal(auth.seen.length, 1, 'the auth server was not asked');
  const own = fakeCtx({ headers: new FakeHeaders([['Authorization', 'Bearer mine']]) });
  await handler.onRequest!(own);
  t.equal(auth.seen[1].headers.authorization, 'Bearer mine', "the request's own Authorization wins");
});

test("forwardAuth: addAuthCookiesToResponse replaces the upstream's cookies of those names", async (t) => {
  const auth = await authServer(t, (_req, res) => {
    res.setHeader('Set-Cookie', ['session=fresh; HttpOnly', 'other=x']);
    res.end();
  });
  const { handler } = make(t, forwardAuth, { address: auth.url, addAuthCookiesToResponse: ['session'] });
  const ctx = fakeCtx();
  await handler.onRequest!(ctx);
  t.equal(ctx.answer, null);
  const res = fakeRes([
    ['Set-Cookie', 'session=stale'],
    ['Set-Cookie', 'theme=dark'],
  ]);
  await handler.onResponse!(ctx, res);
  t.same(res.headers.getAll('set-cookie'), ['theme=dark', 'session=fresh; HttpOnly']);
  const plain = fakeRes([['Set-Cookie', 'a=1']]);
  await handler.onResponse!(fakeCtx(), plain);
  t.same(plain.headers.getAll('set-cookie'), ['a=1'], 'other requests untouched');
});

test('forwardAuth: the pool is closed when env.signal aborts', async (t) => {
  const auth = await authServer(t, (_req, res) => res.end());
  const { env, abort } = fakeEnv('auth@file', { t, base: '/nowhere' });
  const handler = types.create('forwardAuth', { address: auth.url }, env);
  const ctx = fakeCtx();
  await handler.onRequest!(ctx);
  t.equal(ctx.answer, null);
  t.equal(auth.sockets(), 1, 'a kept-alive connection');
  abort.abort();
  const deadline = Date.now() + 3000;
  while (auth.sockets() > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
  t.equal(auth.sockets(), 0, 'closed');
  const after = fakeCtx();
  await handler.onRequest!(after);
  t.equal(after.answer?.status, 500, 'a late request is refused, not let through');
});
