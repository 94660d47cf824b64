// The events page: the last events off the stream, newest first (upstream state changes, deploy steps and states,
// reconnects); `stats` ticks are not listed (one a second).
import { html, useState } from './vendor/preact-htm.js';
import { clock } from './format.js';
import { MAX_EVENTS } from './store.js';
import { Empty } from './ui.js';

function summary(type, d) {
  if (type === 'hello') return `connected: ${(d?.services ?? []).length} services`;
  if (type === 'upstream') {
    const to = d?.to ?? d?.state;
    const from = d?.from ?? d?.previous;
    return `${d?.id}: ${from ? `${from} → ` : ''}${to}${d?.reason ? ` (${d.reason})` : ''}`;
  }
  if (type === 'deploy') {
    const what = d?.step ? `${d.step.action} ${d.step.status}${d.step.detail ? `: ${d.step.detail}` : ''}` : d?.state;
    return `${d?.kind ?? 'deploy'} ${d?.service} ${d?.id}: ${what}`;
  }
  return JSON.stringify(d);
}

const TYPES = ['all', 'upstream', 'deploy', 'hello'];

export function EventsPage({ s }) {
  const [filter, setFilter] = useState('all');
  const [paused, setPaused] = useState(null);
  const all = paused ?? s.events;
  const shown = filter === 'all' ? all : all.filter((e) => e.type === filter);
  return html`<div class="page events-page">
    <div class="section-head">
      <h2 class="section">Events</h2>
      <span class="muted">last ${MAX_EVENTS}, newest first</span>
      <span class="spacer"></span>
      <select aria-label="event type" value=${filter} onChange=${(e) => setFilter(e.currentTarget.value)}>
        ${TYPES.map((t) => html`<option value=${t}>${t}</option>`)}
      </select>
      <button type="button" class="pause" onClick=${() => setPaused(paused ? null : [...s.events])}>
        ${paused ? 'Resume' : 'Pause'}
      </button>
    </div>
    ${shown.length === 0 && html`<${Empty} text="No events yet." />`}
    <ol class="events">
      ${shown.map(
        (e, i) =>
          html`<li key=${`${e.at}-${i}`} class=${`event event-${e.type}`}>
            <span class="at">${clock(e.at)}</span>
            <span class=${`badge type-${e.type}`}>${e.type}</span>
            <span class="text">${summary(e.type, e.data)}</span>
          </li>`,
      )}
    </ol>
  </div>`;
}
