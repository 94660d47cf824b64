// The certificates page: every certificate baton serves (files, ACME, the self-signed default) with its domains,
// expiry and the last renewal error, from GET /api/certificates.
import { html } from './vendor/preact-htm.js';
import { count, dateTime, DASH } from './format.js';
import { loadCertificates } from './store.js';
import { Empty, ErrorBox } from './ui.js';

function Row({ c }) {
  const days = c.expiresInDays;
  const expiry = days < 0 ? 'expired' : c.expiringSoon ? 'soon' : 'ok';
  return html`<tr data-certificate=${c.id}>
    <td>
      ${
        (c.domains ?? []).length === 0
          ? html`<span class="muted">(no domains)</span>`
          : c.domains.map((d) => html`<div class="mono">${d}</div>`)
      }
      ${c.certFile && html`<div class="muted mono small">${c.certFile}</div>`}
    </td>
    <td>${c.source}</td>
    <td>${dateTime(c.notBefore)}</td>
    <td>${dateTime(c.notAfter)}</td>
    <td class="num"><span class=${`badge expiry-${expiry}`}>${days < 0 ? 'expired' : `${count(days)} d`}</span></td>
    <td>
      ${
        c.lastError
          ? html`<div class="error-text">${c.lastError}</div>
              <div class="muted small">${dateTime(c.lastErrorAt)}</div>`
          : html`<span class="muted">none</span>`
      }
    </td>
    <td>${c.lastRenewalAttempt ? dateTime(c.lastRenewalAttempt) : DASH}</td>
  </tr>`;
}

export function CertificatesPage({ s }) {
  const list = s.certificates;
  return html`<div class="page certificates-page">
    <div class="section-head">
      <h2 class="section">Certificates</h2>
      <button type="button" class="refresh" onClick=${() => loadCertificates()}>Refresh</button>
    </div>
    <${ErrorBox} error=${s.certificatesError} />
    ${list === null && !s.certificatesError && html`<p class="muted">Loading…</p>`}
    ${list !== null && list.length === 0 && html`<${Empty} text="No certificates: no entrypoint serves HTTPS." />`}
    ${
      list !== null &&
      list.length > 0 &&
      html`<table class="certificates">
        <thead>
          <tr>
            <th>Domains</th>
            <th>Source</th>
            <th>Valid from</th>
            <th>Expires</th>
            <th class="num">Left</th>
            <th>Last error</th>
            <th>Last renewal</th>
          </tr>
        </thead>
        <tbody>
          ${list.map((c) => html`<${Row} key=${c.id} c=${c} />`)}
        </tbody>
      </table>`
    }
  </div>`;
}
