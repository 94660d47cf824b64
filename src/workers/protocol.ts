// The messages between the control plane (main thread) and the worker threads serving traffic. Everything is
// structured-cloneable data; the counters themselves travel as shared memory (TallyBuffers), not as messages.
import type { AddressInfo } from 'node:net';
import type { LoadedConfig } from '../config/load.ts';
import type { ChallengeChange } from '../tls/acme-challenges.ts';
import type { ManagedChange } from '../tls/store.ts';
import type { TrafficStats } from '../traffic.ts';
import type { Snapshot } from '../upstream/desired.ts';
import type { ModeState } from '../upstream/modes.ts';
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
  | { type: 'mode'; service: string; state: ModeState }
  /** listen on every entrypoint (on these exact addresses when the first worker already bound them), taking over
   *  the inherited sockets in `fds` (entrypoint → file descriptor, `baton upgrade`) instead of binding */
  | { type: 'listen'; addresses: Record<string, string> | null; fds: Record<string, number> | null }
  /** a service's traffic split across generations (null: removed) */
  | { type: 'split'; service: string; split: TrafficSplit | null }
  | { type: 'stats'; ask: number }
  | { type: 'reload-certificates' }
  /** a config reload: the config to go on with (checked by the control plane), before the snapshot using it */
  | { type: 'config'; config: LoadedConfig }
  /** reopen the access log file at its path (SIGUSR1: logrotate moved it) */
  | { type: 'reopen-logs' }
  /** an ACME certificate obtained, renewed or dropped by the control plane */
  | { type: 'certificate'; change: ManagedChange }
  /** an ACME challenge to answer (HTTP-01 token, TLS-ALPN-01 certificate) or no longer */
  | { type: 'challenge'; change: ChallengeChange }
  /** stop: `lingerMs` above 0 on a hand-over to the next baton (Entrypoint.close) */
  | { type: 'close'; timeoutMs: number; lingerMs: number };

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
  /** listening: each entrypoint's address and socket file descriptor (the process's: `baton upgrade` hands it on) */
  | { type: 'listening'; addresses: Record<string, AddressInfo>; fds: Record<string, number> }
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
