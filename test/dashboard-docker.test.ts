// A deploy on the real Docker engine, watched in the dashboard (chromium): its steps live, the health gate and
// monitor window counting down, then the history row with the requests and failures the service saw meanwhile.
// Skipped when no engine answers or chromium is missing. (Meant as test/dashboard-docker.test.ts.)
import t from 'tap';
import { batonLabels, dockerConfig, startContainer, testImages, testRuns, waitHealthy, whenDockerAnswers } from './fixtures/docker.ts';
import { artifact, launch, noChromium, openPage } from './fixtures/browser.ts';
import { admin, http, startBaton, TOKEN, waitFor } from './fixtures/harness.ts';

await whenDockerAnswers(t, 240_000, async () => {
  t.test('a Docker deploy live on the dashboard, then in the history', { skip: noChromium }, async (t) => {
    const images = await testImages(t);
    const u = testRuns('dash', { dirPrefix: 'baton-dash-', mountable: true })(t);
    const b = await startBaton(t, dockerConfig());
    for (let k = 0; k < 2; k++) await startContainer(`${u.name}-orig-${k}`, images.v1, u.run, batonLabels(u.name, u.host), u.dir);
    await waitHealthy(b, u.name, 2);
    const browser = await launch(t);
    const p = await openPage(t, browser);
    const { page } = p;
    await page.goto(`http://127.0.0.1:${b.adminPort}/`);
    await page.locator('#token').fill(TOKEN);
    await page.locator('form button[type=submit]').click();
    await page.locator(`[data-service="${u.name}"]`).waitFor();

    let sending = true;
    const load = (async () => {
      while (sending) {
        await http(b.port, { host: u.host, path: '/' }).catch(() => {});
        await new Promise((r) => setTimeout(r, 20));
      }
    })();
    t.teardown(() => ((sending = false), load));
    await waitFor(async () => /^[1-9]/.test((await page.locator('.metric.rps .value').textContent()) ?? ''), 8000, 'req/s');
    await page.evaluate(() => scrollTo(0, 0));
    await page.screenshot({ path: artifact('dashboard-docker-services.png'), fullPage: true });

    await page.locator('nav a[data-page="deploys"]').click();
    const r = await admin(b.adminPort, 'POST', `/api/services/${u.name}/deploys`, { image: images.v2, monitor: '3s', healthTimeout: '20s', drainTimeout: '10s' });
    t.equal(r.status, 202);
    const id: string = r.json.id;
    const card = page.locator(`.live-deploys [data-deploy="${id}"]`);
    await card.locator('.live .phase', { hasText: 'health gate' }).waitFor({ timeout: 20_000 });
    t.match(await card.locator('.live').textContent(), /gives up in \d/, 'the health gate counting down');
    await card.locator('.live .phase', { hasText: 'monitor' }).waitFor({ timeout: 30_000 });
    await page.evaluate(() => scrollTo(0, 0));
    await page.screenshot({ path: artifact('dashboard-docker-deploy-live.png'), fullPage: true });
    const row = page.locator(`table.history tr[data-deploy="${id}"]`);
    await waitFor(async () => (await row.locator('.outcome').textContent().catch(() => '')) === 'succeeded', 60_000, 'succeeded');
    sending = false;
    await load;
    t.ok(Number(await row.locator('.requests').textContent()) > 0, 'requests seen during the deploy');
    t.equal(await row.locator('.failures').textContent(), '0', 'no failures');
    await page.evaluate(() => scrollTo(0, 0));
    await page.screenshot({ path: artifact('dashboard-docker-deploy.png'), fullPage: true });
    t.same(p.problems, [], 'no console errors');
  });
});
