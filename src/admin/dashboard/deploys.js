// The deploys page: a running deploy's steps as they happen and what it is doing now (batch n of m, the health
// gate's deadline counting down, a drain's in-flight requests, the monitor window's failure ratio), then the
// history from the journal: outcome, duration, image, and the requests and failures the service saw meanwhile.
import { html } from './vendor/preact-htm.js';
import { count, countdown, clock, dateTime, DASH, duration, percent } from './format.js';
import { ended, loadDetails, loadHistory, update } from './store.js';
import { Badge, Empty, ErrorBox, useNow } from './ui.js';

/**
 * The journal's steps with each `started` joined to the step that ends it (same action, same containers): one row
 * per piece of work, with how long it took; one still going shows as running.
 */
export function joinSteps(steps) {
  const rows = [];
  const open = new Map();
  for (const st of steps ?? []) {
    const key = `${st.action}\n${(st.containers ?? []).join(',')}`;
    const begun = open.get(key);
    if (st.status === 'started') {
      const row = { ...st, status: 'running', startedAt: st.at, detail: st.detail ?? null, ms: null };
      open.set(key, row);
      rows.push(row);
    } else if (begun !== undefined) {
      open.delete(key);
      begun.status = st.status;
      begun.ms = Date.parse(st.at) - Date.parse(begun.startedAt);
      if (st.detail) begun.detail = begun.detail ? `${begun.detail}; ${st.detail}` : st.detail;
    } else {
      rows.push({ ...st, startedAt: st.at, detail: st.detail ?? null, ms: null });
    }
  }
  return rows;
}

function Steps({ steps, running = true }) {
  if (!steps || steps.length === 0) return html`<p class="muted">No steps yet.</p>`;
  return html`<ol class="steps">
    ${joinSteps(steps).map(
      (st) =>
        html`<li key=${st.n} class=${`step step-${st.status}`} data-action=${st.action} data-status=${st.status}>
          <span class="at">${clock(st.startedAt)}</span>
          <span class="action">${st.action}</span>
          <${Badge} value=${st.status === 'running' && !running ? 'interrupted' : st.status} />
          ${st.containers?.length > 0 && html`<span class="containers mono">${st.containers.join(', ')}</span>`}
          ${st.detail && html`<span class="detail">${st.detail}</span>`}
          ${st.ms !== null && html`<span class="took muted">${duration(st.ms)}</span>`}
        </li>`,
    )}
  </ol>`;
}

function LiveBox({ live, now }) {
  if (!live) return null;
  const parts = [];
  if (live.phase) parts.push(html`<div class="live-item phase"><b>${live.phase}</b></div>`);
  if (live.batch) {
    parts.push(html`<div class="live-item batch">batch <b>${live.batch.n}</b> of <b>${live.batch.of}</b></div>`);
  }
  if (live.deadline) {
    const what = live.phase === 'monitor' ? 'ends in' : 'gives up in';
    parts.push(html`<div class="live-item deadline">${what} <b>${countdown(live.deadline, now)}</b></div>`);
  }
  if (live.inflight !== null && live.inflight !== undefined) {
    parts.push(html`<div class="live-item inflight">in flight <b>${live.inflight}</b></div>`);
  }
  if (live.requests !== null && live.requests !== undefined) {
    const ratio = live.requests > 0 ? (live.failures ?? 0) / live.requests : null;
    const max = live.maxFailureRatio === null || live.maxFailureRatio === undefined ? null : live.maxFailureRatio;
    const counts = `${live.requests} requests, ${count(live.failures)} failures`;
    const allowed = max === null ? '' : ` (at most ${percent(max)})`;
    parts.push(html`<div class="live-item monitor"><b>${counts}</b>, ratio <b>${percent(ratio)}</b>${allowed}</div>`);
  }
  return html`<div class="live">${parts}</div>`;
}

function LiveDeploy({ d, now }) {
  const running = !ended(d.state);
  const took = d.createdAt ? (d.finishedAt ? Date.parse(d.finishedAt) : now) - Date.parse(d.createdAt) : null;
  return html`<section class=${`card deploy ${running ? 'running' : 'finished'}`} data-deploy=${d.id}>
    <header>
      <h2>${d.kind ?? 'deploy'} ${d.service}</h2>
      <${Badge} value=${d.state} />
      <span class="muted mono">${d.id}</span>
      <span class="spacer"></span>
      <span class="muted">${d.image ?? ''}</span>
      <span class="muted">${running ? 'for' : 'took'} ${duration(took)}</span>
    </header>
    ${running && html`<${LiveBox} live=${d.live} now=${now} />`}
    ${
      d.traffic &&
      html`<p class="traffic">
        Seen meanwhile: <b>${count(d.traffic.requests)}</b> requests, <b>${count(d.traffic.failures)}</b> failures
      </p>`
    }
    ${d.error && html`<p class="error-box">${d.error}</p>`}
    <${Steps} steps=${d.steps} running=${running} />
  </section>`;
}

function toggle(s, id) {
  if (s.details[id] !== undefined) {
    update((st) => delete st.details[id]);
    return;
  }
  loadDetails(id);
}

function HistoryRow({ d, s }) {
  const detail = s.details[d.id];
  const open = detail !== undefined;
  return html`<tr key=${d.id} data-deploy=${d.id} class=${open ? 'open' : ''}>
      <td>
        <button type="button" class="expand" aria-expanded=${open} onClick=${() => toggle(s, d.id)}>
          ${open ? '▾' : '▸'}
        </button>
        ${dateTime(d.createdAt)}
      </td>
      <td>${d.service}</td>
      <td>${d.kind}</td>
      <td class="outcome"><${Badge} value=${d.state} title=${d.error ?? ''} /></td>
      <td class="num">${d.durationMs === null ? 'running' : duration(d.durationMs)}</td>
      <td class="mono">${d.image ?? DASH}</td>
      <td class="num requests">${count(d.requests)}</td>
      <td class="num failures">${count(d.failures)}</td>
      <td class="num">${count(d.steps)}</td>
    </tr>
    ${
      open &&
      html`<tr class="details" key=${`${d.id}-details`}>
        <td colspan="9">
          ${
            detail === 'loading'
              ? html`<p class="muted">Loading…</p>`
              : detail instanceof Error
                ? html`<${ErrorBox} error=${detail} />`
                : html`${d.error && html`<p class="error-box">${d.error}</p>`}<${Steps}
                      steps=${detail.steps}
                      running=${!ended(detail.state)}
                    />`
          }
        </td>
      </tr>`
    }`;
}

function History({ s }) {
  if (s.historyError?.code === 'BATON_DOCKER_DISABLED') {
    return html`<${Empty} text="Deploys need the Docker or Swarm provider (providers.docker.enabled: true)." />`;
  }
  if (s.historyError) return html`<${ErrorBox} error=${s.historyError} />`;
  if (s.history === null) return html`<p class="muted">Loading…</p>`;
  if (s.history.length === 0) return html`<${Empty} text="No deploys yet." />`;
  return html`<table class="history">
    <thead>
      <tr>
        <th>Started</th>
        <th>Service</th>
        <th>Kind</th>
        <th>Outcome</th>
        <th class="num">Duration</th>
        <th>Image</th>
        <th class="num">Requests</th>
        <th class="num">Failures</th>
        <th class="num">Steps</th>
      </tr>
    </thead>
    <tbody>
      ${s.history.map((d) => html`<${HistoryRow} key=${d.id} d=${d} s=${s} />`)}
    </tbody>
  </table>`;
}

export function DeploysPage({ s }) {
  const now = useNow();
  const live = [...s.live.values()].reverse();
  return html`<div class="page deploys-page">
    ${
      live.length > 0 &&
      html`<div class="live-deploys">
        <h2 class="section">Live</h2>
        ${live.map((d) => html`<${LiveDeploy} key=${d.id} d=${d} now=${now} />`)}
      </div>`
    }
    <div class="section-head">
      <h2 class="section">History</h2>
      <button type="button" class="refresh" onClick=${() => loadHistory()}>Refresh</button>
    </div>
    <${History} s=${s} />
  </div>`;
}
