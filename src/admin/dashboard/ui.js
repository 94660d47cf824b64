// Pieces every page uses: state badges, the confirmation dialog in front of every action, the notices, and a
// clock that ticks for countdowns.
import { html, useEffect, useRef, useState } from './vendor/preact-htm.js';
import { dismiss, notify, update } from './store.js';

/** A state (upstream: healthy, draining...; deploy: running, succeeded...) as a coloured label. */
export function Badge({ value, title }) {
  const v = value ?? 'unknown';
  return html`<span class=${`badge state-${String(v).replace(/[^a-z_-]/gi, '')}`} title=${title}>${v}</span>`;
}

/** The time now, re-rendered every `ms`. */
export function useNow(ms = 200) {
  const [now, setNow] = useState(Date.now());
  useEffect(() => {
    const timer = setInterval(() => setNow(Date.now()), ms);
    return () => clearInterval(timer);
  }, [ms]);
  return now;
}

/**
 * Asks before an action: `run` is called only once the operator confirms; what it resolves to (a sentence) is
 * shown as a notice, and what it throws as an error notice.
 */
export function ask({ title, text, confirmLabel, danger = false, run }) {
  update((s) => (s.confirm = { title, text, confirmLabel, danger, run, busy: false }));
}

export function ConfirmDialog({ confirm }) {
  const ref = useRef(null);
  useEffect(() => {
    const d = ref.current;
    if (d && confirm && !d.open) d.showModal();
    if (d && !confirm && d.open) d.close();
  }, [confirm]);
  const close = () => update((s) => (s.confirm = null));
  const go = async () => {
    if (confirm.busy) return;
    update(() => (confirm.busy = true));
    try {
      const message = await confirm.run();
      if (message) notify('ok', message);
    } catch (err) {
      notify('error', `${confirm.title}: ${err.message}`);
    } finally {
      close();
    }
  };
  const onCancel = (e) => {
    e.preventDefault();
    if (!confirm?.busy) close();
  };
  return html`<dialog ref=${ref} class="confirm" onCancel=${onCancel} aria-labelledby="confirm-title">
    ${
      confirm &&
      html`<h2 id="confirm-title">${confirm.title}</h2>
        <p>${confirm.text}</p>
        <div class="buttons">
          <button type="button" class="cancel" onClick=${close} disabled=${confirm.busy}>Cancel</button>
          <button type="button" class=${confirm.danger ? 'ok danger' : 'ok'} onClick=${go} disabled=${confirm.busy}>
            ${confirm.busy ? 'Working…' : confirm.confirmLabel}
          </button>
        </div>`
    }
  </dialog>`;
}

export function Notices({ notices }) {
  return html`<div class="notices" role="status" aria-live="polite">
    ${notices.map(
      (n) =>
        html`<div key=${n.id} class=${`notice ${n.kind}`}>
          <span>${n.text}</span>
          <button type="button" class="close" aria-label="dismiss" onClick=${() => dismiss(n.id)}>×</button>
        </div>`,
    )}
  </div>`;
}

/** A page's error box (an API error or a message). */
export function ErrorBox({ error }) {
  if (!error) return null;
  return html`<p class="error-box">${typeof error === 'string' ? error : error.message}</p>`;
}

/** A table cell for values that may be absent. */
export function Empty({ text }) {
  return html`<p class="empty">${text}</p>`;
}
