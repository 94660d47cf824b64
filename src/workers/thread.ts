// A worker thread serving traffic (`workers: n`). It builds its own traffic plane — entrypoints, TLS, middleware
// instances, undici pools — over a follower registry that replays the control plane's messages in order: the
// providers' snapshots, upstream states (health checks run in the control plane only), drains, enables, holds.
// Its requests in flight are counted in shared memory, so the control plane's drains wait for this thread too.
import { parentPort, workerData } from 'node:worker_threads';
import type { Logger } from 'pino';
import { EventBus } from '../events.ts';
import { createAccessLog, createLogger, type OwnedAccessLog } from '../log.ts';
import { middlewareTypes } from '../middleware/setup.ts';
import { ChallengeBoard } from '../tls/acme-challenges.ts';
import { CertificateStore } from '../tls/store.ts';
import type { LoadedConfig } from '../config/load.ts';
import { applyStaged, stage, type PlaneParts } from '../reload.ts';
import { registryFor, terminatorFor, TrafficPlane } from '../traffic.ts';
import type { Registry } from '../upstream/registry.ts';
import { TallyBoard } from '../upstream/tally.ts';
import { errorInfo, type FromWorker, type ToWorker, type WorkerInit } from './protocol.ts';
import { MappedTallies } from './tallies.ts';

const port = parentPort!;
const init = workerData as WorkerInit;
const send = (m: FromWorker) => port.postMessage(m);

interface Plane {
  config: LoadedConfig;
  parts: PlaneParts;
  registry: Registry;
  traffic: TrafficPlane;
  tallies: MappedTallies;
  certificates: CertificateStore;
  challenges: ChallengeBoard;
  log: Logger;
  access: OwnedAccessLog | null;
  close(): void;
}

async function build(): Promise<Plane> {
  const { config } = init;
  const owned = createLogger(config.log.level, undefined, true); // stdout shared with the other threads
  const log = owned.log.child({ worker: init.writer });
  // its own access log (its own file descriptor, with log.accessLogFile): whole lines, appended
  const access = createAccessLog(config.log, owned.lines, log, init.writer);
  const close = () => {
    access?.close();
    owned.close();
  };
  // a thread that fails (and is replaced) closes its file too; close() may run twice, once by the 'close' message
  process.once('exit', close);
  const factories = await middlewareTypes(config);
  const board = new TallyBoard({ writers: init.buffers.writers, writer: init.writer, buffers: init.buffers });
  const tallies = new MappedTallies(board, (slot) => send({ type: 'released', slot }));
  const registry = registryFor(config, {
    factories,
    log,
    events: new EventBus(),
    tallies,
    follower: { eject: (id, failures) => send({ type: 'eject', id, failures }) },
  });
  const certificates = CertificateStore.load({ tls: config.tls, log: log.child({ component: 'tls' }) });
  // the ACME client runs in the control plane; its certificates and challenges are replayed here
  const challenges = new ChallengeBoard();
  const resolvers = Object.values(config.certificatesResolvers);
  const traffic = new TrafficPlane({
    config,
    registry,
    terminator: terminatorFor(config, registry, certificates, resolvers.length > 0 ? challenges : null),
    httpChallengesFor: (name) => (resolvers.some((r) => r.acme.httpChallenge?.entryPoint === name) ? challenges : null),
    log,
    accessLog: access?.access ?? null,
  });
  const parts = { factories, certificates, traffic, setLevel: owned.setLevel };
  return { config, parts, registry, traffic, tallies, certificates, challenges, log, access, close };
}

async function handle(plane: Plane, m: ToWorker): Promise<void> {
  const { registry } = plane;
  switch (m.type) {
    case 'snapshot':
      plane.tallies.setSlots(m.slots);
      return registry.setSnapshot(m.provider, m.snapshot);
    case 'state':
      return registry.applyState(m.id, m.state, m.held);
    case 'drain':
      return void registry.drain(m.id, m.timeoutMs);
    case 'enable':
      return void registry.enable(m.id, { skipGate: m.skipGate });
    case 'hold':
      return registry.hold(m.containerId);
    case 'release':
      return registry.release(m.containerIds);
    case 'mode':
      return registry.modes.set(m.service, m.state);
    case 'split': {
      const s = registry.services.get(m.service);
      if (s !== undefined) s.split = m.split;
      return;
    }
    case 'listen': {
      const opts = { reusePort: true, addresses: m.addresses ?? undefined, fds: m.fds ?? undefined };
      const addresses = await plane.traffic.listen(opts);
      return send({ type: 'listening', addresses, fds: plane.traffic.fds() });
    }
    case 'stats':
      return send({ type: 'stats', ask: m.ask, stats: plane.traffic.stats() });
    case 'reload-certificates':
      return void plane.certificates.reload();
    case 'config':
      applyStaged(plane.parts, await stage(plane.config, m.config, plane.log));
      plane.config = m.config;
      return;
    case 'reopen-logs':
      return plane.access?.reopen();
    case 'certificate':
      if (m.change.kind === 'put') {
        const { id, source, certPem, keyPem } = m.change;
        return plane.certificates.put(id, source, certPem, keyPem);
      }
      return void plane.certificates.remove(m.change.id);
    case 'challenge':
      return plane.challenges.replay(m.change);
    case 'close':
      await plane.traffic.close(m.timeoutMs, m.lingerMs);
      await registry.close();
      plane.certificates.close();
      plane.close();
      send({ type: 'closed' });
      port.close();
  }
}

try {
  const plane = await build();
  // one message at a time, in order: a snapshot is applied before the states that follow it
  let chain: Promise<void> = Promise.resolve();
  port.on('message', (m: ToWorker) => {
    chain = chain.then(() =>
      handle(plane, m).catch((err) => {
        if (m.type === 'listen') return send({ type: 'failed', error: errorInfo(err) });
        // the control plane accepted it: this thread can no longer follow, and is replaced by a fresh one
        plane.log.fatal({ err, message: m.type }, 'Worker cannot apply the control plane message');
        setImmediate(() => {
          throw err;
        });
      }),
    );
  });
  send({ type: 'ready' });
} catch (err) {
  send({ type: 'failed', error: errorInfo(err) });
  port.close();
}
