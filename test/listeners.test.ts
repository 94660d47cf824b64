// Which routes each listener serves, what certificates the TLS routes ask for, and their TLS options by host
// (src/upstream/listeners.ts, pure).
import t from 'tap';
import { certificateDemands, listenerKey, routesByListener, tlsOptionsByHost } from '../src/upstream/listeners.ts';

const entrypoints = { web: {}, websecure: { tls: { domains: [] } }, internal: {} };
const le = (extra: Record<string, unknown> = {}) => ({ certResolver: 'le', domains: [], ...extra });

const served = (routes: Parameters<typeof routesByListener<string>>[0]) => {
  const out: Record<string, string[]> = {};
  for (const [key, list] of routesByListener(routes, entrypoints)) out[key] = list.map((r) => r.name);
  return out;
};

t.test('routes by listener: Traefik semantics', async (t) => {
  t.same(served([{ name: 'a', rule: 'Host(`a`)', service: 'a' }]), {
    web: ['a'],
    'web+tls': [],
    websecure: [],
    'websecure+tls': ['a'],
    internal: ['a'],
    'internal+tls': [],
  }, 'no entrypoints, no TLS: every entrypoint, TLS where the entrypoint has a default TLS');
  t.same(served([{ name: 'b', rule: 'Host(`b`)', service: 'b', tls: le() }]), {
    web: [],
    'web+tls': ['b'],
    websecure: [],
    'websecure+tls': ['b'],
    internal: [],
    'internal+tls': ['b'],
  }, 'a TLS route is served only over TLS, on every entrypoint');
  t.same(served([{ name: 'c', rule: 'Host(`c`)', service: 'c', entrypoints: ['web', 'nope'] }]), {
    web: ['c'],
    'web+tls': [],
    websecure: [],
    'websecure+tls': [],
    internal: [],
    'internal+tls': [],
  }, 'only the entrypoints it names (an unknown name serves nothing)');
  const [route] = routesByListener([{ name: 'd', rule: 'Host(`d`)', service: 'd' }], entrypoints).get('websecure+tls')!;
  t.same(route.tls, { domains: [] }, "the entrypoint's TLS is the route's");
  t.equal(listenerKey('web', false), 'web');
  t.equal(listenerKey('web', true), 'web+tls');
});

t.test('certificate demands: one per host, one per domains entry, deduplicated and sorted', async (t) => {
  const demands = certificateDemands(
    [
      { name: 'a', rule: 'Host(`b.test`) || Host(`a.test`)', service: 'a', tls: le() },
      { name: 'b', rule: 'Host(`a.test`)', service: 'b', tls: le(), entrypoints: ['websecure'] },
      { name: 'c', rule: 'Host(`x.test`)', service: 'c', tls: le({ domains: [{ main: 'x.test', sans: ['*.x.test'] }] }) },
      { name: 'd', rule: 'HostRegexp(`^.+$`)', service: 'd', tls: le() },
      { name: 'e', rule: 'Host(`127.0.0.1`) || Host(`[::1]`)', service: 'e', tls: le() },
      { name: 'f', rule: 'Host(`plain.test`)', service: 'f' },
      { name: 'g', rule: 'Host(`files.test`)', service: 'g', tls: { domains: [] } },
      { name: 'h', rule: 'Host(`h.test`)', service: 'h', tls: { certResolver: 'other', domains: [] } },
    ],
    entrypoints,
  );
  t.same(demands, [
    { resolver: 'le', domains: ['a.test'] },
    { resolver: 'le', domains: ['b.test'] },
    { resolver: 'le', domains: ['x.test', '*.x.test'] },
    { resolver: 'other', domains: ['h.test'] },
  ]);
  const viaEntrypoint = certificateDemands([{ name: 'a', rule: 'Host(`ep.test`)', service: 'a' }], {
    websecure: { tls: le() },
  });
  t.same(viaEntrypoint, [{ resolver: 'le', domains: ['ep.test'] }], "the entrypoint's default resolver counts");
});

t.test('TLS options by host', async (t) => {
  const m = tlsOptionsByHost(
    [
      { name: 'a', rule: 'Host(`a.test`)', service: 'a', tls: { domains: [], options: 'modern' } },
      { name: 'b', rule: 'Host(`a.test`)', service: 'b', tls: { domains: [], options: 'old' } },
      { name: 'c', rule: 'Host(`c.test`)', service: 'c', tls: { domains: [{ main: 'd.test', sans: [] }], options: 'x' } },
      { name: 'e', rule: 'Host(`e.test`)', service: 'e', tls: { domains: [] } },
    ],
    entrypoints,
  );
  t.same([...m], [
    ['a.test', 'modern'],
    ['c.test', 'x'],
    ['d.test', 'x'],
  ]);
});
