// The per-upstream counters shared by the threads serving traffic (src/upstream/tally.ts) and who may reuse a slot
// (src/workers/tallies.ts): growth past the first buffers, sums over writers, a dead writer forgotten, drains that
// wait for zero across threads, and a slot reused only once nobody writes to it any more.
import { Worker } from 'node:worker_threads';
import t from 'tap';
import { LocalTallies, TallyBoard } from '../src/upstream/tally.ts';
import { MappedTallies, SharedTallies } from '../src/workers/tallies.ts';

// a drain's timers are unref'd (a server keeps the process alive); here nothing else would
const alive = setInterval(() => {}, 1000);
t.teardown(() => clearInterval(alive));

for (const shared of [false, true]) {
  t.test(`${shared ? 'shared' : 'one thread'}: slots grow past the first buffers and start at zero`, async (t) => {
    const board = new TallyBoard({ writers: shared ? 3 : 1 });
    t.equal(board.shared, shared);
    const tallies = Array.from({ length: 1000 }, () => board.tally(board.allocate()));
    t.same(
      tallies.slice(0, 3).map((x) => x.slot),
      [0, 1, 2],
    );
    for (const x of tallies) x.acquire();
    tallies[999].acquire();
    tallies[999].countFailure();
    t.equal(tallies[999].inflight, 2);
    t.equal(tallies[999].requests, 2);
    t.equal(tallies[999].failures, 1);
    t.equal(tallies[500].inflight, 1, 'slots do not overlap');
    tallies[999].release();
    tallies[999].retire();
    board.free(999);
    const again = board.tally(board.allocate());
    t.equal(again.slot, 999, 'a freed slot is reused');
    t.same([again.inflight, again.requests, again.failures], [0, 0, 0], 'and starts from zero');
    again.acquire();
    tallies[999].release(); // a late release of the upstream that had the slot (aborted at its drain timeout)
    tallies[999].countFailure();
    t.same([again.inflight, again.failures], [1, 0], 'lands nowhere: the new upstream counts are its own');
  });

  t.test(`${shared ? 'shared' : 'one thread'}: whenIdle resolves idle, at the timeout, or when cancelled`, async (t) => {
    const board = new TallyBoard({ writers: shared ? 2 : 1 });
    const x = board.tally(board.allocate());
    t.equal(await x.whenIdle(1000, new AbortController().signal), 'idle', 'nothing in flight: at once');
    x.acquire();
    t.equal(await x.whenIdle(50, new AbortController().signal), 'timeout');
    const ac = new AbortController();
    const cancelled = x.whenIdle(10_000, ac.signal);
    setTimeout(() => ac.abort(), 20);
    t.equal(await cancelled, 'cancelled');
    const idle = x.whenIdle(10_000, new AbortController().signal);
    setTimeout(() => x.release(), 20);
    t.equal(await idle, 'idle', 'the release that reaches zero wakes it');
  });
}

t.test('requests and in-flight counts are summed over writers; a dead writer is forgotten', async (t) => {
  const main = new TallyBoard({ writers: 3 });
  const slot = main.allocate();
  const w1 = new TallyBoard({ writers: 3, writer: 1, buffers: main.buffers() }).tally(slot);
  const w2 = new TallyBoard({ writers: 3, writer: 2, buffers: main.buffers() }).tally(slot);
  w1.acquire();
  w2.acquire();
  w2.acquire();
  const seen = main.tally(slot);
  t.same([seen.inflight, seen.requests], [3, 3]);
  const waiting = seen.whenIdle(5000, new AbortController().signal);
  w1.release();
  main.forgetWriter(2, [slot]);
  t.equal(await waiting, 'idle', 'worker 2 gone: its two requests no longer hold the drain');
  t.equal(seen.requests, 3, 'what it served still counts');
});

t.test('a drain in the main thread waits for a request in flight in a worker thread', async (t) => {
  const board = new TallyBoard({ writers: 2 });
  const slot = board.allocate();
  const src = `
    const { workerData, parentPort } = require('node:worker_threads');
    const cells = new Int32Array(workerData.cells);
    const i = workerData.slot * (workerData.writers + 1) + 1;
    Atomics.add(cells, i, 1);
    parentPort.postMessage('acquired');
    setTimeout(() => {
      Atomics.sub(cells, i, 1);
      if (Atomics.load(cells, workerData.slot * (workerData.writers + 1) + workerData.writers) !== 0) Atomics.notify(cells, i);
    }, 300);`;
  const worker = new Worker(src, { eval: true, workerData: { ...board.buffers(), slot } });
  t.teardown(() => worker.terminate());
  await new Promise((r) => worker.once('message', r));
  const x = board.tally(slot);
  t.equal(x.inflight, 1, 'the worker thread holds one');
  const started = Date.now();
  t.equal(await x.whenIdle(5000, new AbortController().signal), 'idle');
  t.ok(Date.now() - started >= 250, `woken by the worker's release (${Date.now() - started} ms)`);
});

t.test('SharedTallies: a slot is reused only once the control plane and every holder let go', async (t) => {
  const board = new TallyBoard({ writers: 3 });
  let live = [1, 2];
  const source = new SharedTallies(board, () => live);
  const a = source.tallyFor();
  source.released(a);
  t.not(board.tally(board.allocate()).slot, a.slot, 'workers 1 and 2 still hold it');
  source.workerReleased(1, a.slot);
  source.workerGone(2);
  const b = source.tallyFor();
  t.equal(b.slot, a.slot, 'reused once worker 1 released it and worker 2 died');
  // a worker that synced while the slot was current holds it too
  live = [];
  const c = source.tallyFor();
  source.holding(3, [c.slot]);
  source.released(c);
  t.not(source.tallyFor().slot, c.slot, 'worker 3 still holds it');
});

t.test('MappedTallies: a worker opens the control plane slot of each upstream and reports closing it', async (t) => {
  const board = new TallyBoard({ writers: 2 });
  const s = board.allocate();
  const released: number[] = [];
  const mapped = new MappedTallies(new TallyBoard({ writers: 2, writer: 1, buffers: board.buffers() }), (x) =>
    released.push(x),
  );
  mapped.setSlots([['app@a', s]]);
  const x = mapped.tallyFor('app@a');
  t.equal(x.slot, s);
  t.ok(mapped.matches({ id: 'app@a', tally: x }));
  mapped.setSlots([['app@a', s + 1]]);
  t.notOk(mapped.matches({ id: 'app@a', tally: x }), 'recreated by the control plane: a new slot');
  t.throws(() => mapped.tallyFor('app@b'), { code: 'BATON_TALLY' });
  mapped.released(x);
  t.same(released, [s]);
  t.throws(() => new LocalTallies().board.buffers(), { code: 'BATON_TALLY' }, 'a one-thread board shares nothing');
});
