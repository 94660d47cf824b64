// Services' runtime modes, by service name (a service recreated by a provider keeps its mode): serving, paused
// (new requests held until resume), maintenance (503 with the operator's page), and the deploys holding the
// service's requests while it has no upstream taking traffic. Runtime state: a restart serves normally again.
// With workers, the control plane's changes are mirrored to every worker thread's registry.
import type { DesiredService } from './desired.ts';
import type { RegistryMirror } from './mirror.ts';
import { MAINTENANCE, PAUSED, SERVING, type Service, type ServiceMode } from './service.ts';

export interface ModeState {
  mode: ServiceMode;
  /** maintenance: the page (text/html) and Retry-After in seconds */
  page: string;
  retryAfter: number;
  deployHolds: number;
}

const NORMAL: ModeState = Object.freeze({ mode: SERVING, page: '', retryAfter: 0, deployHolds: 0 });

/** The page a maintenance without one of its own shows. */
export const DEFAULT_MAINTENANCE_PAGE =
  '<!doctype html><html><head><meta charset="utf-8"><title>Down for maintenance</title></head>' +
  '<body><h1>Down for maintenance</h1><p>This service is being worked on. Please try again shortly.</p>' +
  '</body></html>\n';
export const DEFAULT_MAINTENANCE_RETRY_AFTER_S = 60;

export const MODE_NAMES = ['serving', 'paused', 'maintenance'] as const;

export class ServiceModes {
  readonly #states = new Map<string, ModeState>();
  readonly #services: ReadonlyMap<string, Service>;
  /** each service's last desired definition and provider (keep) */
  readonly #last = new Map<string, [DesiredService, string]>();
  mirror: RegistryMirror | null = null;

  constructor(services: ReadonlyMap<string, Service>) {
    this.#services = services;
  }

  get(service: string): ModeState {
    return this.#states.get(service) ?? NORMAL;
  }

  /** Every service not serving normally (a new worker thread replays them). */
  all(): [string, ModeState][] {
    return [...this.#states];
  }

  /** Sets a service's whole state (a worker thread replays the control plane's this way). */
  set(service: string, state: ModeState): void {
    const normal = state.mode === SERVING && state.deployHolds === 0;
    if (normal) this.#states.delete(service);
    else this.#states.set(service, { ...state });
    this.mirror?.mode(service, state);
    const s = this.#services.get(service);
    if (s !== undefined) this.applyTo(s);
  }

  pause(service: string): void {
    this.set(service, { ...this.get(service), mode: PAUSED, page: '', retryAfter: 0 });
  }

  resume(service: string): void {
    this.set(service, { ...this.get(service), mode: SERVING, page: '', retryAfter: 0 });
  }

  maintenance(service: string, on: boolean, page: string | null, retryAfter: number | null): void {
    if (!on) return this.resume(service);
    const p = page ?? DEFAULT_MAINTENANCE_PAGE;
    const r = retryAfter ?? DEFAULT_MAINTENANCE_RETRY_AFTER_S;
    this.set(service, { ...this.get(service), mode: MAINTENANCE, page: p, retryAfter: r });
  }

  /** A deploy starts (+1) or ends (-1) holding the service's requests while no upstream takes traffic. */
  deployHold(service: string, delta: 1 | -1): void {
    const st = this.get(service);
    this.set(service, { ...st, deployHolds: Math.max(0, st.deployHolds + delta) });
  }

  /** A service not serving normally stays routed when its provider drops it (with no upstreams: its requests
   *  wait, or get its maintenance page) — a singleton's stop-first deploy stops its only container before the
   *  new one runs. Adds such services to `desired` (and `providers`), and remembers the rest for next time. */
  keep(desired: Map<string, DesiredService>, providers: Map<string, string>): void {
    for (const [name, st] of this.#states) {
      const last = this.#last.get(name);
      if (desired.has(name) || last === undefined || (st.mode === SERVING && st.deployHolds === 0)) continue;
      desired.set(name, { ...last[0], upstreams: [] });
      providers.set(name, last[1]);
    }
    this.#last.clear();
    for (const [name, d] of desired) this.#last.set(name, [d, providers.get(name)!]);
  }

  /** Gives a (new) service object its mode; releases what it holds if it may go now. */
  applyTo(s: Service): Service {
    const st = this.get(s.name);
    s.mode = st.mode;
    s.maintenancePage = st.page;
    s.retryAfter = st.retryAfter;
    s.deployHolds = st.deployHolds;
    s.wake();
    return s;
  }
}
