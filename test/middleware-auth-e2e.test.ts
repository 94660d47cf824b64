// basicAuth and forwardAuth end to end through the YAML config: a real baton, a real upstream, users files written
// by Debian's htpasswd, a real auth server on port 0, hostile clients over real sockets.
import { execFileSync } from 'node:child_process';
import { once } from 'node:events';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import t from 'tap';
import { testsNeeding } from './fixtures/tools.ts';
import WebSocket, { WebSocketServer } from 'ws';
import { makeCa, makeLeaf } from './fixtures/certs.ts';
import { closedPort, http, raw, startBaton, startUpstream, tempDir } from './fixtures/harness.ts';
import { authServer, startApp, startBehind } from './fixtures/middleware.ts';

const test = testsNeeding(t, ['htpasswd']);

const basic = (user: string, password: string) =>
  `Basic ${Buffer.from(`${user}:${password}`, 'utf8').toString('base64')}`;

function htpasswdFile(dir: string): string {
  const file = join(dir, 'users.htpasswd');
  execFileSync('htpasswd', ['-cbB', file, 'bea', 'bcrypt-pw']);
  execFileSync('htpasswd', ['-bm', file, 'max', 'md5 pw']);
  execFileSync('htpasswd', ['-bs', file, 'sha', 'shä-pw']);
  return file;
}

test('basicAuth from YAML: htpasswd file with all three kinds, headerField, removeHeader', async (t) => {
  const dir = tempDir(t);
  const up = await startUpstream(t, 'app');
  const b = await startBehind(t, up, {
    auth: {
      basicAuth: {
        usersFile: htpasswdFile(dir),
        users: [execFileSync('htpasswd', ['-nbs', 'extra', 'x'], { encoding: 'utf8' }).trim()],
        realm: 'Admin area',
        headerField: 'X-WebAuth-User',
        removeHeader: true,
      },
    },
  });
  const none = await http(b.port, { path: '/admin' });
  t.equal(none.status, 401);
  t.equal(none.headers['www-authenticate'], 'Basic realm="Admin area"');
  t.equal(none.body, '401 Unauthorized\n');
  for (const [user, password] of [
    ['bea', 'bcrypt-pw'],
    ['max', 'md5 pw'],
    ['sha', 'shä-pw'],
    ['extra', 'x'],
  ]) {
    const wrong = await http(b.port, { headers: { authorization: basic(user, `${password}?`) } });
    t.equal(wrong.status, 401, `${user}: wrong password`);
    const ok = await http(b.port, {
      path: '/admin',
      headers: { authorization: basic(user, password), 'x-webauth-user': 'root' },
    });
    t.equal(ok.status, 200, `${user}: right password`);
    const seen = up.seen.at(-1)!;
    t.equal(seen.headers['x-webauth-user'], user, `${user}: the upstream is told who, not what the client said`);
    t.equal(seen.headers.authorization, undefined, 'removeHeader');
  }
  t.equal(up.seen.length, 4, 'refused requests never reached the upstream');
  const unknown = await http(b.port, { headers: { authorization: basic('nobody', 'bcrypt-pw') } });
  t.equal(unknown.status, 401);
});

test('basicAuth hostile clients: oversized, malformed, other schemes, raw bytes', async (t) => {
  const up = await startUpstream(t, 'app');
  const line = execFileSync('htpasswd', ['-nbB', 'bea', 'pw'], { encoding: 'utf8' }).trim();
  const b = await startBehind(t, up, { auth: { basicAuth: { users: [line] } } });
  const hostile = [
    `Basic ${Buffer.from(`bea:${'p'.repeat(6000)}`).toString('base64')}`,
    'Basic !!!!',
    'Basic YmVh', // "bea", no colon
    `Basic ${Buffer.from([0x62, 0x3a, 0xc3]).toString('base64')}`, // not UTF-8
    'Bearer eyJhbGciOi',
    'Basic',
    `basic ${Buffer.from('bea:pw').toString('base64')}, Basic eA==`,
  ];
  for (const authorization of hostile) {
    const r = await http(b.port, { headers: { authorization } });
    t.equal(r.status, 401, authorization.slice(0, 24));
    t.equal(r.headers['www-authenticate'], 'Basic realm="traefik"');
  }
  const two = await raw(
    b.port,
    `GET / HTTP/1.1\r\nHost: app.test\r\nAuthorization: ${basic('bea', 'pw')}\r\n` +
      `Authorization: ${basic('x', 'y')}\r\nConnection: close\r\n\r\n`,
  );
  t.match(two.data, /^HTTP\/1\.1 401 /, 'two Authorization headers: refused');
  t.equal(up.seen.length, 0);
  t.equal((await http(b.port, { headers: { authorization: basic('bea', 'pw') } })).status, 200);
});

test(
  'basicAuth under a flood of wrong bcrypt passwords: bounded work, 429 beyond, signed-in users pass',
  async (t) => {
    const up = await startUpstream(t, 'app');
    const line = execFileSync('htpasswd', ['-nbB', '-C', '12', 'bea', 'pw'], { encoding: 'utf8' }).trim();
    const b = await startBehind(t, up, { auth: { basicAuth: { users: [line] } } });
    t.equal((await http(b.port, { headers: { authorization: basic('bea', 'pw') } })).status, 200, 'signed in');
    const flood = Array.from({ length: 24 }, (_, i) =>
      http(b.port, { headers: { authorization: basic('bea', `w${i}`) } }),
    );
    await new Promise((r) => setTimeout(r, 150));
    const t0 = performance.now();
    const during = await http(b.port, { headers: { authorization: basic('bea', 'pw') } });
    const wait = performance.now() - t0;
    t.equal(during.status, 200, `a remembered client passes during the flood (${wait.toFixed(0)} ms)`);
    const statuses = (await Promise.all(flood)).map((r) => r.status);
    const refused = statuses.filter((s) => s === 401).length;
    const busy = statuses.filter((s) => s === 429).length;
    t.equal(refused + busy, 24, 'every wrong password refused');
    t.ok(refused <= 8 + 2, `at most about 8 bcrypt checks ran at once (${refused} × 401, ${busy} × 429)`);
    t.ok(busy > 0, 'the rest were told to come back');
    t.equal(up.seen.length, 2);
  },
);

test(
  'basicAuth config problems: plaintext refused naming the user; a missing usersFile stops baton from starting',
  async (t) => {
    const err = await startApp(t, {
      middlewares: { auth: { basicAuth: { users: ['bea:hunter2'] } } },
      services: { a: { rule: 'Path(`/`)', upstreams: ['http://127.0.0.1:1'], middlewares: ['auth'] } },
    }).then(
      () => null,
      (e: { code?: string; problems?: string[] }) => e,
    );
    t.equal(err?.code, 'BATON_CONFIG_INVALID');
    t.match(err?.problems, [/middlewares\.auth\.basicAuth.*users\[0\]: user "bea": .*plaintext/]);
    t.notOk(JSON.stringify(err?.problems).includes('hunter2'), 'the password is not in the message');

    const up = await startUpstream(t, 'app');
    const missing = await startBehind(t, up, { auth: { basicAuth: { usersFile: join(tempDir(t), 'missing') } } }).then(
      () => null,
      (e: { code?: string; problems?: string[] }) => e,
    );
    t.equal(missing?.code, 'BATON_CONFIG_INVALID', 'never served without its middleware: baton does not start');
    t.match(missing?.problems?.join('\n'), /missing: cannot be read \(ENOENT\)/);
    t.equal(up.seen.length, 0);
  },
);

// ---------------------------------------------------------------------------------------------------------------
// forwardAuth

/** An auth server: "Bearer good" passes as alice (and sets a session cookie); anything else is sent to log in. */
const judge = (req: IncomingMessage, res: ServerResponse) => {
  if (req.headers.authorization === 'Bearer good') {
    res.setHeader('Set-Cookie', ['session=from-auth; HttpOnly', 'noise=1']);
    res.writeHead(200, { 'X-Auth-User': 'alice', 'X-Auth-Role': 'admin', 'X-Unlisted': 'no' });
    return res.end('ignored');
  }
  res.setHeader('Set-Cookie', ['csrf=abc; Path=/', 'rd=%2Fadmin; Path=/']);
  res.writeHead(401, {
    'WWW-Authenticate': 'Bearer realm="sso"',
    'Content-Type': 'text/plain',
    Location: '/sso/login',
  });
  res.end('please log in\n');
};

test("forwardAuth from YAML: allowed with the auth server's headers, refused with its answer", async (t) => {
  const auth = await authServer(t, judge);
  const up = await startUpstream(t, 'app', (_req, res, body) => {
    res.setHeader('Set-Cookie', ['session=from-app', 'theme=dark']);
    res.end(`app got ${body.length} bytes`);
  });
  const b = await startBehind(t, up, {
    fa: {
      forwardAuth: {
        address: `${auth.url}/verify?app=admin`,
        trustForwardHeader: true,
        authResponseHeaders: ['X-Auth-User'],
        authResponseHeadersRegex: '^X-Auth-R',
        addAuthCookiesToResponse: ['session'],
      },
    },
  });
  const spoof = { 'x-auth-user': 'root', 'x-forwarded-uri': '/public', 'x-forwarded-method': 'GET' };
  const ok = await http(b.port, {
    method: 'PUT',
    path: '/admin/users?id=7',
    headers: { authorization: 'Bearer good', ...spoof },
    body: 'payload',
  });
  t.equal(ok.status, 200);
  t.equal(ok.body, 'app got 7 bytes', 'the body went to the upstream (not to the auth server)');
  t.same(ok.headers['set-cookie'], ['theme=dark', 'session=from-auth; HttpOnly']);
  const upSeen = up.seen.at(-1)!;
  t.equal(upSeen.headers['x-auth-user'], 'alice');
  t.equal(upSeen.headers['x-auth-role'], 'admin');
  t.equal(upSeen.headers['x-unlisted'], undefined);
  const asked = auth.seen.at(-1)!;
  t.equal(asked.method, 'GET');
  t.equal(asked.url, '/verify?app=admin');
  t.equal(asked.body, '');
  t.equal(asked.headers['x-forwarded-method'], 'PUT', 'the real method, not the spoofed one');
  t.equal(asked.headers['x-forwarded-uri'], '/admin/users?id=7', 'the real URI, not the spoofed one');
  t.equal(asked.headers['x-forwarded-host'], 'app.test');
  t.equal(asked.headers['x-forwarded-proto'], 'http');
  t.equal(asked.headers['x-forwarded-for'], '127.0.0.1');
  t.equal(asked.headers.host, auth.url.slice(7));

  const no = await http(b.port, { path: '/admin', headers: { authorization: 'Bearer bad' } });
  t.equal(no.status, 401);
  t.equal(no.body, 'please log in\n');
  t.equal(no.headers['www-authenticate'], 'Bearer realm="sso"');
  t.equal(no.headers.location, `${auth.url}/sso/login`, "resolved against the auth server's address");
  t.same(no.headers['set-cookie'], ['csrf=abc; Path=/', 'rd=%2Fadmin; Path=/'], 'both cookies');
  t.equal(up.seen.length, 1, 'the refused request never reached the upstream');
});

test('forwardAuth: unreachable auth server → 500, never forwarded; forwardBody and maxBodySize', async (t) => {
  const up = await startUpstream(t, 'app');
  const auth = await authServer(t, (req, res) => {
    res.writeHead(req.headers['content-type'] === 'application/json' ? 200 : 403);
    res.end();
  });
  const b = await startBaton(t, {
    middlewares: {
      down: { forwardAuth: { address: `http://127.0.0.1:${await closedPort()}/`, trustForwardHeader: false } },
      body: { forwardAuth: { address: auth.url, forwardBody: true, maxBodySize: 16, preserveRequestMethod: true } },
    },
    services: {
      down: { rule: 'Host(`down.test`)', upstreams: [up.url], middlewares: ['down'] },
      body: { rule: 'Host(`body.test`)', upstreams: [up.url], middlewares: ['body'] },
    },
  });
  for (let i = 0; i < 3; i++) t.equal((await http(b.port, { host: 'down.test' })).status, 500);
  t.equal(up.seen.length, 0, 'nothing was let through');
  const json = { 'content-type': 'application/json' };
  const ok = await http(b.port, { host: 'body.test', method: 'POST', headers: json, body: '{"op":"x"}' });
  t.equal(ok.status, 200);
  t.same([auth.seen[0].method, auth.seen[0].body], ['POST', '{"op":"x"}'], 'the auth server saw the body');
  t.equal(up.seen[0].body, '{"op":"x"}', 'and so did the upstream');
  const big = await http(b.port, { host: 'body.test', method: 'POST', headers: json, body: 'x'.repeat(17) });
  t.equal(big.status, 401, 'over maxBodySize: 401, as Traefik');
  t.equal(auth.seen.length, 1);
  t.equal((await http(b.port, { host: 'body.test', method: 'POST', body: 'plain' })).status, 403);
  t.equal(up.seen.length, 1);
});

test('forwardAuth guards WebSocket upgrades', async (t) => {
  const auth = await authServer(t, judge);
  const wss = new WebSocketServer({ port: 0, host: '127.0.0.1' });
  await once(wss, 'listening');
  t.teardown(() => wss.close());
  wss.on('connection', (ws, req) => ws.send(`hi ${req.headers['x-auth-user']}`));
  const port = (wss.address() as AddressInfo).port;
  const b = await startBaton(t, {
    middlewares: { fa: { forwardAuth: { address: auth.url, authResponseHeaders: ['X-Auth-User'] } } },
    services: { ws: { rule: 'PathPrefix(`/`)', upstreams: [`http://127.0.0.1:${port}`], middlewares: ['fa'] } },
  });
  const refused = new WebSocket(`ws://127.0.0.1:${b.port}/chat`, { headers: { authorization: 'Bearer bad' } });
  refused.on('error', () => {});
  const [, res] = (await once(refused, 'unexpected-response')) as [unknown, { statusCode: number }];
  t.equal(res.statusCode, 401);
  refused.terminate();
  const ok = new WebSocket(`ws://127.0.0.1:${b.port}/chat`, { headers: { authorization: 'Bearer good' } });
  const [msg] = await once(ok, 'message');
  t.equal(String(msg), 'hi alice');
  ok.close();
});

test(
  'forwardAuth over HTTPS: tls.ca (a path or PEM text), insecureSkipVerify; an unreadable tls.ca stops the start',
  async (t) => {
    const dir = tempDir(t);
    const ca = makeCa(dir);
    const leaf = makeLeaf(ca, dir, ['localhost']);
    const server = createHttpsServer({ cert: leaf.certPem, key: leaf.keyPem }, (req, res) => {
      res.writeHead(200, { 'X-Auth-User': `tls:${req.headers['x-forwarded-uri']}` });
      res.end();
    });
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    t.teardown(() => {
      server.closeAllConnections();
      return new Promise<void>((r) => server.close(() => r()));
    });
    const address = `https://localhost:${(server.address() as AddressInfo).port}/auth`;
    const up = await startUpstream(t, 'app');
    const fa = (tls: Record<string, unknown> | undefined) => ({
      forwardAuth: { address, trustForwardHeader: false, authResponseHeaders: ['X-Auth-User'], ...(tls && { tls }) },
    });
    const b = await startBaton(t, {
      middlewares: {
        byPath: fa({ ca: ca.certFile }),
        byText: fa({ ca: ca.pem }),
        skip: fa({ insecureSkipVerify: true }),
        system: fa(undefined),
      },
      services: Object.fromEntries(
        ['byPath', 'byText', 'skip', 'system'].map((m) => [
          m,
          { rule: `Host(\`${m.toLowerCase()}.test\`)`, upstreams: [up.url], middlewares: [m] },
        ]),
      ),
    });
    for (const host of ['bypath.test', 'bytext.test', 'skip.test']) {
      t.equal((await http(b.port, { host, path: '/x' })).status, 200, host);
      t.equal(up.seen.at(-1)!.headers['x-auth-user'], 'tls:/x');
    }
    t.equal((await http(b.port, { host: 'system.test' })).status, 500, 'a certificate the system does not trust');
    t.equal(up.seen.length, 3);
    const broken = await startBaton(t, {
      middlewares: { broken: fa({ ca: join(dir, 'nope.pem') }) },
      services: { broken: { rule: 'Host(`broken.test`)', upstreams: [up.url], middlewares: ['broken'] } },
    }).then(
      () => null,
      (e: { code?: string; problems?: string[] }) => e,
    );
    t.equal(broken?.code, 'BATON_CONFIG_INVALID', 'an unreadable tls.ca: baton does not start');
    t.match(broken?.problems?.join('\n'), /tls\.ca .*nope\.pem: cannot be read/);
  },
);
