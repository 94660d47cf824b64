// A service with several routes (Traefik routers that differ in entrypoints or TLS) is served under each.
import pino from 'pino';
import t, { type Test } from 'tap';
import { parseConfig } from '../src/config/load.ts';
import { EventBus } from '../src/events.ts';
import { builtinFactory, MiddlewareSet } from '../src/middleware/compile.ts';
import { int } from '../src/middleware/options.ts';
import { defineType } from '../src/middleware/types.ts';
import { Registry, type RegistryOptions } from '../src/upstream/registry.ts';

/** A registry with the given entrypoints (and middlewares), torn down with the test; a service's default options. */
function registryFor(t: Test, opts: Pick<RegistryOptions, 'entrypoints' | 'middlewares'>) {
  const config = parseConfig({ services: { x: { rule: 'Host(`x`)', upstreams: ['http://127.0.0.1:1'] } } }, { env: {} });
  const { upstreams: _u, ...options } = config.services.x;
  const registry = new Registry({ timeouts: config.timeouts, log: pino({ level: 'silent' }), events: new EventBus(), ...opts });
  t.teardown(() => registry.close());
  return { registry, options };
}

t.test('each route of a service is served on its own listeners', async (t) => {
  const { registry, options } = registryFor(t, { entrypoints: { web: {}, websecure: {} } });
  registry.setSnapshot('docker', {
    services: [
      {
        ...options,
        name: 'shop',
        rule: 'Host(`shop.test`)',
        upstreams: [{ id: 'shop@a', url: 'http://127.0.0.1:1' }],
        routes: [
          { name: 'shop', rule: 'Host(`shop.test`)', entrypoints: ['web'] },
          { name: 'shop-secure', rule: 'Host(`shop.test`)', entrypoints: ['websecure'], tls: { domains: [] } },
          { name: 'api', rule: 'Host(`api.test`)', tls: { certResolver: 'le', domains: [] } },
        ],
      },
    ],
  });
  const view = (host: string) => ({ host, path: '/', query: '', method: 'GET', clientIp: '127.0.0.1', headers: {} });
  const served = (ep: string, tls: boolean, host: string) => registry.table(ep, tls).match(view(host))?.service.name ?? null;
  t.equal(served('web', false, 'shop.test'), 'shop', 'plain router on web');
  t.equal(served('websecure', true, 'shop.test'), 'shop', 'TLS router on websecure');
  t.equal(served('websecure', false, 'shop.test'), null, 'not plain on websecure');
  t.equal(served('web', true, 'shop.test'), null, 'not TLS on web');
  t.equal(served('web', true, 'api.test'), 'shop', 'a third router: TLS on every entrypoint');
  t.same(registry.certificateDemands(), [{ resolver: 'le', domains: ['api.test'] }]);
  t.equal(registry.services.size, 1, 'still one service');
});

t.test('a route refused for its middlewares answers 503 instead of falling through to a less specific route', async (t) => {
  const counter = defineType({ name: 'counter', spec: { step: int(1, 1, 10) }, create: () => ({}) });
  const middlewares = new MiddlewareSet({
    factories: new Map([['counter', builtinFactory(counter)]]),
    log: { child: () => ({ info() {}, warn() {}, error() {} }) },
    resolvePath: (p) => p,
  });
  const { registry, options } = registryFor(t, { entrypoints: { web: {} }, middlewares });
  registry.setSnapshot('docker', {
    middlewares: { auth: { type: 'counter', options: { step: 99 } } },
    services: [
      { ...options, name: 'site', rule: 'Host(`app.test`)', upstreams: [{ id: 'site@a', url: 'http://127.0.0.1:1' }] },
      {
        ...options,
        name: 'admin',
        rule: 'Host(`app.test`) && PathPrefix(`/admin`)',
        middlewares: ['auth'],
        upstreams: [{ id: 'admin@a', url: 'http://127.0.0.1:2' }],
      },
    ],
  });
  const view = (path: string) => ({ host: 'app.test', path, query: '', method: 'GET', clientIp: '127.0.0.1', headers: {} });
  const admin = registry.table('web', false).match(view('/admin/x'))!;
  t.equal(admin.service.name, 'admin', 'the refused route still matches its requests');
  t.same(admin.links.map((l) => l.name), ['route_refused'], 'and answers them itself (503)');
  t.same(registry.table('web', false).match(view('/'))!.links, [], 'the site is unaffected');
  t.match(registry.problems(), [/middleware auth@docker: step/, /route admin on entrypoint web: middleware auth@docker is invalid: step/]);
});
