// How the ACME resolvers pace their orders: the defaults suit a public CA (Let's Encrypt's limits), tests shorten
// them.
import type { PollOptions } from './acme-order.ts';
import type { Backoff } from './acme-queue.ts';

export interface AcmeTuning {
  /** orders in flight per resolver */
  concurrency: number;
  /** orders started per minute, every resolver together */
  ordersPerMinute: number;
  /** the wait after a failed order, doubling with each further failure */
  backoff: Backoff;
  /** how often certificates are checked for renewal */
  renewCheckMs: number;
  /** per HTTP request to the CA */
  requestTimeoutMs: number;
  poll: PollOptions;
}

export const DEFAULT_ACME_TUNING: AcmeTuning = {
  concurrency: 2,
  ordersPerMinute: 10,
  backoff: { minMs: 30_000, maxMs: 6 * 3_600_000 },
  renewCheckMs: 3_600_000,
  requestTimeoutMs: 30_000,
  poll: { minMs: 250, maxMs: 5_000, timeoutMs: 300_000 },
};
