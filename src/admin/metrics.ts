// Prometheus text exposition of the counters baton keeps anyway (no registry library on the hot path).
import { noServiceStats, type TrafficStats } from '../traffic.ts';
import type { Registry } from '../upstream/registry.ts';

const STATES = ['starting', 'healthy', 'unhealthy', 'draining', 'drained'] as const;

function esc(v: string): string {
  return v.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n');
}

export function renderMetrics(registry: Registry, traffic: TrafficStats): string {
  const lines: string[] = [];
  const family = (name: string, type: string, help: string) =>
    lines.push(`# HELP ${name} ${help}`, `# TYPE ${name} ${type}`);

  family(
    'baton_requests_total',
    'counter',
    'Requests answered per service, by status class (4xx includes 499 client closed).',
  );
  const services = [...registry.services.keys()].map((name) => ({
    name,
    ...(traffic.services[name] ?? noServiceStats()),
  }));
  for (const s of services) {
    for (let c = 1; c <= 5; c++)
      lines.push(`baton_requests_total{service="${esc(s.name)}",code="${c}xx"} ${s.responses[c]}`);
  }
  family('baton_retries_total', 'counter', 'Attempts retried on another upstream, per service.');
  for (const s of services) lines.push(`baton_retries_total{service="${esc(s.name)}"} ${s.retries}`);
  family(
    'baton_service_unavailable_total',
    'counter',
    'Requests baton answered itself because no upstream could take them.',
  );
  for (const s of services) lines.push(`baton_service_unavailable_total{service="${esc(s.name)}"} ${s.unavailable}`);

  family('baton_upstream_inflight', 'gauge', 'Requests and WebSocket tunnels in flight per upstream.');
  for (const u of registry.upstreams.values())
    lines.push(`baton_upstream_inflight{service="${esc(u.service)}",upstream="${esc(u.id)}"} ${u.inflight}`);
  family('baton_upstream_state', 'gauge', 'Upstream state (1 for the current state).');
  for (const u of registry.upstreams.values()) {
    const labels = `service="${esc(u.service)}",upstream="${esc(u.id)}"`;
    for (const st of STATES) lines.push(`baton_upstream_state{${labels},state="${st}"} ${u.state === st ? 1 : 0}`);
  }
  family('baton_upstream_requests_total', 'counter', 'Requests dispatched to each upstream.');
  for (const u of registry.upstreams.values())
    lines.push(`baton_upstream_requests_total{service="${esc(u.service)}",upstream="${esc(u.id)}"} ${u.requests}`);
  family('baton_upstream_failures_total', 'counter', 'Connect errors, resets and 5xx answers from each upstream.');
  for (const u of registry.upstreams.values())
    lines.push(`baton_upstream_failures_total{service="${esc(u.service)}",upstream="${esc(u.id)}"} ${u.failures}`);

  const entrypoints = Object.entries(traffic.entrypoints).map(([name, e]) => ({ name, ...e }));
  family('baton_entrypoint_connections', 'gauge', 'Open client connections per entrypoint.');
  for (const e of entrypoints) lines.push(`baton_entrypoint_connections{entrypoint="${esc(e.name)}"} ${e.connections}`);
  family('baton_entrypoint_rejected_connections_total', 'counter', 'Connections refused at the connection cap (503).');
  for (const e of entrypoints)
    lines.push(`baton_entrypoint_rejected_connections_total{entrypoint="${esc(e.name)}"} ${e.rejectedConnections}`);
  family('baton_entrypoint_no_route_total', 'counter', 'Requests no route matched (404 from baton).');
  for (const e of entrypoints) lines.push(`baton_entrypoint_no_route_total{entrypoint="${esc(e.name)}"} ${e.notFound}`);
  return lines.join('\n') + '\n';
}
