// HTTPS on the real Docker engine, the way a Traefik user has it: containers labelled with Traefik's router labels
// (`entrypoints=websecure`, `tls=true` / `tls.certresolver`), an entrypoint redirecting plain HTTP to HTTPS, curl
// over HTTP/1.1 and HTTP/2, and `baton deploy` under load over HTTPS losing nothing. Skipped, with the reason, when
// no engine answers.
import { execFile } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { promisify } from 'node:util';
import t, { type Test } from 'tap';
import { connect as tlsConnect } from 'node:tls';
import { makeCa, makeLeaf } from './fixtures/certs.ts';
import { freePort, startPebble } from './fixtures/pebble.ts';
import {
  createContainer,
  dockerConfig,
  finished,
  startContainer,
  testImages,
  testRuns,
  waitHealthy,
  whenDockerAnswers,
} from './fixtures/docker.ts';
import { admin, http, startBaton, tempDir } from './fixtures/harness.ts';
import { dockerClient } from './fixtures/images.ts';
import { describeLoad, runLoad } from './fixtures/load.ts';

const run = promisify(execFile);

await whenDockerAnswers(t, 180_000, main);

async function main(): Promise<void> {
  const docker = dockerClient();
  const images = await testImages(t);
  const unique = testRuns('https', { dirPrefix: 'baton-docker-data-', mountable: true });

  /** Traefik v2 labels for a TLS router on websecure (no baton label at all). */
  function traefikTls(router: string, host: string, tls: Record<string, string>): Record<string, string> {
    return {
      'traefik.enable': 'true',
      [`traefik.http.routers.${router}.rule`]: `Host(\`${host}\`)`,
      [`traefik.http.routers.${router}.entrypoints`]: 'websecure',
      ...Object.fromEntries(Object.entries(tls).map(([k, v]) => [`traefik.http.routers.${router}.${k}`, v])),
      [`traefik.http.services.${router}.loadbalancer.server.port`]: '8080',
      [`traefik.http.services.${router}.loadbalancer.healthcheck.path`]: '/health',
      [`traefik.http.services.${router}.loadbalancer.healthcheck.interval`]: '500ms',
    };
  }

  async function curl(args: string[]): Promise<{ status: number; version: string; body: string; location: string }> {
    const w = '\n%{http_code} %{http_version} %{redirect_url}';
    const { stdout } = await run('curl', ['-sS', '-m', '5', '-w', w, ...args], { timeout: 10_000 });
    const lines = stdout.trimEnd().split('\n');
    const [status, version, location] = lines.pop()!.split(' ');
    return { status: Number(status), version, body: lines.join('\n'), location: location ?? '' };
  }

  t.test('Traefik-labelled containers over HTTPS: h1 and h2, redirect from http, deploy under load loses nothing', async (t: Test) => {
    const u = unique(t);
    const router = `r${process.pid}x${u.i}`;
    const dir = tempDir(t);
    const ca = makeCa(dir);
    const cert = makeLeaf(ca, dir, [u.host]);
    const ids: string[] = [];
    for (let k = 0; k < 2; k++) {
      ids.push(await createContainer(`${u.name}-orig-${k}`, images.v1, u.run, traefikTls(router, u.host, { tls: 'true' }), u.dir));
    }
    await Promise.all(ids.map((id) => docker.getContainer(id).start()));
    const b = await startBaton(t, {
      ...dockerConfig(),
      entrypoints: {
        web: { address: '127.0.0.1:0', http: { redirections: { entryPoint: { to: 'websecure' } } } },
        websecure: { address: '127.0.0.1:0' },
      },
      tls: { certificates: [{ certFile: cert.certFile, keyFile: cert.keyFile }] },
    });
    await waitHealthy(b, router, 2);
    const port = b.app.entrypointAddress('websecure').port;
    const via = ['--resolve', `${u.host}:${port}:127.0.0.1`, '--cacert', ca.certFile];
    const h1 = await curl([...via, '--http1.1', `https://${u.host}:${port}/`]);
    t.equal(h1.status, 200, 'HTTPS/1.1 reaches the container');
    t.equal(JSON.parse(h1.body).version, 'v1');
    const h2 = await curl([...via, '--http2', `https://${u.host}:${port}/`]);
    t.same([h2.status, h2.version], [200, '2'], 'HTTP/2 reaches it too');
    const plain = await http(b.port, { host: u.host, path: '/x?y=1' });
    t.equal(plain.status, 301, 'plain HTTP is redirected');
    t.equal(plain.headers.location, `https://${u.host}:${port}/x?y=1`);

    const runId = `${u.name}-tls`;
    let rec: any;
    const go = (async () => {
      await sleep(1000);
      const res = await admin(b.adminPort, 'POST', `/api/services/${router}/deploys`, {
        image: images.v2,
        monitor: '2s',
        healthTimeout: '10s',
        drainTimeout: '10s',
      });
      if (res.status !== 202) throw new Error(`deploy not accepted: ${res.status} ${JSON.stringify(res.json)}`);
      rec = await finished(b, res.json.id as string);
    })();
    const load = await runLoad({ port, host: u.host, runId, tls: { servername: u.host }, until: go, tailMs: 1000 });
    await go;
    t.comment(`deploy over HTTPS: ${describeLoad(load)}`);
    t.equal(rec.state, 'succeeded', rec.error ?? 'deploy succeeded');
    t.ok(load.requests >= 200, `load ran (${load.requests} requests)`);
    t.same([load.non2xx, load.errors, load.timeouts, load.unanswered], [0, 0, 0, 0], 'nothing failed');
    const file = join(u.dir, 'processed.log');
    const processed = existsSync(file) ? readFileSync(file, 'utf8').split('\n').filter((l) => l.startsWith(runId)) : [];
    const count = new Map<string, number>();
    for (const line of processed) count.set(line.split(' ')[0], (count.get(line.split(' ')[0]) ?? 0) + 1);
    t.ok(load.postIds2xx.length > 0, `POSTs answered: ${load.postIds2xx.length}`);
    t.same(load.postIds2xx.filter((id) => count.get(id) !== 1), [], 'every answered POST processed exactly once');
    const after = await curl([...via, `https://${u.host}:${port}/`]);
    t.equal(JSON.parse(after.body).version, 'v2', 'the new version serves over HTTPS');
  });

  /** The certificate a TLS client gets for `servername`, verified against `ca` (null: not yet valid). */
  function verifiedPeer(port: number, servername: string, ca: string): Promise<string[] | null> {
    return new Promise((resolve) => {
      const s = tlsConnect({ port, host: '127.0.0.1', servername, ca, rejectUnauthorized: false });
      s.once('secureConnect', () => {
        const sans = String(s.getPeerCertificate().subjectaltname ?? '').split(', ');
        resolve(s.authorized ? sans : null);
        s.destroy();
      });
      s.once('error', () => resolve(null));
    });
  }

  t.test('tls.certresolver=le with pebble as the CA: a valid certificate within seconds of the container starting', async (t: Test) => {
    const u = unique(t);
    const router = `a${process.pid}x${u.i}`;
    const httpPort = await freePort();
    const tlsPort = await freePort();
    const pebble = await startPebble(t, { httpPort, tlsPort, dir: tempDir(t) });
    const b = await startBaton(t, {
      ...dockerConfig(),
      entrypoints: {
        web: { address: `127.0.0.1:${httpPort}`, http: { redirections: { entryPoint: { to: 'websecure' } } } },
        websecure: { address: `127.0.0.1:${tlsPort}` },
      },
      certificatesResolvers: {
        le: {
          acme: {
            email: 'ops@example.com',
            caServer: pebble.directory,
            caCertificates: [pebble.apiCertFile],
            httpChallenge: { entryPoint: 'web' },
          },
        },
      },
    });
    const root = await pebble.root();
    const started = Date.now();
    await startContainer(`${u.name}-le`, images.v1, u.run, traefikTls(router, u.host, { 'tls.certresolver': 'le' }));
    let sans: string[] | null = null;
    while (sans === null && Date.now() - started < 20_000) {
      await sleep(100);
      sans = await verifiedPeer(tlsPort, u.host, root);
    }
    const took = Date.now() - started;
    t.same(sans, [`DNS:${u.host}`], `a certificate from pebble for ${u.host}, verified against its root`);
    t.comment(`container start → valid certificate served: ${took} ms`);
    t.ok(took < 15_000, `within seconds (${took} ms)`);
    await waitHealthy(b, router, 1);
    const rootFile = join(tempDir(t), 'pebble-root.pem');
    writeFileSync(rootFile, root);
    const via = ['--resolve', `${u.host}:${tlsPort}:127.0.0.1`, '--cacert', rootFile];
    const h1 = await curl([...via, '--http1.1', `https://${u.host}:${tlsPort}/`]);
    const h2 = await curl([...via, '--http2', `https://${u.host}:${tlsPort}/`]);
    t.same([h1.status, h1.version, h2.status, h2.version], [200, '1.1', 200, '2'], 'curl verifies the chain, h1 and h2');
    const plain = await http(httpPort, { host: u.host, path: '/p' });
    t.same([plain.status, plain.headers.location], [301, `https://${u.host}:${tlsPort}/p`], 'http:// redirects');
    const rows = (await admin(b.adminPort, 'GET', '/api/certificates')).json.certificates as Array<{ domains: string[]; source: string }>;
    t.ok(rows.some((r) => r.source === 'resolver:le' && r.domains.includes(u.host)), '/api/certificates lists it');
  });
}
