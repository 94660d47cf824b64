// baton's dashboard: asks for the admin token once (kept in sessionStorage for this tab), then shows the services,
// deploys, certificates and events pages (hash routes), live over GET /api/events. No build step: ES modules and
// htm's bundled Preact, all served by the admin listener itself.
import { html, render, useEffect, useState } from './vendor/preact-htm.js';
import { api, follow, onUnauthorized, token } from './api.js';
import { CertificatesPage } from './certificates.js';
import { DeploysPage } from './deploys.js';
import { EventsPage } from './events.js';
import { ServicesPage } from './services.js';
import { loadCertificates, loadHistory, loadServices, onEvent, reset, update, useStore } from './store.js';
import { ConfirmDialog, Notices, useNow } from './ui.js';

const PAGES = [
  { id: 'services', title: 'Services', component: ServicesPage },
  { id: 'deploys', title: 'Deploys', component: DeploysPage, load: loadHistory },
  { id: 'certificates', title: 'Certificates', component: CertificatesPage, load: loadCertificates },
  { id: 'events', title: 'Events', component: EventsPage },
];

function route() {
  const id = location.hash.replace(/^#\/?/, '');
  return PAGES.find((p) => p.id === id) ?? PAGES[0];
}

let stop = null;

/** Signed in: the services (which also proves the token), then the stream. */
async function start() {
  try {
    await loadServices();
  } catch (err) {
    if (err.status !== 401) update((s) => (s.authError = `baton did not answer: ${err.message}`));
    return;
  }
  update((s) => {
    s.authed = true;
    s.authError = null;
  });
  stop?.();
  stop = follow({ onEvent, onStatus: (conn) => update((s) => (s.conn = conn)) });
  route().load?.();
}

function signOut(message = null) {
  stop?.();
  stop = null;
  token.clear();
  reset(message);
}

onUnauthorized(() => signOut('wrong token'));

function Login({ error }) {
  const [value, setValue] = useState('');
  const submit = (e) => {
    e.preventDefault();
    const t = value.trim();
    if (t === '') return;
    token.set(t);
    update((s) => (s.authError = null));
    start();
  };
  return html`<main class="login">
    <form class="card" onSubmit=${submit} autocomplete="off">
      <h1><img src="dashboard/icon.svg" alt="" width="28" height="28" /> baton</h1>
      <p>
        Paste the admin token: <code>admin.token</code> in the config, <code>BATON_ADMIN_TOKEN</code>, or the token file
        in the state directory (<code>.baton/admin-token</code>).
      </p>
      <label for="token">Admin token</label>
      <input
        id="token"
        name="token"
        type="password"
        autocomplete="off"
        spellcheck="false"
        value=${value}
        onInput=${(e) => setValue(e.currentTarget.value)}
        autofocus
      />
      ${error && html`<p class="error-box login-error" role="alert">${error}</p>`}
      <button type="submit" class="ok">Sign in</button>
      <p class="muted small">Kept in this tab only (sessionStorage), sent as a bearer header.</p>
    </form>
  </main>`;
}

function Connection({ conn }) {
  const now = useNow(500);
  if (conn.state === 'live') return html`<span class="conn live" title="receiving events">● live</span>`;
  if (conn.state === 'down') {
    const secs = Math.max(0, Math.ceil((conn.retryAt - now) / 1000));
    return html`<span class="conn down" title=${conn.error ?? ''}>● reconnecting in ${secs} s</span>`;
  }
  return html`<span class="conn connecting">● connecting</span>`;
}

function App() {
  const s = useStore();
  const [page, setPage] = useState(route());
  useEffect(() => {
    const onHash = () => {
      const next = route();
      setPage(next);
      if (s.authed) next.load?.();
    };
    addEventListener('hashchange', onHash);
    return () => removeEventListener('hashchange', onHash);
  }, []);
  useEffect(() => {
    document.title = s.authed ? `${page.title} · baton` : 'baton';
  }, [page, s.authed]);
  if (!s.authed) return html`<${Login} error=${s.authError} /><${Notices} notices=${s.notices} />`;
  const Page = page.component;
  return html`<header class="top">
      <a class="brand" href="#/services"><img src="dashboard/icon.svg" alt="" width="22" height="22" /> baton</a>
      <nav>
        ${PAGES.map(
          (p) =>
            html`<a href=${`#/${p.id}`} class=${p.id === page.id ? 'active' : ''} data-page=${p.id}>${p.title}</a>`,
        )}
      </nav>
      <span class="spacer"></span>
      <${Connection} conn=${s.conn} />
      <button type="button" class="signout" onClick=${() => signOut()}>Sign out</button>
    </header>
    <${Notices} notices=${s.notices} />
    <main><${Page} s=${s} /></main>
    <${ConfirmDialog} confirm=${s.confirm} />`;
}

render(html`<${App} />`, document.getElementById('app'));
if (token.get()) start();
