// How one resolver's ACME requests travel. acme-client sends every request through its one axios instance
// (`acme.axios`, its documented hook); a request interceptor gives the requests made inside run() this resolver's
// HTTPS agent (trusting `caCertificates` besides the usual roots), a timeout and the order's AbortSignal.
// acme-client's own retries are turned off for them: they sleep on timers nothing can cancel, and the resolver's
// queue retries with its backoff anyway. They would also replace a network error (ECONNREFUSED, an untrusted
// certificate) by a TypeError; the adapter is wrapped to keep the real one.
import { AsyncLocalStorage } from 'node:async_hooks';
import { Agent } from 'node:https';
import { createRequire } from 'node:module';
import { rootCertificates } from 'node:tls';
import acme from 'acme-client';

type AxiosConfig = Parameters<typeof acme.axios.request>[0] & { retryAttempt?: number };
type Adapter = (config: AxiosConfig) => Promise<unknown>;

interface Call {
  signal: AbortSignal;
  /** the last network-level failure of a request in this call */
  failure: Error | null;
}

// acme-client's own copy of axios, for its http adapter (the instance acme-client exports does not expose it)
const axiosOfAcme = createRequire(createRequire(import.meta.url).resolve('acme-client'))('axios') as {
  getAdapter(name: string): Adapter;
};

export interface AcmeTransportOptions {
  /** extra CA certificates (PEM) trusted for the ACME server */
  ca: readonly string[];
  /** per request */
  timeoutMs: number;
}

export class AcmeTransport {
  readonly #calls = new AsyncLocalStorage<Call>();
  readonly #agent: Agent;
  readonly #interceptor: number;
  readonly #adapter: Adapter;

  constructor(opts: AcmeTransportOptions) {
    this.#agent = new Agent({
      keepAlive: true,
      ...(opts.ca.length > 0 ? { ca: [...rootCertificates, ...opts.ca] } : {}),
    });
    const http = axiosOfAcme.getAdapter('http');
    this.#adapter = async (config) => {
      try {
        const response = await http(config);
        const call = this.#calls.getStore();
        if (call !== undefined) call.failure = null;
        return response;
      } catch (err) {
        const call = this.#calls.getStore();
        if (call !== undefined && (err as { response?: unknown }).response === undefined) call.failure = err as Error;
        throw err;
      }
    };
    this.#interceptor = acme.axios.interceptors.request.use((config) => {
      const call = this.#calls.getStore();
      if (call === undefined) return config; // another resolver's, or another App's, request
      const c = config as AxiosConfig;
      c.httpsAgent = this.#agent;
      c.signal = call.signal;
      c.timeout = opts.timeoutMs;
      (c as { adapter?: unknown }).adapter = this.#adapter;
      c.retryAttempt = Number.MAX_SAFE_INTEGER - 1; // past retryMaxAttempts: no retry
      return config;
    });
  }

  /** Runs `fn` with this transport for every ACME request it makes. A request that failed below HTTP rejects with
   *  its own error (not acme-client's TypeError); an aborted `signal` rejects at once. */
  async run<T>(signal: AbortSignal, fn: () => Promise<T>): Promise<T> {
    const call: Call = { signal, failure: null };
    try {
      return await this.#calls.run(call, fn);
    } catch (err) {
      if (signal.aborted) throw signal.reason ?? err;
      if (err instanceof TypeError && call.failure !== null) throw call.failure;
      throw err;
    }
  }

  close(): void {
    acme.axios.interceptors.request.eject(this.#interceptor);
    this.#agent.destroy();
  }
}
