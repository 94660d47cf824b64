// With workers (multi-core), one registry is the control plane's (health checks, providers, deploys) and each
// worker thread serving traffic has a follower registry replaying it. These are the two links between them; the
// messages that carry them are the workers layer's (src/workers/).
import type { Snapshot } from './desired.ts';
import type { ModeState } from './modes.ts';
import type { TrafficSplit } from './split.ts';
import type { Upstream } from './upstream.ts';

/** A worker thread's link back to the control plane. */
export interface Follower {
  /** passive checks saw `failures` consecutive failures: the control plane decides on the ejection */
  eject(upstreamId: string, failures: number): void;
}

/** The control plane's side with workers: every change the worker threads' registries must replay, in order. */
export interface RegistryMirror {
  snapshot(provider: string, snapshot: Snapshot): void;
  state(u: Upstream): void;
  drain(upstreamId: string, timeoutMs: number): void;
  enable(upstreamId: string, skipGate: boolean): void;
  hold(containerId: string): void;
  release(containerIds: readonly string[]): void;
  /** a service's runtime mode (modes.ts) */
  mode(service: string, state: ModeState): void;
  /** a service's traffic split across generations (null: removed) */
  split(service: string, split: TrafficSplit | null): void;
}
