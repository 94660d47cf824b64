// The page's state, kept up to date from the event stream (hello, upstream, deploy, stats) and a few GETs. One
// mutable object; every change bumps a version and re-renders the page once per animation frame at most.
import { useEffect, useState } from './vendor/preact-htm.js';
import { api, seg } from './api.js';

/** how many events the events page keeps */
export const MAX_EVENTS = 200;
/** stats events the rates are worked out over (baton sends one a second): about 5 s */
const RATE_WINDOW = 6;
/** finished deploys seen live that stay on the deploys page above the history */
const RECENT_DEPLOYS = 5;
const ENDED = new Set(['succeeded', 'failed', 'rolled_back', 'paused']);

export const ended = (state) => ENDED.has(state);

function fresh() {
  return {
    authed: false,
    authError: null,
    conn: { state: 'idle', error: null, retryAt: null },
    services: [],
    servicesError: null,
    /** per service: { rps, ratio5xx, p50, p99 }; per upstream id: { rps } */
    serviceRates: {},
    upstreamRates: {},
    statsSeen: false,
    /** deploys seen on the stream (or running when the page opened), by id, newest last */
    live: new Map(),
    history: null,
    historyError: null,
    /** GET /api/deploys/{id} of the history rows opened, by id: a record, 'loading', or an Error */
    details: {},
    certificates: null,
    certificatesError: null,
    events: [],
    notices: [],
    confirm: null,
  };
}

export const state = fresh();
const listeners = new Set();
/** the last RATE_WINDOW stats events, oldest first, and the upstream ids of the last one */
const statsWindow = [];
let lastIds = '';
let queued = false;

/** Mutates the state with `fn` and schedules one re-render. */
export function update(fn) {
  if (fn) fn(state);
  if (queued) return;
  queued = true;
  requestAnimationFrame(() => {
    queued = false;
    for (const l of listeners) l();
  });
}

/** The state, re-rendering the calling component on every change. */
export function useStore() {
  const [, setVersion] = useState(0);
  useEffect(() => {
    const l = () => setVersion((v) => v + 1);
    listeners.add(l);
    return () => listeners.delete(l);
  }, []);
  return state;
}

/** Forgets everything the token showed (on sign-out or a refused token). */
export function reset(authError = null) {
  const notices = state.notices;
  Object.assign(state, fresh(), { authError, notices: authError ? [] : notices });
  statsWindow.length = 0;
  lastIds = '';
  update();
}

let noticeSeq = 0;

/** A message at the top of the page ('ok' or 'error'), gone after a while. */
export function notify(kind, text) {
  const id = ++noticeSeq;
  update((s) => s.notices.push({ id, kind, text }));
  setTimeout(() => dismiss(id), kind === 'error' ? 15_000 : 6_000);
}

export function dismiss(id) {
  update((s) => (s.notices = s.notices.filter((n) => n.id !== id)));
}

// --- services ---------------------------------------------------------------------------------------------------

let refreshTimer = null;

export async function loadServices() {
  try {
    const body = await api('api/services');
    update((s) => {
      s.services = body?.services ?? [];
      s.servicesError = null;
    });
  } catch (err) {
    if (err.status !== 401) update((s) => (s.servicesError = err.message));
    throw err;
  }
}

/** Upstreams came or went (a deploy, a provider change): fetch the list again, at most once a second. */
function refreshServicesSoon() {
  if (refreshTimer !== null) return;
  refreshTimer = setTimeout(() => {
    refreshTimer = null;
    loadServices().catch(() => {});
  }, 1000);
}

function findUpstream(id) {
  for (const svc of state.services) {
    for (const u of svc.upstreams ?? []) if (u && u.id === id) return u;
  }
  return null;
}

function onStats(ev) {
  statsWindow.push(ev);
  if (statsWindow.length > RATE_WINDOW) statsWindow.shift();
  const first = statsWindow[0];
  const dt = (ev.at - first.at) / 1000;
  const serviceRates = {};
  for (const [name, s] of Object.entries(ev.services ?? {})) {
    const before = first.services?.[name];
    const rates = { rps: null, ratio5xx: null, p50: s.p50 ?? null, p99: s.p99 ?? null };
    if (before && dt > 0) {
      const requests = (s.requests ?? 0) - (before.requests ?? 0);
      rates.rps = Math.max(0, requests) / dt;
      const errors = (s.responses?.[5] ?? 0) - (before.responses?.[5] ?? 0);
      rates.ratio5xx = requests > 0 ? errors / requests : null;
    }
    serviceRates[name] = rates;
  }
  const upstreamRates = {};
  let unknown = false;
  for (const [id, u] of Object.entries(ev.upstreams ?? {})) {
    const before = first.upstreams?.[id];
    upstreamRates[id] = { rps: before && dt > 0 ? Math.max(0, u.requests - before.requests) / dt : null };
    const known = findUpstream(id);
    if (known === null) unknown = true;
    else Object.assign(known, { state: u.state, inflight: u.inflight, requests: u.requests, failures: u.failures });
  }
  // upstreams came or went since the last tick, and the list does not have them yet: fetch it again
  const ids = Object.keys(ev.upstreams ?? {})
    .sort()
    .join('\n');
  const listed = state.services.reduce((n, svc) => n + (svc.upstreams ?? []).length, 0);
  if (ids !== lastIds && (unknown || listed !== Object.keys(ev.upstreams ?? {}).length)) refreshServicesSoon();
  lastIds = ids;
  update((s) => {
    s.serviceRates = serviceRates;
    s.upstreamRates = upstreamRates;
    s.statsSeen = true;
  });
}

function onUpstream(ev) {
  const u = findUpstream(ev.id);
  const to = ev.to ?? ev.state;
  if (u === null) refreshServicesSoon();
  else if (to) u.state = to;
  update();
}

// --- deploys ----------------------------------------------------------------------------------------------------

export async function loadHistory() {
  try {
    const body = await api('api/deploys?limit=50');
    const deploys = body?.deploys ?? [];
    update((s) => {
      s.history = deploys;
      s.historyError = null;
    });
    // a deploy already running when the page opened: follow it from its record
    for (const d of deploys) if (!ended(d.state) && !state.live.has(d.id)) track(d);
  } catch (err) {
    update((s) => (s.historyError = err));
  }
}

/** Starts following a deploy: its full record (steps so far, image) once, then the stream's events. */
function track(d) {
  const rec = { live: null, traffic: null, image: null, ...d, steps: [] };
  state.live.set(d.id, rec);
  while (state.live.size > RECENT_DEPLOYS) {
    const oldest = [...state.live.values()].find((r) => ended(r.state));
    if (oldest === undefined) break;
    state.live.delete(oldest.id);
  }
  api(`api/deploys/${seg(d.id)}`)
    .then((full) => {
      update(() => {
        mergeSteps(rec, full.steps ?? []);
        rec.image = full.image ?? rec.image;
        if (rec.live === null && !ended(rec.state)) rec.live = full.live ?? null;
      });
    })
    .catch(() => {});
  return rec;
}

function mergeSteps(rec, steps) {
  for (const step of steps) if (!rec.steps.some((s) => s.n === step.n)) rec.steps.push(step);
  rec.steps.sort((a, b) => a.n - b.n);
}

let historyTimer = null;

function onDeploy(ev) {
  if (!ev || typeof ev.id !== 'string') return;
  const seen = state.live.get(ev.id);
  const before = seen?.state;
  const rec = seen ?? track(ev);
  const { state: st, kind, service, error, live, traffic, createdAt, finishedAt } = ev;
  Object.assign(rec, { state: st, kind, service, error, live: live ?? null, traffic: traffic ?? rec.traffic });
  if (createdAt) rec.createdAt = createdAt;
  if (finishedAt !== undefined) rec.finishedAt = finishedAt;
  if (ev.step) mergeSteps(rec, [ev.step]);
  if (seen === undefined || (ended(st) && !ended(before))) {
    // a new or finished deploy shows in the history: fetch it again (coalesced)
    clearTimeout(historyTimer);
    historyTimer = setTimeout(() => loadHistory(), 100);
  }
  update();
}

export async function loadDetails(id) {
  update((s) => (s.details[id] = 'loading'));
  try {
    const rec = await api(`api/deploys/${seg(id)}`);
    update((s) => (s.details[id] = rec));
  } catch (err) {
    update((s) => (s.details[id] = err));
  }
}

// --- certificates -----------------------------------------------------------------------------------------------

export async function loadCertificates() {
  try {
    const body = await api('api/certificates');
    update((s) => {
      s.certificates = body?.certificates ?? [];
      s.certificatesError = null;
    });
  } catch (err) {
    update((s) => (s.certificatesError = err.message));
  }
}

// --- the stream -------------------------------------------------------------------------------------------------

/** One event off /api/events. */
export function onEvent(type, data) {
  if (type === 'stats') return onStats(data);
  if (type === 'hello') {
    statsWindow.length = 0;
    lastIds = '';
    update((s) => (s.services = data?.services ?? s.services));
  } else if (type === 'upstream') onUpstream(data);
  else if (type === 'deploy') {
    onDeploy(data);
    // a deploy's live progress (no step) comes several times a second: the list keeps steps and states
    if (!data?.step && data?.live) return;
  }
  update((s) => {
    s.events.unshift({ type, at: Date.now(), data });
    if (s.events.length > MAX_EVENTS) s.events.length = MAX_EVENTS;
  });
}
