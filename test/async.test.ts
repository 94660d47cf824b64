// The shared async helpers (src/async.ts).
import { getEventListeners } from 'node:events';
import t from 'tap';
import { Notifier, mapLimit, sleep } from '../src/async.ts';

t.test('many sleeps on one long-lived signal leave its listener count unchanged', async (t) => {
  const ac = new AbortController();
  const before = getEventListeners(ac.signal, 'abort').length;
  for (let i = 0; i < 200; i++) await sleep(1, ac.signal);
  await Promise.all(Array.from({ length: 500 }, () => sleep(2, ac.signal)));
  t.equal(getEventListeners(ac.signal, 'abort').length, before, 'every listener removed when its timer fired');
});

t.test('sleep resolves at once when the signal aborts (or was aborted), and removes its listener', async (t) => {
  const ac = new AbortController();
  const started = Date.now();
  const pending = sleep(60_000, ac.signal);
  t.equal(getEventListeners(ac.signal, 'abort').length, 1, 'one listener while waiting');
  ac.abort();
  await pending;
  t.ok(Date.now() - started < 1_000, 'did not wait for the timer');
  t.equal(getEventListeners(ac.signal, 'abort').length, 0);
  await sleep(60_000, ac.signal);
  t.pass('an aborted signal resolves at once');
  await sleep(0);
  await sleep(-5);
  t.pass('zero and negative durations resolve at once');
});

t.test('Notifier: notify wakes every waiter; a timeout or an abort ends a wait; nothing is left behind', async (t) => {
  const n = new Notifier();
  const ac = new AbortController();
  const woken: number[] = [];
  const waits = [1, 2, 3].map((i) => n.wait(60_000, ac.signal).then(() => woken.push(i)));
  t.equal(n.waiting, 3);
  n.notify();
  await Promise.all(waits);
  t.same(woken.sort(), [1, 2, 3]);
  t.equal(n.waiting, 0);
  const started = Date.now();
  await n.wait(20, ac.signal);
  t.ok(Date.now() - started >= 15, 'a wait ends at its timeout');
  const aborted = n.wait(60_000, ac.signal);
  ac.abort();
  await aborted;
  t.equal(n.waiting, 0, 'aborted waits are removed');
  t.equal(getEventListeners(ac.signal, 'abort').length, 0);
  n.notify();
  t.pass('notify with no waiter is a no-op');
});

t.test('mapLimit keeps order, bounds concurrency and rejects with the first error', async (t) => {
  let active = 0;
  let peak = 0;
  const out = await mapLimit([5, 1, 4, 2, 3, 0], 2, async (ms) => {
    active++;
    peak = Math.max(peak, active);
    await sleep(ms * 3);
    active--;
    return ms * 10;
  });
  t.same(out, [50, 10, 40, 20, 30, 0]);
  t.equal(peak, 2);
  t.same(await mapLimit([], 4, async (x) => x), []);
  await t.rejects(mapLimit([1, 2, 3], 2, async (x) => {
    if (x === 2) throw new Error('boom');
    return x;
  }), /boom/);
});
