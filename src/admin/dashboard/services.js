// The services page: each service's route (rule, entrypoints, TLS, middlewares) and its upstreams with their
// state, in-flight requests and traffic, live from the event stream; drain, enable and roll back from here.
import { html } from './vendor/preact-htm.js';
import { api, seg } from './api.js';
import { count, latency, percent, rate } from './format.js';
import { ask, Badge, Empty, ErrorBox } from './ui.js';

function drain(u) {
  ask({
    title: 'Drain upstream',
    text: `Take ${u.id} (${u.url}) out of rotation? Requests in flight finish; no new ones are sent to it.`,
    confirmLabel: 'Drain',
    danger: true,
    run: async () => {
      const r = await api(`api/upstreams/${seg(u.id)}/drain?wait=false`, { method: 'POST', body: {} });
      return `${u.id}: ${r?.state ?? 'draining'}, ${r?.inflight ?? 0} in flight`;
    },
  });
}

function enable(u) {
  ask({
    title: 'Enable upstream',
    text: `Put ${u.id} (${u.url}) back into rotation once its health checks pass?`,
    confirmLabel: 'Enable',
    run: async () => {
      const r = await api(`api/upstreams/${seg(u.id)}/enable`, { method: 'POST', body: {} });
      return `${u.id}: ${r?.state ?? 'enabled'}`;
    },
  });
}

function rollback(svc) {
  ask({
    title: 'Roll back service',
    text: `Roll ${svc.name} back to the containers of its previous deploy?`,
    confirmLabel: 'Roll back',
    danger: true,
    run: async () => {
      const r = await api(`api/services/${seg(svc.name)}/rollback`, { method: 'POST', body: {} });
      location.hash = '#/deploys';
      return `Rollback of ${svc.name} started (${r?.id ?? 'deploy'})`;
    },
  });
}

function UpstreamRow({ u, rates }) {
  const draining = u.state === 'draining' || u.state === 'drained';
  return html`<tr data-upstream=${u.id}>
    <td>
      <div class="mono">${u.id}</div>
      <div class="muted mono">${u.url}</div>
      ${u.lastHealthError && html`<div class="health-error" title="last health check error">${u.lastHealthError}</div>`}
    </td>
    <td class="state"><${Badge} value=${u.state} /></td>
    <td class="num inflight">${count(u.inflight)}</td>
    <td class="num">${rate(rates?.rps)}</td>
    <td class="num">${count(u.requests)}</td>
    <td class="num">${count(u.failures)}</td>
    <td class="actions">
      ${
        draining
          ? html`<button type="button" class="enable" onClick=${() => enable(u)}>Enable</button>`
          : html`<button type="button" class="drain" onClick=${() => drain(u)}>Drain</button>`
      }
    </td>
  </tr>`;
}

function Metric({ label, value, cls = '' }) {
  return html`<div class=${`metric ${cls}`}>
    <div class="value">${value}</div>
    <div class="label">${label}</div>
  </div>`;
}

function Service({ svc, rates, upstreamRates, statsSeen }) {
  const ups = (svc.upstreams ?? []).filter(Boolean);
  const healthy = ups.filter((u) => u.state === 'healthy').length;
  const ratio = rates?.ratio5xx;
  return html`<section class="card service" data-service=${svc.name}>
    <header>
      <h2>${svc.name}</h2>
      <span class="muted">${healthy}/${ups.length} healthy</span>
      <span class="spacer"></span>
      <button type="button" class="rollback" onClick=${() => rollback(svc)}>Roll back</button>
    </header>
    <dl class="route">
      <dt>Rule</dt>
      <dd><code>${svc.rule ?? '–'}</code></dd>
      <dt>Entrypoints</dt>
      <dd>${(svc.entrypoints ?? []).map((e) => html`<span class="tag">${e}</span>`)}</dd>
      <dt>TLS</dt>
      <dd>${svc.tls ? html`<span class="tag tls">TLS</span>` : 'no'}</dd>
      <dt>Middlewares</dt>
      <dd>
        ${
          (svc.middlewares ?? []).length === 0
            ? html`<span class="muted">none</span>`
            : svc.middlewares.map((m) => html`<span class="tag">${m}</span>`)
        }
      </dd>
      ${
        typeof svc.loadBalancer === 'string' &&
        html`<dt>Balancing</dt>
          <dd>${svc.loadBalancer}</dd>`
      }
    </dl>
    <div class="metrics" title=${statsSeen ? 'over the last few seconds' : 'waiting for the first stats'}>
      <${Metric} label="req/s" value=${rate(rates?.rps)} cls="rps" />
      <${Metric} label="5xx" value=${percent(ratio)} cls=${ratio > 0 ? 'ratio bad' : 'ratio'} />
      <${Metric} label="p50" value=${latency(rates?.p50)} cls="p50" />
      <${Metric} label="p99" value=${latency(rates?.p99)} cls="p99" />
    </div>
    <table class="upstreams">
      <thead>
        <tr>
          <th>Upstream</th>
          <th>State</th>
          <th class="num">In flight</th>
          <th class="num">req/s</th>
          <th class="num">Requests</th>
          <th class="num">Failures</th>
          <th></th>
        </tr>
      </thead>
      <tbody>
        ${ups.map((u) => html`<${UpstreamRow} key=${u.id} u=${u} rates=${upstreamRates[u.id]} />`)}
      </tbody>
    </table>
  </section>`;
}

export function ServicesPage({ s }) {
  return html`<div class="page services-page">
    <${ErrorBox} error=${s.servicesError} />
    ${s.services.length === 0 && html`<${Empty} text="No services yet." />`}
    ${s.services.map(
      (svc) =>
        html`<${Service}
          key=${svc.name}
          svc=${svc}
          rates=${s.serviceRates[svc.name]}
          upstreamRates=${s.upstreamRates}
          statsSeen=${s.statsSeen}
        />`,
    )}
  </div>`;
}
