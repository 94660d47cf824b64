// The dashboard in a real browser (Debian's chromium through playwright-core) against a real baton: the sign-in and
// a refused token, the services page live over the event stream (a drain made through the API shows within a
// second), actions from the page (drain, enable, roll back: each confirmed in the page), a deploy's steps live and
// then in the history (the real AdminServer and Deployer on the in-memory engine of test/fixtures/fake-engine.ts),
// the stream reconnecting after an admin restart, certificates and events; every page under the strict CSP with no
// console error. A screenshot of each page goes to test-artifacts/dashboard-<page>.png.
import { readdirSync } from 'node:fs';
import pino from 'pino';
import t, { type Test } from 'tap';
import type { Page } from 'playwright-core';
import { Deployments } from '../src/admin/deployments.ts';
import { AdminServer } from '../src/admin/server.ts';
import { Deployer } from '../src/deploy/deployer.ts';
import { Journal } from '../src/deploy/journal.ts';
import { artifact, launch, noChromium, openPage, type TestPage } from './fixtures/browser.ts';
import { makeCa, makeLeaf } from './fixtures/certs.ts';
import { FakeEngine } from './fixtures/fake-engine.ts';
import { admin, http, startBaton, startUpstream, tempDir, TOKEN, upstreamState, waitFor } from './fixtures/harness.ts';

const CSP =
  "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; " +
  "base-uri 'none'; form-action 'none'; frame-ancestors 'none'";
const FILES = ['/', '/dashboard/app.js', '/dashboard/style.css', '/dashboard/vendor/preact-htm.js'];
/** chromium's console line for a 401 answer: the expected outcome of signing in with a wrong token */
const REFUSED = /Failed to load resource: the server responded with a status of 401/;

const browser = noChromium ? null : await launch(t);

/** The dashboard is on the admin listener. */
const origin = (adminPort: number) => `http://127.0.0.1:${adminPort}`;

/** A full-page screenshot from the top (the header is sticky). */
async function shoot(page: Page, name: string): Promise<void> {
  await page.evaluate(() => scrollTo(0, 0));
  await page.screenshot({ path: artifact(`dashboard-${name}.png`), fullPage: true });
}

async function signIn(page: Page, base: string, token = TOKEN): Promise<void> {
  await page.goto(`${base}/`);
  await page.locator('#token').fill(token);
  await page.locator('form button[type=submit]').click();
}

/** Clicks the action button in `scope`, then the confirm button of the in-page dialog. */
async function confirmAction(page: Page, button: string): Promise<void> {
  await page.locator(button).click();
  const dialog = page.locator('dialog.confirm');
  await dialog.waitFor({ state: 'visible' });
  await dialog.locator('button.ok').click();
  await dialog.waitFor({ state: 'hidden' });
}

function noProblems(t: Test, p: TestPage, allowed: RegExp[] = []): void {
  const left = p.problems.filter((line) => !allowed.some((re) => re.test(line)));
  t.same(left, [], 'no console errors, CSP violations, page errors or failed requests');
}

const RULE = 'Host(`app.test`)';

t.test('the dashboard files: allow-listed, strict CSP and security headers, no token needed', async (t) => {
  const up = await startUpstream(t, 'a');
  const baton = await startBaton(t, { services: { app: { rule: RULE, upstreams: [up.url] } } });
  const base = origin(baton.adminPort);
  for (const path of FILES) {
    const res = await fetch(`${base}${path}`);
    const body = await res.text();
    t.equal(res.status, 200, `GET ${path}`);
    t.equal(res.headers.get('content-security-policy'), CSP, `${path}: CSP`);
    t.equal(res.headers.get('x-content-type-options'), 'nosniff');
    t.equal(res.headers.get('referrer-policy'), 'no-referrer');
    t.equal(res.headers.get('x-frame-options'), 'DENY');
    t.equal(res.headers.get('cache-control'), 'no-cache');
    t.match(res.headers.get('content-type'), path === '/' ? /^text\/html/ : path.endsWith('.css') ? /^text\/css/ : /^text\/javascript/);
    if (!path.includes('/vendor/')) {
      t.notMatch(body, /<script>|<style|style="|https?:\/\//, `${path}: no inline script or style, no absolute URL`);
    }
    const etag = res.headers.get('etag')!;
    const again = await fetch(`${base}${path}`, { headers: { 'if-none-match': etag } });
    t.equal(again.status, 304, `${path}: 304 for its ETag`);
  }
  t.equal((await fetch(`${base}/`, { method: 'HEAD' })).status, 200, 'HEAD /');
  // every file of the page is on the allow-list (a module left off it would break the page)
  for (const name of readdirSync(new URL('../src/admin/dashboard/', import.meta.url))) {
    if (name === 'index.html') continue;
    t.equal((await fetch(`${base}/dashboard/${name}`)).status, 200, `GET /dashboard/${name}`);
  }
  for (const path of ['/dashboard/', '/dashboard/nope.js', '/dashboard/../package.json', '/dashboard/%2e%2e/package.json', '/dashboard/vendor/x.js']) {
    t.equal((await fetch(`${base}${path}`)).status, 404, `GET ${path}: 404`);
  }
  t.equal((await admin(baton.adminPort, 'GET', '/api/services', undefined, null)).status, 401, 'the API still wants the token');
});

t.test('in chromium: sign-in, a refused token, services live, drains and enables, events, certificates', { skip: noChromium }, async (t) => {
  const dir = tempDir(t);
  const ca = makeCa(dir);
  const leaf = makeLeaf(ca, dir, ['app.test', 'www.app.test']);
  const a = await startUpstream(t, 'a');
  const b = await startUpstream(t, 'b');
  const baton = await startBaton(t, {
    services: { app: { rule: RULE, upstreams: [a.url, b.url], middlewares: [] } },
    tls: { certificates: [{ certFile: leaf.certFile, keyFile: leaf.keyFile }] },
  });
  const idA = `app@127.0.0.1:${a.port}`;
  const idB = `app@127.0.0.1:${b.port}`;
  const base = origin(baton.adminPort);

  // a wrong token: refused, said so, nothing shown, nothing kept
  const wrong = await openPage(t, browser!);
  const first = await wrong.page.goto(`${base}/`);
  t.equal(first?.headers()['content-security-policy'], CSP, 'the page is served with the CSP');
  await wrong.page.locator('#token').waitFor();
  t.pass('the page asks for the token');
  await signIn(wrong.page, base, 'wrong-token-0123456789abcdef');
  await wrong.page.locator('.login-error').waitFor();
  t.match(await wrong.page.locator('.login-error').textContent(), /wrong token/);
  t.equal(await wrong.page.locator('[data-service]').count(), 0, 'no service shown');
  t.equal(await wrong.page.evaluate(() => sessionStorage.length), 0, 'the wrong token is not kept');
  t.notMatch(wrong.page.url(), /token|wrong/, 'no token in the URL');
  await shoot(wrong.page, 'login');
  noProblems(t, wrong, [REFUSED]);

  // the right token: the services and their upstreams
  const p = await openPage(t, browser!);
  const { page } = p;
  await signIn(page, base);
  const svc = page.locator('[data-service="app"]');
  await svc.waitFor();
  t.match(await svc.locator('.route').textContent(), /Host\(`app\.test`\)/, 'the rule');
  t.match(await svc.locator('.route').textContent(), /web/, 'the entrypoint');
  const rowA = page.locator(`tr[data-upstream="${idA}"]`);
  const rowB = page.locator(`tr[data-upstream="${idB}"]`);
  await waitFor(async () => (await rowA.locator('.state').textContent()) === 'healthy', 5000, 'A healthy on the page');
  t.equal(await rowB.locator('.state').textContent(), 'healthy');
  t.not(page.url().includes(TOKEN), true, 'no token in the URL');
  t.equal(await page.evaluate(() => sessionStorage.getItem('baton.admin.token')), TOKEN, 'the token in sessionStorage');

  // traffic (a request every 20 ms while the page watches) shows as req/s from the stats events
  let sending = true;
  const traffic = (async () => {
    for (let i = 0; sending; i++) {
      await http(baton.port, { path: `/x${i}` });
      await new Promise((r) => setTimeout(r, 20));
    }
  })();
  t.teardown(() => {
    sending = false;
    return traffic;
  });
  await waitFor(async () => /^[1-9]/.test((await svc.locator('.metric.rps .value').textContent()) ?? ''), 5000, 'req/s on the page');
  await waitFor(async () => (await svc.locator('.metric.p50 .value').textContent()) !== '–', 5000, 'p50 on the page');
  await shoot(page, 'services');
  sending = false;
  await traffic;

  // a drain through the API shows within a second
  const started = Date.now();
  t.equal((await admin(baton.adminPort, 'POST', `/api/upstreams/${encodeURIComponent(idA)}/drain?wait=false`, {})).status, 202);
  await waitFor(async () => /^drain(ing|ed)$/.test((await rowA.locator('.state').textContent()) ?? ''), 1000, 'A draining on the page');
  t.ok(Date.now() - started < 1000, `the API's drain on the page after ${Date.now() - started} ms`);

  // a drain from the page, confirmed in the page
  await confirmAction(page, `tr[data-upstream="${idB}"] button.drain`);
  await waitFor(() => /^drain(ing|ed)$/.test(upstreamState(baton.app, idB) ?? ''), 3000, 'B drained through the page');
  t.match((await admin(baton.adminPort, 'GET', `/api/upstreams/${encodeURIComponent(idB)}`)).json.state, /^drain(ing|ed)$/, 'the API shows it');
  await page.locator('.notice.ok').first().waitFor();
  t.match(await page.locator('.notice.ok').first().textContent(), new RegExp(idB.replace(/[.]/g, '\\.')));
  await waitFor(async () => /^drain(ing|ed)$/.test((await rowB.locator('.state').textContent()) ?? ''), 2000, 'B draining on the page');

  // cancelling asks nothing of the API
  await rowA.locator('button.enable').click();
  await page.locator('dialog.confirm button.cancel').click();
  await page.locator('dialog.confirm').waitFor({ state: 'hidden' });
  t.match(upstreamState(baton.app, idA) ?? '', /^drain(ing|ed)$/, 'cancelled: still out of rotation');
  // and enabling it back from the page
  await confirmAction(page, `tr[data-upstream="${idA}"] button.enable`);
  await waitFor(() => !/^drain(ing|ed)$/.test(upstreamState(baton.app, idA) ?? ''), 3000, 'A enabled through the page');
  await waitFor(async () => !/^drain(ing|ed)$/.test((await rowA.locator('.state').textContent()) ?? ''), 2000, 'A back on the page');

  // a rollback without a deployer: the API's error, shown
  await confirmAction(page, '[data-service="app"] button.rollback');
  await page.locator('.notice.error').first().waitFor();
  t.match(await page.locator('.notice.error').first().textContent(), /Docker provider/);

  // events: the state changes just made
  await page.goto(`${base}/#/events`);
  await page.locator('ol.events li.event-upstream').first().waitFor();
  const events = await page.locator('ol.events').textContent();
  t.match(events, new RegExp(`${idB.replace(/[.]/g, '\\.')}: healthy → draining`), 'the page drain in the events');
  t.match(events, /connected: 1 services/, 'the hello');
  await shoot(page, 'events');

  // certificates
  await page.locator('nav a[data-page="certificates"]').click();
  const cert = page.locator(`tr[data-certificate="file:${leaf.certFile}"]`);
  await cert.waitFor();
  t.match(await cert.textContent(), /app\.test.*www\.app\.test/);
  t.match(await page.locator('tr[data-certificate="default"]').textContent(), /self-signed/);
  await shoot(page, 'certificates');

  // the deploys page without a deployer says why
  await page.locator('nav a[data-page="deploys"]').click();
  await page.locator('.deploys-page .empty').waitFor();
  t.match(await page.locator('.deploys-page .empty').textContent(), /Docker/);
  // chromium logs each non-2xx answer: the two 409s (no deployer) are the answers asked for
  noProblems(t, p, [/status of 409 \(Conflict\)/]);
});

/** An admin API over the in-memory engine's registry, with the real deployer: deploys without Docker. */
async function deployingAdmin(t: Test) {
  const images = { 'app:v1': { healthy: true, httpStatus: 200 }, 'app:v2': { healthy: true, httpStatus: 200 } };
  const engine = new FakeEngine(images);
  const log = pino({ level: 'silent' });
  const journal = new Journal(tempDir(t));
  const deployer = new Deployer({ engine, registry: engine.registry, journal, events: engine.events, log });
  const servers = new Set<AdminServer>();
  /** an admin listener on `address` (a restart: the same port again) */
  const listen = async (address = '127.0.0.1:0') => {
    const server = new AdminServer({
      address,
      token: TOKEN,
      registry: engine.registry,
      events: engine.events,
      deployments: new Deployments(deployer, null),
      traffic: async () => ({ services: {}, entrypoints: {}, meters: {} }),
      workers: async () => [],
      certificates: { list: () => [] },
      entrypoints: ['web'],
      metrics: { public: false, buckets: [0.1, 1] },
      log,
    });
    servers.add(server);
    return { server, port: (await server.listen()).port };
  };
  t.teardown(async () => {
    for (const s of servers) await s.close();
    await deployer.close();
    await engine.close();
  });
  const old = await engine.seed('app', 'app:v1', 2);
  await waitFor(() => old.every((c) => engine.registry.upstreamOfContainer(c.id)?.state === 'healthy'), 5000, 'seeded');
  return { engine, deployer, listen };
}

t.test('in chromium: a deploy shows its steps live and lands in the history; a rollback from the page', { skip: noChromium }, async (t) => {
  const { listen, engine } = await deployingAdmin(t);
  const { server, port } = await listen();
  const base = origin(port);
  const p = await openPage(t, browser!);
  const { page } = p;
  await signIn(page, base);
  await page.locator('[data-service="app"]').waitFor();
  await page.locator('nav a[data-page="deploys"]').click();
  await page.locator('.deploys-page .empty').waitFor();
  t.match(await page.locator('.deploys-page .empty').textContent(), /No deploys yet/);

  const r = await admin(port, 'POST', '/api/services/app/deploys', { image: 'app:v2', monitor: '3s', healthTimeout: '5s' });
  t.equal(r.status, 202);
  const id: string = r.json.id;
  const card = page.locator(`.live-deploys [data-deploy="${id}"]`);
  await card.waitFor();
  // the steps as they happen: the first batch's create, start and health gate, then the monitor window live
  await card.locator('.step[data-action="health gate"]').first().waitFor();
  await card.locator('.live .phase', { hasText: 'monitor' }).waitFor({ timeout: 10_000 });
  t.match(await card.locator('.live').textContent(), /ends in \d/, 'the monitor window counting down');
  t.match(await card.locator('.live').textContent(), /batch \d of 2/, 'batch n of m');
  const runningRow = page.locator(`table.history tr[data-deploy="${id}"]`);
  await runningRow.waitFor();
  t.match(await runningRow.textContent(), /running/, 'in the history already, as running');
  await shoot(page, 'deploys-live');
  const during = await card.locator('.step').count();
  t.ok(during >= 4, `${during} steps shown while it ran`);

  // it ends, and lands in the history
  const row = page.locator(`table.history tr[data-deploy="${id}"]`);
  await waitFor(async () => (await row.locator('.outcome').textContent().catch(() => '')) === 'succeeded', 15_000, 'succeeded in the history');
  t.match(await row.textContent(), /app:v2/, 'the image');
  t.equal(await card.locator('.badge').first().textContent(), 'succeeded', 'the live card says how it ended');
  const rec = (await admin(port, 'GET', `/api/deploys/${id}`)).json;
  // each step's started and done are one row
  const work = rec.steps.filter((s: { status: string }) => s.status === 'started').length;
  t.equal(await card.locator('.step').count(), work, 'every step of the record shown');
  t.equal(await card.locator('.step[data-status="running"]').count(), 0, 'none still running');
  await row.locator('button.expand').click();
  await page.locator('tr.details .step').first().waitFor();
  t.equal(await page.locator('tr.details .step').count(), work, "the history row opens to the record's steps");
  await shoot(page, 'deploys');

  // a rollback from the services page, confirmed in the page: the API has it
  await page.locator('nav a[data-page="services"]').click();
  // the services page has the new containers' upstreams, without a reload
  const routed = () => engine.registry.services.get('app')!.upstreams.map((u) => u.id).sort().join(' ');
  const shown = () => page.locator('[data-service="app"] tr[data-upstream]').evaluateAll((rows) => rows.map((r) => r.getAttribute('data-upstream')).sort().join(' '));
  await waitFor(async () => (await shown()) === routed(), 3000, "the new upstreams on the services page");
  await confirmAction(page, '[data-service="app"] button.rollback');
  await page.locator('.notice.ok', { hasText: 'Rollback of app started' }).waitFor();
  let rollback: { id: string; kind: string } | undefined;
  await waitFor(async () => {
    rollback = (await admin(port, 'GET', '/api/deploys')).json.deploys.find((d: { kind: string }) => d.kind === 'rollback');
    return rollback !== undefined;
  }, 3000, 'a rollback in the API');
  await page.locator(`.live-deploys [data-deploy="${rollback!.id}"]`).waitFor();
  t.pass('the rollback shows live on the deploys page');

  // the admin listener restarts: the page sees the stream end, retries with backoff, and is live again
  await page.locator('nav a[data-page="services"]').click();
  await page.locator('.conn.live').waitFor();
  await server.close();
  await page.locator('.conn.down').waitFor();
  t.match(await page.locator('.conn.down').textContent(), /reconnecting in \d+ s/);
  await new Promise((r) => setTimeout(r, 1200)); // a retry or two refused meanwhile
  await listen(`127.0.0.1:${port}`);
  await page.locator('.conn.live').waitFor({ timeout: 10_000 });
  const u = [...engine.registry.upstreams.values()].find((x) => x.state === 'healthy')!;
  const upRow = page.locator(`tr[data-upstream="${u.id}"]`);
  await waitFor(async () => (await upRow.locator('.state').textContent()) === 'healthy', 3000, 'the upstream on the page');
  const started = Date.now();
  t.equal((await admin(port, 'POST', `/api/upstreams/${encodeURIComponent(u.id)}/drain?wait=false`, {})).status, 202);
  await waitFor(async () => /^drain(ing|ed)$/.test((await upRow.locator('.state').textContent()) ?? ''), 1000, 'drain shown');
  t.ok(Date.now() - started < 1000, 'after the reconnect, a drain through the API shows within a second');
  // chromium reports the retries made while nothing listened
  noProblems(t, p, [/ERR_CONNECTION_REFUSED/]);
});
