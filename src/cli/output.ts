// What the CLI prints from the admin API's answers: the status table, the result of a drain or an enable, each
// step of a deploy/rollback/scale as it happens and how it ended. Pure: each function returns its text.
import Table from 'cli-table3';
import type { CertificateView } from '../admin/certificates.ts';
import { CERT_EXPIRY_WARNING_MS } from '../config/defaults.ts';
import type { DeployRecord, DeployStep } from '../deploy/journal.ts';
import type { DrainResult } from '../upstream/upstream.ts';

/** A service as `GET /api/services` lists it (requests/failures: running totals, from baton 0.2 on). */
export interface ServiceView {
  name: string;
  rule: string;
  upstreams: Array<{
    id: string;
    url: string;
    state: string;
    inflight: number;
    requests?: number;
    failures?: number;
    lastHealthError?: string;
  }>;
}

/** A config's problems, one indented line each. */
export function problemLines(problems: string[]): string {
  return problems.map((p) => `  - ${p}\n`).join('');
}

/** `baton status`: one row per upstream, the service's name and rule on its first row; the request and failure
 *  counts when the API gives them, and (`baton status --watch`) requests per second by upstream id. */
export function statusTable(services: ServiceView[], rates?: ReadonlyMap<string, number>): string {
  if (services.length === 0) return 'No services configured.\n';
  const counts = services.some((s) => s.upstreams.some((u) => typeof u.requests === 'number'));
  const head = ['SERVICE', 'RULE', 'UPSTREAM', 'URL', 'STATE', 'IN-FLIGHT'];
  if (counts) head.push('REQUESTS', 'FAILURES');
  if (rates !== undefined) head.push('REQ/S');
  const table = new Table({ head, style: { head: [], border: [] } });
  for (const s of services) {
    if (s.upstreams.length === 0) table.push([s.name, s.rule, '(none)', ...head.slice(3).map(() => '')]);
    for (const [i, u] of s.upstreams.entries()) {
      const state = u.lastHealthError ? `${u.state} (${u.lastHealthError})` : u.state;
      const row = [i === 0 ? s.name : '', i === 0 ? s.rule : '', u.id, u.url, state, String(u.inflight)];
      if (counts) row.push(String(u.requests ?? '—'), String(u.failures ?? '—'));
      if (rates !== undefined) row.push(rates.has(u.id) ? rates.get(u.id)!.toFixed(1) : '—');
      table.push(row);
    }
  }
  return table.toString() + '\n';
}

/** How much of a certificate's last error `baton certs` shows. */
const CERT_ERROR_MAX_CHARS = 48;

/** `baton certs`: one row per certificate as the API lists them; rows expiring soon (or expired) marked ⚠. */
export function certsTable(certs: CertificateView[]): string {
  if (certs.length === 0) return 'No certificates.\n';
  const head = ['DOMAINS', 'SOURCE', 'NOT AFTER', 'EXPIRES IN', 'LAST ERROR'];
  const table = new Table({ head, style: { head: [], border: [] } });
  for (const c of certs) {
    const domains = c.domains.length > 0 ? c.domains.join(', ') : c.id === 'default' ? '(default)' : '—';
    const d = c.expiresInDays;
    const left = d < 0 ? `expired ${-d} d ago` : d === 0 ? 'under 1 d' : `${d} d`;
    const error = c.lastError === null ? '—' : shorten(c.lastError, CERT_ERROR_MAX_CHARS);
    table.push([domains, c.source, c.notAfter.slice(0, 10), c.expiringSoon ? `⚠ ${left}` : left, error]);
  }
  const soon = certs.filter((c) => c.expiringSoon).length;
  const days = CERT_EXPIRY_WARNING_MS / 86_400_000;
  const note = soon === 0 ? '' : `⚠ ${soon} of ${certs.length} expire within ${days} days or have expired\n`;
  return table.toString() + '\n' + note;
}

function shorten(s: string, max: number): string {
  const line = s.replace(/\s+/g, ' ').trim();
  return line.length <= max ? line : `${line.slice(0, max - 1)}…`;
}

/** `baton drain --no-wait`: where the drain stands when it has begun. */
export function drainStartedLine(id: string, answer: { state: string; inflight: number }): string {
  return `${id}: ${answer.state}, ${answer.inflight} in flight\n`;
}

/** `baton drain`: how the drain ended. */
export function drainedLine(id: string, result: DrainResult): string {
  if (result.timedOut) {
    const aborted = `${result.aborted} request(s) aborted`;
    return `${id}: ${result.state} after ${result.durationMs} ms; drain timeout expired, ${aborted}\n`;
  }
  return `${id}: ${result.state} in ${result.durationMs} ms, no request lost\n`;
}

/** `baton enable`: the upstream's state, and when it gets traffic if it is not yet healthy. */
export function enabledLine(id: string, state: string): string {
  return `${id}: ${state}${state === 'starting' ? ' (gets traffic once its health checks pass)' : ''}\n`;
}

/** One step of a deploy/rollback/scale, as a CI log wants it: the step's ISO time first, whether it is done, what
 *  it does to which containers. */
export function stepLine(step: DeployStep): string {
  const mark = step.status === 'done' ? 'ok' : step.status === 'failed' ? 'FAILED' : '..';
  const who = step.containers.length > 0 ? ` ${step.containers.join(', ')}` : '';
  return `${step.at} ${mark.padEnd(6)} ${step.action}${who}${step.detail ? ` — ${step.detail}` : ''}\n`;
}

/** How a deploy/rollback/scale ended, `elapsedMs` after the CLI started it. */
export function outcomeLine(record: DeployRecord, elapsedMs: number): string {
  const secs = (elapsedMs / 1000).toFixed(1);
  if (record.state === 'succeeded') return `${record.id} succeeded in ${secs} s\n`;
  const why = record.error ? `: ${record.error}` : '';
  return `${record.id} ${record.state.replace('_', ' ')} after ${secs} s${why}\n`;
}

/** A deploy as `GET /api/deploys` lists it. */
export interface DeploySummary {
  id: string;
  kind: string;
  service: string;
  state: string;
  image: string | null;
  createdAt: string;
  finishedAt: string | null;
  /** null while it runs */
  durationMs: number | null;
  error: string | null;
  /** requests the service answered during the deploy, and how many failed */
  requests: number | null;
  failures: number | null;
  /** how many steps it took */
  steps: number;
}

/** How much of an image reference and of a deploy's error `baton history` shows. */
const HISTORY_IMAGE_MAX_CHARS = 36;
const HISTORY_ERROR_MAX_CHARS = 40;
/** No rule between the rows of a long list. */
const NO_ROW_RULES = { mid: '', 'left-mid': '', 'mid-mid': '', 'right-mid': '' };

/** `baton history`: one row per deploy, as listed (newest first). */
export function historyTable(deploys: DeploySummary[]): string {
  if (deploys.length === 0) return 'No deploys yet.\n';
  const head = [
    'ID',
    'SERVICE',
    'KIND',
    'OUTCOME',
    'IMAGE',
    'STARTED (UTC)',
    'DURATION',
    'REQUESTS',
    'FAILURES',
    'ERROR',
  ];
  const table = new Table({ head, style: { head: [], border: [] }, chars: NO_ROW_RULES });
  for (const d of deploys) {
    const started = d.createdAt.replace('T', ' ').slice(0, 19);
    const duration = d.durationMs === null ? '(running)' : formatDuration(d.durationMs);
    const failures = d.failures === null ? '—' : failuresText(d.failures, d.requests ?? 0);
    const image = d.image === null ? '—' : shorten(d.image, HISTORY_IMAGE_MAX_CHARS);
    const error = d.error ? shorten(d.error, HISTORY_ERROR_MAX_CHARS) : '—';
    const requests = d.requests === null ? '—' : String(d.requests);
    table.push([d.id, d.service, d.kind, stateText(d.state), image, started, duration, requests, failures, error]);
  }
  return table.toString() + '\n';
}

/** A deploy state for people: `rolled_back` → `rolled back`. */
export function stateText(state: string): string {
  return state.replace(/_/g, ' ');
}

/** `3 (1.5 %)`: failures, and their share of the requests when there were any. */
export function failuresText(failures: number, requests: number): string {
  return failures > 0 && requests > 0 ? `${failures} (${percent(failures / requests)})` : String(failures);
}

/** A ratio as a percentage with one decimal (two below 1 %): `0.05` → `5.0 %`, `0.004` → `0.40 %`. */
export function percent(ratio: number): string {
  const p = ratio * 100;
  return `${p > 0 && p < 1 ? p.toFixed(2) : p.toFixed(1)} %`;
}

/** `850 ms`, `12.3 s`, `2 min 05 s`, `1 h 02 min`. */
export function formatDuration(ms: number): string {
  if (ms < 1000) return `${Math.round(ms)} ms`;
  if (ms < 59_950) return `${(ms / 1000).toFixed(1)} s`;
  const s = Math.round(ms / 1000);
  if (s < 3600) return `${Math.floor(s / 60)} min ${String(s % 60).padStart(2, '0')} s`;
  const m = Math.round(s / 60);
  return `${Math.floor(m / 60)} h ${String(m % 60).padStart(2, '0')} min`;
}
