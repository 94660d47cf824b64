// Live configuration with a real `baton serve` child process: the config file edited (renamed over, as editors
// do), reloaded by its watcher, SIGHUP, POST /api/config/reload and `baton reload`; keep-alive connections and a
// load loop across the reloads; invalid files that change nothing; what needs a restart reported, not applied;
// with `workers: 2`, every worker thread takes the change.
import { writeFileSync } from 'node:fs';
import { Agent } from 'node:http';
import { join } from 'node:path';
import { pino } from 'pino';
import t from 'tap';
import { App } from '../src/app.ts';
import { loadConfig } from '../src/config/load.ts';
import { ConfigError } from '../src/errors.ts';
import { hello, makeCa, makeLeaf } from './fixtures/certs.ts';
import { REPO, runCli } from './fixtures/cli.ts';
import { admin, startUpstream, tempDir, TOKEN, waitFor } from './fixtures/harness.ts';
import { configText, eventStream, get, loadLoop, serveChild } from './fixtures/reload.ts';

const services = (upA: string, upB: string | null, tag: string, rule = 'Host(`a.test`)') =>
  `middlewares:\n  tag:\n    headers:\n      customResponseHeaders:\n        X-Tag: "${tag}"\n` +
  `services:\n  a:\n    rule: "${rule}"\n    upstreams: ["${upA}"]\n    middlewares: [tag]\n` +
  (upB === null ? '' : `  b:\n    rule: "Host(\`b.test\`)"\n    upstreams: ["${upB}"]\n`);

const tagOf = (a: { headers: Record<string, unknown> }) => a.headers['x-tag'];
/** The log is written in batches (every 250 ms): wait for a line. */
const logged = (b: { stdout: () => string }, re: RegExp) => waitFor(() => re.test(b.stdout()), 5000, `log ${re}`);

t.test('a watched file: services, rules, middlewares and limits change live; no request fails', async (t) => {
  const upA = await startUpstream(t, 'a', (req, res) => {
    // /slow answers after 1.5 s: a request in flight across the reload
    setTimeout(() => res.end('done'), req.url === '/slow' ? 1500 : 0);
  });
  const upB = await startUpstream(t, 'b');
  const dir = tempDir(t);
  const limits = (n: number) => `limits:\n  maxBodySize: ${n}\n`;
  const b = await serveChild(t, dir, (p, ap) => configText(p, ap, services(upA.url, null, 'one'), limits(1000)));
  const events = await eventStream(b.adminPort);
  t.teardown(() => events.close());

  const keep = new Agent({ keepAlive: true, maxSockets: 1 });
  t.teardown(() => keep.destroy());
  const first = await get(keep, b.port, 'a.test');
  t.equal(first.status, 200);
  t.equal(tagOf(first), 'one');
  t.equal((await get(false, b.port, 'b.test')).status, 404, 'no service b yet');
  t.equal((await get(false, b.port, 'a.test', '/', { method: 'POST', body: 'x'.repeat(100) })).status, 200);

  const load = loadLoop(b.port, 'a.test', { concurrency: 4, maxRequests: 20_000, maxMs: 40_000 });
  await waitFor(() => load.result.ok > 300, 15_000, 'load running');
  const rule = 'Host(`a.test`) || Host(`a2.test`)';
  const slow = get(false, b.port, 'a.test', '/slow');
  await waitFor(() => upA.seen.some((r) => r.url === '/slow'), 5000, 'the slow request in flight');
  b.write(configText(b.port, b.adminPort, services(upA.url, upB.url, 'two', rule), limits(10)));
  const wrote = Date.now();
  await waitFor(async () => (await get(false, b.port, 'b.test')).status === 200, 10_000, 'service b served');
  t.comment(`file renamed over → the new service served in ${Date.now() - wrote} ms`);
  const okAtChange = load.result.ok;
  await waitFor(() => load.result.ok > okAtChange + 500, 20_000, 'load after the reload');
  const r = await load.stop();
  t.equal(r.failed, 0, `no failed request during the reload (${r.ok} ok; ${r.errors.slice(0, 3).join(', ')})`);
  t.ok(r.ok > 100, `the load ran across the reload (${r.ok} requests)`);
  t.comment(`load across the reload: ${r.ok} requests answered, ${r.failed} failed`);
  const slowAnswer = await slow;
  t.equal(slowAnswer.status, 200, 'the request in flight during the reload finished');
  t.equal(slowAnswer.body, 'done');

  const after = await get(keep, b.port, 'a.test');
  t.equal(after.localPort, first.localPort, 'the keep-alive connection opened before the change still serves');
  t.equal(tagOf(after), 'two', 'the changed middleware runs');
  t.equal((await get(false, b.port, 'a2.test')).status, 200, 'the changed rule routes');
  const big = await get(false, b.port, 'a.test', '/', { method: 'POST', body: 'x'.repeat(100) });
  t.equal(big.status, 413, 'the new maxBodySize applies');
  await logged(b, /"msg":"Configuration reloaded"/);
  await logged(b, /"trigger":"watch","applied":\[[^\]]*"services.b"/);
  await waitFor(() => events.text().includes('event: config'), 5000, 'config event');
  t.match(events.text(), /event: config\ndata: \{"type":"config","trigger":"watch","ok":true/);

  t.test('invalid files change nothing and report every problem', async (t) => {
    const good = configText(b.port, b.adminPort, services(upA.url, upB.url, 'two', rule), limits(10));
    const bad: Array<[string, string, RegExp]> = [
      ['bad YAML', good + 'services: [unclosed\n', /baton\.yaml: /],
      ['an unknown key', good + 'servicez: {}\n', /servicez: unknown key/],
      [
        'a missing certificate file',
        good.replace(
          'stateDir:',
          'tls:\n  certificates:\n    - certFile: nope.pem\n      keyFile: nope.key\nstateDir:',
        ),
        /tls\.certificates\.0\.certFile: .*nope\.pem/,
      ],
      [
        'two problems at once',
        good.replace('X-Tag: "two"', 'X-Tag: "bad"').replace('upstreams: ["', 'upstreamz: ["'),
        /services\.a\.upstreamz: unknown key/,
      ],
    ];
    for (const [name, yaml, problem] of bad) {
      const before = b.stdout().length;
      b.write(yaml);
      const res = await admin(b.adminPort, 'POST', '/api/config/reload', {});
      t.equal(res.status, 400, `${name}: 400`);
      t.equal(res.json.error.code, 'BATON_CONFIG_INVALID');
      t.ok(
        res.json.problems.some((p: string) => problem.test(p)),
        `${name}: the problem named (${res.json.problems})`,
      );
      await waitFor(() => /Configuration reload refused/.test(b.stdout().slice(before)), 5000, `${name}: logged`);
      const still = await get(keep, b.port, 'a.test');
      t.equal(tagOf(still), 'two', `${name}: the running middleware stays`);
      t.equal(still.localPort, first.localPort, `${name}: same connection`);
      t.equal((await get(false, b.port, 'b.test')).status, 200, `${name}: the running services stay`);
    }
    const twoProblems = b.stdout().match(/"problem":"[^"]*"/g) ?? [];
    t.ok(twoProblems.length >= 5, 'each problem logged on its own line');
    b.write(configText(b.port, b.adminPort, services(upA.url, upB.url, 'three', rule), limits(10)));
    await waitFor(async () => tagOf(await get(keep, b.port, 'a.test')) === 'three', 10_000, 'a valid edit applies');
    t.equal((await get(keep, b.port, 'a.test')).localPort, first.localPort);
  });

  t.test('watch off, SIGHUP, the admin API, `baton reload`; an entrypoint address needs a restart', async (t) => {
    // (the head goes on right after `log:\n  accessLog: false`: a `  level:` line there is log.level)
    const yaml = (tag: string, port = b.port, level = 'info') =>
      configText(
        port,
        b.adminPort,
        services(upA.url, upB.url, tag, rule),
        `  level: ${level}\n${limits(10)}watch: false\n`,
      );
    b.write(yaml('four'));
    const res = await admin(b.adminPort, 'POST', '/api/config/reload', {});
    t.equal(res.status, 200);
    t.same(res.json, { applied: ['middlewares.tag', 'watch'], restartRequired: [] });
    t.equal(tagOf(await get(keep, b.port, 'a.test')), 'four');

    b.write(yaml('five'));
    await new Promise((r) => setTimeout(r, 1500));
    t.equal(tagOf(await get(keep, b.port, 'a.test')), 'four', 'watch: false — an edit waits for a trigger');
    b.child.kill('SIGHUP');
    await waitFor(async () => tagOf(await get(keep, b.port, 'a.test')) === 'five', 10_000, 'SIGHUP reloads');
    await logged(b, /"trigger":"signal"/);

    const other = b.port === 65000 ? 65001 : 65000;
    b.write(yaml('six', other));
    const moved = await admin(b.adminPort, 'POST', '/api/config/reload', {});
    t.equal(moved.status, 200);
    t.same(moved.json, { applied: ['middlewares.tag'], restartRequired: ['entrypoints.web'] });
    const six = await get(keep, b.port, 'a.test');
    t.equal(tagOf(six), 'six', 'the live part applied');
    t.equal(six.localPort, first.localPort, 'on the same connection, on the running address');
    await t.rejects(get(false, other, 'a.test'), 'the new address is not listened on');
    await logged(b, /"msg":"Configuration reloaded; some changes need a restart"/);

    b.write(yaml('seven', other));
    const env = { BATON_ADMIN_URL: `http://127.0.0.1:${b.adminPort}`, BATON_ADMIN_TOKEN: TOKEN };
    const cli = await runCli(t, ['reload'], env);
    t.equal(cli.code, 0, cli.stderr);
    t.match(cli.stdout, /Configuration reloaded\. Applied: middlewares\.tag/);
    t.match(cli.stdout, /Needs a restart \(not applied\): entrypoints\.web/);
    t.equal(tagOf(await get(keep, b.port, 'a.test')), 'seven');
    b.write(yaml('eight', other) + 'bogus: 1\n');
    const refused = await runCli(t, ['reload'], env);
    t.equal(refused.code, 2, 'an invalid file: exit 2');
    t.match(refused.stderr, /bogus: unknown key/);
    t.equal(tagOf(await get(keep, b.port, 'a.test')), 'seven', 'and nothing changed');

    // log.level: error hides the reloads' own info and warn lines, from the reload that sets it on
    const mark = b.stdout().length;
    const post = async (tag: string, level: string) => {
      b.write(yaml(tag, other, level));
      return (await admin(b.adminPort, 'POST', '/api/config/reload', {})).json.applied;
    };
    t.same(await post('nine', 'error'), ['middlewares.tag', 'log.level']);
    t.same(await post('ten', 'error'), ['middlewares.tag']);
    t.same(await post('eleven', 'info'), ['middlewares.tag', 'log.level']);
    await logged({ stdout: () => b.stdout().slice(mark) }, /Configuration reloaded/);
    const lines =
      b
        .stdout()
        .slice(mark)
        .match(/"msg":"Configuration reloaded[^"]*"/g) ?? [];
    t.equal(lines.length, 1, 'only the reload back to info is logged');
    t.equal(tagOf(await get(keep, b.port, 'a.test')), 'eleven');
  });
});

t.test('workers: 2 — every worker thread takes the change', async (t) => {
  const upA = await startUpstream(t, 'a');
  const upB = await startUpstream(t, 'b');
  const dir = tempDir(t);
  const b = await serveChild(t, dir, (p, ap) => configText(p, ap, services(upA.url, null, 'one'), 'workers: 2\n'));
  const keep = new Agent({ keepAlive: true, maxSockets: 1 });
  t.teardown(() => keep.destroy());
  const first = await get(keep, b.port, 'a.test');
  t.equal(tagOf(first), 'one');
  // a plugin added too: its module imported by the reload, in every thread
  const maintenance = join(REPO, 'examples', 'plugins', 'maintenance.ts');
  const withPlugin =
    services(upA.url, upB.url, 'two') +
    `  c:\n    rule: "Host(\`c.test\`)"\n    upstreams: ["${upB.url}"]\n    middlewares: [maint]\n` +
    `plugins:\n  maint:\n    module: ${maintenance}\n    options:\n      retryAfter: 30\n`;
  b.write(configText(b.port, b.adminPort, withPlugin, 'workers: 2\nlimits:\n  maxBodySize: 10\n'));
  await waitFor(async () => (await get(false, b.port, 'b.test')).status === 200, 10_000, 'service b served');
  await new Promise((r) => setTimeout(r, 300)); // both threads had the message by now; a miss below is a real miss
  let ok = 0;
  let bodyRefused = 0;
  let maintained = 0;
  for (let i = 0; i < 40; i++) {
    const m = await get(false, b.port, 'c.test');
    if (m.status === 503 && m.headers['retry-after'] === '30') maintained++;
    const a = await get(false, b.port, 'b.test'); // a fresh connection each: the kernel spreads them over the threads
    const tag = tagOf(await get(false, b.port, 'a.test'));
    const big = await get(false, b.port, 'a.test', '/', { method: 'POST', body: 'x'.repeat(100) });
    if (a.status === 200 && tag === 'two') ok++;
    if (big.status === 413) bodyRefused++;
  }
  t.equal(ok, 40, 'the new route and middleware on every fresh connection');
  t.equal(bodyRefused, 40, 'the new limit on every fresh connection');
  t.equal(maintained, 40, 'the new plugin on every fresh connection');
  const after = await get(keep, b.port, 'a.test');
  t.equal(after.localPort, first.localPort, 'the keep-alive connection stays');
  t.equal(tagOf(after), 'two');
  const workers = await admin(b.adminPort, 'GET', '/api/workers');
  t.equal(workers.json.workers.length, 2);
  t.ok(
    workers.json.workers.every((w: { requests: number }) => w.requests > 0),
    'both threads served requests (one came before the change)',
  );
});

t.test('certificates: a new certificate file served, a broken one refused (in process, from a file)', async (t) => {
  const dir = tempDir(t);
  const ca = makeCa(dir);
  const shop = makeLeaf(ca, dir, ['shop.test']);
  const fresh = makeLeaf(ca, dir, ['new.test']);
  const up = await startUpstream(t, 'app');
  const file = join(dir, 'baton.yaml');
  const yaml = (certs: Array<{ certFile: string; keyFile: string }>) =>
    `entrypoints:\n  websecure:\n    address: "127.0.0.1:0"\n    http:\n      tls: {}\n` +
    `admin:\n  address: "127.0.0.1:0"\n  token: "${TOKEN}"\nstateDir: state\nwatch: false\n` +
    `tls:\n  certificates:\n${certs.map((c) => `    - certFile: ${c.certFile}\n      keyFile: ${c.keyFile}\n`).join('')}` +
    `services:\n  app:\n    rule: "Host(\`shop.test\`) || Host(\`new.test\`)"\n    upstreams: ["${up.url}"]\n`;
  writeFileSync(file, yaml([shop]));
  const app = await App.start(loadConfig(file, {}), { log: pino({ level: 'silent' }) });
  t.teardown(() => app.close(1000));
  const port = app.entrypointAddress('websecure').port;
  const before = await hello(port, { servername: 'new.test' });
  before.socket.destroy();
  t.notSame(before.sans, ['new.test'], 'no certificate for new.test yet');

  writeFileSync(file, yaml([shop, fresh]));
  t.same(await app.reload('api'), { applied: ['tls'], restartRequired: [] });
  const after = await hello(port, { servername: 'new.test', ca: ca.pem, rejectUnauthorized: true });
  after.socket.destroy();
  t.same(after.sans, ['new.test'], 'the new certificate is served');
  t.ok(after.authorized);

  writeFileSync(file, yaml([shop, { certFile: join(dir, 'gone.pem'), keyFile: fresh.keyFile }]));
  const refused = await app.reload('api').catch((err: ConfigError) => err);
  t.type(refused, ConfigError);
  t.match((refused as ConfigError).problems.join('\n'), /tls\.certificates\.1\.certFile: .*gone\.pem/);
  const still = await hello(port, { servername: 'new.test', ca: ca.pem, rejectUnauthorized: true });
  still.socket.destroy();
  t.same(still.sans, ['new.test'], 'the running certificates stay');
  t.equal(app.certificates.list().filter((c) => c.source === 'file').length, 2);
});

t.test(
  'health checks: a reload that adds or changes one restarts the checkers (in process, from a file)',
  async (t) => {
    const up = await startUpstream(t, 'app', (req, res) => {
      res.statusCode = req.url === '/broken' ? 500 : 200;
      res.end('ok');
    });
    const dir = tempDir(t);
    const file = join(dir, 'baton.yaml');
    const yaml = (health: string) =>
      `entrypoints:\n  web:\n    address: "127.0.0.1:0"\nadmin:\n  address: "127.0.0.1:0"\n  token: "${TOKEN}"\n` +
      `stateDir: state\nwatch: false\nservices:\n  app:\n    rule: "Host(\`app.test\`)"\n    upstreams: ["${up.url}"]\n` +
      health;
    writeFileSync(file, yaml(''));
    const app = await App.start(loadConfig(file, {}), { log: pino({ level: 'silent' }) });
    t.teardown(() => app.close(1000));
    const port = app.entrypointAddress().port;
    const id = `app@127.0.0.1:${up.port}`;
    t.equal((await get(false, port, 'app.test')).status, 200);
    const check = (path: string) =>
      `    healthCheck:\n      path: ${path}\n      interval: 100ms\n      rise: 1\n      fall: 1\n`;
    writeFileSync(file, yaml(check('/broken')));
    t.same(await app.reload('api'), { applied: ['services.app'], restartRequired: [] });
    await waitFor(() => app.registry.upstreams.get(id)?.state === 'unhealthy', 5000, 'the new check fails');
    t.equal((await get(false, port, 'app.test')).status, 503, 'no healthy upstream');
    writeFileSync(file, yaml(check('/fine')));
    await app.reload('api');
    await waitFor(() => app.registry.upstreams.get(id)?.state === 'healthy', 5000, 'the changed check passes');
    t.equal((await get(false, port, 'app.test')).status, 200);
  },
);
