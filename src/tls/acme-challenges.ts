// The ACME challenges waiting to be validated, for every resolver of the process: HTTP-01 key authorizations by
// token (answered at /.well-known/acme-challenge/<token> on plain HTTP) and TLS-ALPN-01 challenge certificates by
// server name (answered to `acme-tls/1` handshakes). An order adds its challenges and removes them when it ends.
import { createSecureContext, type SecureContext } from 'node:tls';
import { normalizeHost } from './certificate.ts';

/** A challenge added to or removed from a board, as data (worker threads replay them on their own board). */
export type ChallengeChange =
  | { kind: 'http'; key: number; active: boolean; token: string; keyAuthorization: string }
  | { kind: 'alpn'; key: number; active: boolean; serverName: string; certPem: string; keyPem: string };

export class ChallengeBoard {
  readonly #tokens = new Map<string, string>();
  #observer: ((c: ChallengeChange) => void) | null = null;
  #nextKey = 1;
  /** a replaying board's removers, by the key of the change that added them */
  readonly #replayed = new Map<number, () => void>();
  /** by server name; a list because two orders for the same name may briefly overlap */
  readonly #alpn = new Map<string, SecureContext[]>();
  /** lookups that found a pending challenge (validation requests answered) */
  readonly answered = { http: 0, alpn: 0 };

  /** HttpChallenges: the key authorization while the token's challenge is pending, else null. */
  keyAuthorization(token: string): string | null {
    const answer = this.#tokens.get(token);
    if (answer === undefined) return null;
    this.answered.http++;
    return answer;
  }

  /** Challenges (terminator.ts): the TLS-ALPN-01 certificate for `serverName` while its challenge is pending. */
  alpnContext(serverName: string): SecureContext | null {
    const list = this.#alpn.get(normalizeHost(serverName));
    if (list === undefined) return null;
    this.answered.alpn++;
    return list[list.length - 1];
  }

  /** Serves an HTTP-01 answer until the returned function is called. */
  addHttp(token: string, keyAuthorization: string): () => void {
    this.#tokens.set(token, keyAuthorization);
    const key = this.#nextKey++;
    this.#observer?.({ kind: 'http', key, active: true, token, keyAuthorization });
    return () => {
      if (this.#tokens.get(token) === keyAuthorization) this.#tokens.delete(token);
      this.#observer?.({ kind: 'http', key, active: false, token, keyAuthorization });
    };
  }

  /** Serves a TLS-ALPN-01 certificate (PEM, with its key) for `serverName` until the returned function is called. */
  addAlpn(serverName: string, certPem: string, keyPem: string): () => void {
    const name = normalizeHost(serverName);
    const context = createSecureContext({ cert: certPem, key: keyPem });
    const list = this.#alpn.get(name) ?? [];
    list.push(context);
    this.#alpn.set(name, list);
    const key = this.#nextKey++;
    this.#observer?.({ kind: 'alpn', key, active: true, serverName, certPem, keyPem });
    return () => {
      this.#observer?.({ kind: 'alpn', key, active: false, serverName, certPem, keyPem });
      const current = this.#alpn.get(name);
      if (current === undefined) return;
      const rest = current.filter((c) => c !== context);
      if (rest.length === 0) this.#alpn.delete(name);
      else this.#alpn.set(name, rest);
    };
  }

  /** Every add and removal from now on (the control plane's board, with workers). */
  observe(fn: ((c: ChallengeChange) => void) | null): void {
    this.#observer = fn;
  }

  /** Another board's change (a worker thread's board following the control plane's). */
  replay(c: ChallengeChange): void {
    if (!c.active) {
      this.#replayed.get(c.key)?.();
      this.#replayed.delete(c.key);
    } else {
      const remove =
        c.kind === 'http' ? this.addHttp(c.token, c.keyAuthorization) : this.addAlpn(c.serverName, c.certPem, c.keyPem);
      this.#replayed.set(c.key, remove);
    }
  }

  /** challenges pending (for tests and leak checks) */
  get pending(): number {
    let n = this.#tokens.size;
    for (const list of this.#alpn.values()) n += list.length;
    return n;
  }
}
