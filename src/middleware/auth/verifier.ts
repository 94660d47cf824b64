// Password checks for one basicAuth instance: the hash of a known user, or for an unknown user a dummy of the same
// kind and cost (the first user's, as Traefik does), so that both cost the same; a short cache of successes, so a
// keep-alive client does not pay a bcrypt check per request; identical checks in flight shared (Traefik's
// singleflight); and a bound on the checks running at once, so a flood of wrong passwords cannot queue unbounded
// work.
//
// Bounds (per instance): at most `cacheSize` (1024) remembered successes, each for `cacheTtlMs` (60 s) from its
// check, oldest evicted first, keyed by HMAC-SHA256 under a random per-instance key of "user:password" (so neither
// is kept in memory). At most `maxVerifying` (8) bcrypt/MD5-crypt checks running or waiting in the worker thread:
// beyond that the answer is 'busy' (the middleware says 429 with Retry-After), never a longer queue; a remembered
// success needs no slot, so clients already signed in keep working during a flood. Failures are never remembered.
// SHA1 checks (one digest) run inline and need no slot.
import { createHmac, randomBytes } from 'node:crypto';
import { isCheap, verifySync, type PasswordHash } from './htpasswd.ts';

export interface VerifierLimits {
  cacheSize: number;
  cacheTtlMs: number;
  maxVerifying: number;
}

export const DEFAULT_LIMITS: VerifierLimits = { cacheSize: 1024, cacheTtlMs: 60_000, maxVerifying: 8 };

/** true: the password is the user's; false: not (or no such user); 'busy': too many checks running, none made. */
export type Outcome = boolean | 'busy';

export type Check = (h: PasswordHash, password: string) => Promise<boolean>;

export class Verifier {
  readonly #users: ReadonlyMap<string, PasswordHash>;
  readonly #dummy: PasswordHash;
  readonly #limits: VerifierLimits;
  readonly #now: () => number;
  readonly #key = randomBytes(32);
  /** HMAC → when the success expires */
  readonly #cache = new Map<string, number>();
  readonly #pending = new Map<string, Promise<boolean>>();
  #verifying = 0;

  readonly #verify: Check;

  /** `verify` checks the hashes that are not cheap (bcrypt, MD5-crypt): a Hasher's worker thread. */
  constructor(
    users: ReadonlyMap<string, PasswordHash>,
    verify: Check,
    limits: VerifierLimits = DEFAULT_LIMITS,
    now: () => number = performance.now.bind(performance),
  ) {
    const first = users.values().next();
    if (first.done === true) throw new Error('no users');
    this.#users = users;
    this.#dummy = first.value;
    this.#verify = verify;
    this.#limits = limits;
    this.#now = now;
  }

  /** hash checks running (or waiting in the worker) now */
  get verifying(): number {
    return this.#verifying;
  }

  /** successes remembered now (expired ones included until evicted) */
  get cached(): number {
    return this.#cache.size;
  }

  /** Whether `password` is `user`'s: synchronous for SHA1 hashes and remembered successes, else a promise. */
  check(user: string, password: string): Outcome | Promise<Outcome> {
    const key = createHmac('sha256', this.#key).update(user).update(':').update(password).digest('base64');
    const known = this.#users.get(user);
    const hash = known ?? this.#dummy;
    const expires = this.#cache.get(key);
    if (expires !== undefined) {
      if (expires > this.#now()) return true;
      this.#cache.delete(key);
    }
    if (isCheap(hash)) {
      const ok = verifySync(hash, password) && known !== undefined;
      if (ok) this.#remember(key);
      return ok;
    }
    const pending = this.#pending.get(key);
    if (pending !== undefined) return pending;
    if (this.#verifying >= this.#limits.maxVerifying) return 'busy';
    this.#verifying++;
    const p = this.#verify(hash, password)
      .then(
        (ok) => ok && known !== undefined,
        () => false,
      )
      .then((ok) => {
        this.#verifying--;
        this.#pending.delete(key);
        if (ok) this.#remember(key);
        return ok;
      });
    this.#pending.set(key, p);
    return p;
  }

  #remember(key: string): void {
    if (this.#limits.cacheSize <= 0) return;
    this.#cache.delete(key);
    while (this.#cache.size >= this.#limits.cacheSize) {
      const oldest = this.#cache.keys().next();
      if (oldest.done === true) break;
      this.#cache.delete(oldest.value);
    }
    this.#cache.set(key, this.#now() + this.#limits.cacheTtlMs);
  }
}
