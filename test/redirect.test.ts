// Entrypoint redirections (src/proxy/redirect.ts): status by method and permanence, Location's port rules.
import t from 'tap';
import { redirectTo } from '../src/proxy/redirect.ts';

const https443 = { scheme: 'https' as const, port: 443, permanent: true };
const cases: Array<[string, Parameters<typeof redirectTo>, { status: number; location: string }]> = [
  [
    'GET permanent → 301, port 443 omitted',
    [https443, 'GET', 'shop.test', '/a?b=1'],
    { status: 301, location: 'https://shop.test/a?b=1' },
  ],
  ['HEAD permanent → 301', [https443, 'HEAD', 'shop.test', '/'], { status: 301, location: 'https://shop.test/' }],
  [
    'POST permanent → 308 (method and body kept)',
    [https443, 'POST', 'shop.test', '/buy'],
    { status: 308, location: 'https://shop.test/buy' },
  ],
  ['PUT permanent → 308', [https443, 'PUT', 'shop.test', '/x'], { status: 308, location: 'https://shop.test/x' }],
  [
    'GET not permanent → 302',
    [{ ...https443, permanent: false }, 'GET', 'a.test', '/'],
    { status: 302, location: 'https://a.test/' },
  ],
  [
    'DELETE not permanent → 307',
    [{ ...https443, permanent: false }, 'DELETE', 'a.test', '/r'],
    { status: 307, location: 'https://a.test/r' },
  ],
  [
    'another port is kept',
    [{ ...https443, port: 8443 }, 'GET', 'a.test', '/p'],
    { status: 301, location: 'https://a.test:8443/p' },
  ],
  [
    'http on 80: port omitted',
    [{ scheme: 'http', port: 80, permanent: true }, 'GET', 'a.test', '/'],
    { status: 301, location: 'http://a.test/' },
  ],
  [
    'http on 443: port kept',
    [{ scheme: 'http', port: 443, permanent: true }, 'GET', 'a.test', '/'],
    { status: 301, location: 'http://a.test:443/' },
  ],
  ['IPv6 host bracketed', [https443, 'GET', '::1', '/'], { status: 301, location: 'https://[::1]/' }],
  [
    'bracketed IPv6 host kept',
    [{ ...https443, port: 9443 }, 'GET', '[::1]', '/'],
    { status: 301, location: 'https://[::1]:9443/' },
  ],
  ['IPv4 host', [https443, 'GET', '127.0.0.1', '/?q'], { status: 301, location: 'https://127.0.0.1/?q' }],
];

for (const [name, args, want] of cases) {
  t.test(name, async (t) => {
    t.same(redirectTo(...args), want);
  });
}
