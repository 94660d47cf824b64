// What the CLI prints from the admin API's answers: the status table, the result of a drain or an enable, each
// step of a deploy/rollback/scale as it happens and how it ended. Pure: each function returns its text.
import Table from 'cli-table3';
import type { CertificateView } from '../admin/certificates.ts';
import { CERT_EXPIRY_WARNING_MS } from '../config/defaults.ts';
import type { DeployRecord, DeployStep } from '../deploy/journal.ts';
import type { DrainResult } from '../upstream/upstream.ts';

/** A service as `GET /api/services` lists it. */
export interface ServiceView {
  name: string;
  rule: string;
  upstreams: Array<{ id: string; url: string; state: string; inflight: number; lastHealthError?: string }>;
}

/** A config's problems, one indented line each. */
export function problemLines(problems: string[]): string {
  return problems.map((p) => `  - ${p}\n`).join('');
}

/** `baton status`: one row per upstream, the service's name and rule on its first row. */
export function statusTable(services: ServiceView[]): string {
  if (services.length === 0) return 'No services configured.\n';
  const head = ['SERVICE', 'RULE', 'UPSTREAM', 'URL', 'STATE', 'IN-FLIGHT'];
  const table = new Table({ head, style: { head: [], border: [] } });
  for (const s of services) {
    if (s.upstreams.length === 0) table.push([s.name, s.rule, '(none)', '', '', '']);
    for (const [i, u] of s.upstreams.entries()) {
      const state = u.lastHealthError ? `${u.state} (${u.lastHealthError})` : u.state;
      table.push([i === 0 ? s.name : '', i === 0 ? s.rule : '', u.id, u.url, state, String(u.inflight)]);
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

/** One step of a deploy/rollback/scale: its time of day, whether it is done, what it does to which containers. */
export function stepLine(step: DeployStep): string {
  const mark = step.status === 'done' ? 'ok' : step.status === 'failed' ? 'FAILED' : '..';
  const who = step.containers.length > 0 ? ` ${step.containers.join(', ')}` : '';
  const timeOfDay = step.at.slice(11, 19); // HH:MM:SS of the ISO timestamp
  return `  ${timeOfDay} ${mark.padEnd(6)} ${step.action}${who}${step.detail ? ` — ${step.detail}` : ''}\n`;
}

/** How a deploy/rollback/scale ended, `elapsedMs` after the CLI started it. */
export function outcomeLine(record: DeployRecord, elapsedMs: number): string {
  const secs = (elapsedMs / 1000).toFixed(1);
  if (record.state === 'succeeded') return `${record.id} succeeded in ${secs} s\n`;
  const why = record.error ? `: ${record.error}` : '';
  return `${record.id} ${record.state.replace('_', ' ')} after ${secs} s${why}\n`;
}
