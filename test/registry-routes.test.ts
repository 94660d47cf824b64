// A service with several routes (Traefik routers that differ in entrypoints or TLS) is served under each.
import pino from 'pino';
import t from 'tap';
import { parseConfig } from '../src/config/load.ts';
import { EventBus } from '../src/events.ts';
import { Registry } from '../src/upstream/registry.ts';

t.test('each route of a service is served on its own listeners', async (t) => {
  const config = parseConfig({ services: { x: { rule: 'Host(`x`)', upstreams: ['http://127.0.0.1:1'] } } }, { env: {} });
  const { upstreams: _u, ...options } = config.services.x;
  const registry = new Registry({
    timeouts: config.timeouts,
    log: pino({ level: 'silent' }),
    events: new EventBus(),
    entrypoints: { web: {}, websecure: {} },
  });
  t.teardown(() => registry.close());
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
