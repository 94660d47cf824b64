// The messages between the control plane (main thread) and the worker threads serving traffic. Everything is
// structured-cloneable data; the counters themselves travel as shared memory (TallyBuffers), not as messages.
import type { AddressInfo } from 'node:net';
import type { LoadedConfig } from '../config/load.ts';
import type { ChallengeChange } from '../tls/acme-challenges.ts';
import type { ManagedChange } from '../tls/store.ts';
import type { TrafficStats } from '../traffic.ts';
import type { Snapshot } from '../upstream/desired.ts';
import type { TrafficSplit } from '../upstream/split.ts';
import type { UpstreamState } from '../upstream/state.ts';
import type { TallyBuffers } from '../upstream/tally.ts';

/** What a worker thread starts with (its workerData). */
export interface WorkerInit {
  config: LoadedConfig;
  /** this worker's writer index on the tally board (1..n; the main thread is 0) */
  writer: number;
  buffers: TallyBuffers;
}

/** Control plane → worker, replayed in order. */
export type ToWorker =
  /** a provider's snapshot, with the slot of every upstream the control plane has now */
  | { type: 'snapshot'; provider: string; snapshot: Snapshot; slots: [string, number][] }
  | { type: 'state'; id: string; state: UpstreamState; held: boolean }
  | { type: 'drain'; id: string; timeoutMs: number }
  | { type: 'enable'; id: string; skipGate: boolean }
  | { type: 'hold'; containerId: string }
  | { type: 'release'; containerIds: string[] }
  /** a service's traffic split across generations (null: removed) */
  | { type: 'split'; service: string; split: TrafficSplit | null }
  /** listen on every entrypoint (on these exact addresses when the first worker already bound them) */
  | { type: 'listen'; addresses: Record<string, string> | null }
  | { type: 'stats'; ask: number }
  | { type: 'reload-certificates' }
  /** reopen the access log file at its path (SIGUSR1: logrotate moved it) */
  | { type: 'reopen-logs' }
  /** an ACME certificate obtained, renewed or dropped by the control plane */
  | { type: 'certificate'; change: ManagedChange }
  /** an ACME challenge to answer (HTTP-01 token, TLS-ALPN-01 certificate) or no longer */
  | { type: 'challenge'; change: ChallengeChange }
  | { type: 'close'; timeoutMs: number };

export interface ErrorInfo {
  message: string;
  code?: string;
  address?: string;
  port?: number;
  problems?: string[];
}

/** Worker → control plane. */
export type FromWorker =
  /** built (plugins imported, certificates loaded): ready for the sync */
  | { type: 'ready' }
  | { type: 'failed'; error: ErrorInfo }
  | { type: 'listening'; addresses: Record<string, AddressInfo> }
  | { type: 'eject'; id: string; failures: number }
  /** the worker closed its upstream on this slot: it no longer writes there */
  | { type: 'released'; slot: number }
  | { type: 'stats'; ask: number; stats: TrafficStats }
  | { type: 'closed' };

export function errorInfo(err: unknown): ErrorInfo {
  const e = err as NodeJS.ErrnoException & { address?: string; port?: number; problems?: string[] };
  return {
    message: String(e?.message ?? err),
    code: e?.code,
    address: e?.address,
    port: e?.port,
    problems: e?.problems,
  };
}
