// The ACME challenges waiting to be validated, for every resolver of the process: HTTP-01 key authorizations by
// token (answered at /.well-known/acme-challenge/<token> on plain HTTP) and TLS-ALPN-01 challenge certificates by
// server name (answered to `acme-tls/1` handshakes). An order adds its challenges and removes them when it ends.
import { createSecureContext, type SecureContext } from 'node:tls';
import { normalizeHost } from './certificate.ts';

export class ChallengeBoard {
  readonly #tokens = new Map<string, string>();
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
    return () => {
      if (this.#tokens.get(token) === keyAuthorization) this.#tokens.delete(token);
    };
  }

  /** Serves a TLS-ALPN-01 certificate (PEM, with its key) for `serverName` until the returned function is called. */
  addAlpn(serverName: string, certPem: string, keyPem: string): () => void {
    const name = normalizeHost(serverName);
    const context = createSecureContext({ cert: certPem, key: keyPem });
    const list = this.#alpn.get(name) ?? [];
    list.push(context);
    this.#alpn.set(name, list);
    return () => {
      const current = this.#alpn.get(name);
      if (current === undefined) return;
      const rest = current.filter((c) => c !== context);
      if (rest.length === 0) this.#alpn.delete(name);
      else this.#alpn.set(name, rest);
    };
  }

  /** challenges pending (for tests and leak checks) */
  get pending(): number {
    let n = this.#tokens.size;
    for (const list of this.#alpn.values()) n += list.length;
    return n;
  }
}
