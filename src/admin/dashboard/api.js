// The admin API as the page calls it: the token (kept in sessionStorage, sent as `Authorization: Bearer` on every
// call, never in a URL), JSON requests, and the live event stream read from a fetch body (EventSource cannot send
// headers). Every URL is relative to the page, so the dashboard works on loopback, behind an SSH tunnel or under a
// path prefix alike.

const KEY = 'baton.admin.token';

export const token = {
  get: () => sessionStorage.getItem(KEY),
  set: (value) => sessionStorage.setItem(KEY, value),
  clear: () => sessionStorage.removeItem(KEY),
};

/** An answer other than 2xx (or none): the API's `code` and message, and the HTTP status (0: no answer). */
function apiError(status, code, message) {
  const err = new Error(message);
  err.status = status;
  err.code = code;
  return err;
}

let unauthorized = () => {};

/** What to do when the API refuses the token (401): forget it and ask again. */
export function onUnauthorized(fn) {
  unauthorized = fn;
}

function headers(extra = {}) {
  const t = token.get();
  return { ...extra, ...(t ? { authorization: `Bearer ${t}` } : {}) };
}

/** One JSON call; resolves to the answer's body, or throws an error with the API's code and message. */
export async function api(path, { method = 'GET', body } = {}) {
  let res;
  try {
    res = await fetch(path, {
      method,
      headers: headers(body === undefined ? {} : { 'content-type': 'application/json' }),
      body: body === undefined ? undefined : JSON.stringify(body),
      cache: 'no-store',
      credentials: 'omit',
    });
  } catch (err) {
    throw apiError(0, 'NETWORK', `baton did not answer (${err.message})`);
  }
  const text = await res.text();
  let json = null;
  try {
    json = text === '' ? null : JSON.parse(text);
  } catch {
    json = null;
  }
  if (res.status === 401) {
    unauthorized();
    throw apiError(401, 'BATON_UNAUTHORIZED', 'wrong token');
  }
  if (!res.ok) {
    const e = json?.error;
    throw apiError(res.status, e?.code ?? `HTTP_${res.status}`, e?.message ?? `HTTP ${res.status}`);
  }
  return json;
}

/** A path segment (upstream ids hold `@` and `:`). */
export const seg = (s) => encodeURIComponent(s);

/** The SSE wire format, fed text chunks split anywhere; returns the completed events. */
export function sseParser() {
  let partial = '';
  let type = '';
  let data = [];
  return (chunk) => {
    const out = [];
    const lines = (partial + chunk).split(/\r\n|\r|\n/);
    partial = lines.pop();
    for (const line of lines) {
      if (line === '') {
        if (data.length > 0) out.push({ type: type || 'message', data: data.join('\n') });
        type = '';
        data = [];
        continue;
      }
      if (line.startsWith(':')) continue;
      const colon = line.indexOf(':');
      const field = colon === -1 ? line : line.slice(0, colon);
      let value = colon === -1 ? '' : line.slice(colon + 1);
      if (value.startsWith(' ')) value = value.slice(1);
      if (field === 'event') type = value;
      else if (field === 'data') data.push(value);
    }
    return out;
  };
}

const FIRST_RETRY_MS = 500;
const MAX_RETRY_MS = 15_000;
/** baton sends `stats` every second while someone listens: this long without a byte means a dead stream */
const SILENCE_MS = 15_000;

/**
 * Follows GET /api/events: `onEvent(type, data)` for each event, `onStatus({ state, error, retryAt })` as the
 * stream opens ('live'), drops ('down', retried with backoff) or is refused (401: no retry). Returns a stop function.
 */
export function follow({ onEvent, onStatus }) {
  let stopped = false;
  let ctrl = null;
  let timer = null;
  let delay = FIRST_RETRY_MS;

  async function run() {
    ctrl = new AbortController();
    let watchdog = null;
    const alive = () => {
      clearTimeout(watchdog);
      watchdog = setTimeout(() => ctrl.abort(new Error('no data for 15 s')), SILENCE_MS);
    };
    onStatus({ state: 'connecting', error: null, retryAt: null });
    try {
      alive();
      const res = await fetch('api/events', {
        headers: headers({ accept: 'text/event-stream' }),
        signal: ctrl.signal,
        cache: 'no-store',
        credentials: 'omit',
      });
      if (res.status === 401) {
        clearTimeout(watchdog);
        unauthorized();
        return;
      }
      if (!res.ok || res.body === null) throw new Error(`HTTP ${res.status}`);
      onStatus({ state: 'live', error: null, retryAt: null });
      const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
      const parse = sseParser();
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        alive();
        for (const ev of parse(value)) {
          delay = FIRST_RETRY_MS;
          let data = null;
          try {
            data = JSON.parse(ev.data);
          } catch {
            continue;
          }
          onEvent(ev.type, data);
        }
      }
      throw new Error('the stream ended');
    } catch (err) {
      clearTimeout(watchdog);
      if (stopped) return;
      const wait = delay;
      delay = Math.min(delay * 2, MAX_RETRY_MS);
      const why = ctrl.signal.aborted ? String(ctrl.signal.reason?.message ?? 'aborted') : err.message;
      onStatus({ state: 'down', error: why, retryAt: Date.now() + wait });
      timer = setTimeout(run, wait);
    }
  }

  run();
  return () => {
    stopped = true;
    clearTimeout(timer);
    ctrl?.abort(new Error('stopped'));
  };
}
