// One ACME order (RFC 8555 §7.4) with acme-client's low-level calls: a fresh certificate key and CSR, newOrder,
// every authorization's HTTP-01 or TLS-ALPN-01 challenge served from the challenge board and completed, then
// status polls (our own, bounded and abortable) until each is valid, finalize, poll the order, download the chain.
// A failing authorization is reported with its domain and the CA's reason.
import acme from 'acme-client';
import type { Authorization, Client, Order } from 'acme-client';
import { sleep } from '../async.ts';
import type { AcmeConfig } from '../config/tls-schema.ts';
import type { ChallengeBoard } from './acme-challenges.ts';

export type ChallengeType = 'http-01' | 'tls-alpn-01';

export interface PollOptions {
  /** the first wait between status polls; each further one doubles it */
  minMs: number;
  maxMs: number;
  /** the whole order, from newOrder to the downloaded chain */
  timeoutMs: number;
}

export interface OrderRequest {
  client: Client;
  /** main domain first */
  domains: readonly string[];
  keyType: AcmeConfig['keyType'];
  challenge: ChallengeType;
  board: ChallengeBoard;
  signal: AbortSignal;
  poll: PollOptions;
}

export interface Obtained {
  /** leaf first, then the chain */
  certPem: string;
  keyPem: string;
}

/** A new private key (PEM) of the configured type. */
export async function createKey(keyType: AcmeConfig['keyType']): Promise<string> {
  switch (keyType) {
    case 'EC256':
      return (await acme.crypto.createPrivateEcdsaKey('P-256')).toString();
    case 'EC384':
      return (await acme.crypto.createPrivateEcdsaKey('P-384')).toString();
    case 'RSA2048':
      return (await acme.crypto.createPrivateRsaKey(2048)).toString();
    case 'RSA4096':
      return (await acme.crypto.createPrivateRsaKey(4096)).toString();
  }
}

/** Runs the order; throws an Error whose message says which domain failed and why. */
export async function obtainCertificate(r: OrderRequest): Promise<Obtained> {
  const deadline = Date.now() + r.poll.timeoutMs;
  const keyPem = await createKey(r.keyType);
  const main = r.domains[0];
  // the CN is limited to 64 characters; the SANs are what counts
  const [, csr] = await acme.crypto.createCsr(
    { ...(main.length <= 64 ? { commonName: main } : {}), altNames: [...r.domains] },
    keyPem,
  );
  const order = await r.client.createOrder({ identifiers: r.domains.map((value) => ({ type: 'dns', value })) });
  await authorize(r, order, deadline);
  let final = await r.client.finalizeOrder(order, csr);
  let wait = r.poll.minMs;
  while (final.status !== 'valid') {
    if (final.status === 'invalid') throw new Error(`the CA refused to issue: ${problem(final.error)}`);
    wait = await pause(r, wait, deadline, `the order is still ${final.status}`);
    final = await r.client.getOrder(final);
  }
  const certPem = await r.client.getCertificate(final);
  return { certPem, keyPem };
}

/** Serves and completes every pending authorization's challenge, then polls until all are valid. */
async function authorize(r: OrderRequest, order: Order, deadline: number): Promise<void> {
  const authzs = await r.client.getAuthorizations(order);
  const removers: Array<() => void> = [];
  try {
    const started = await Promise.allSettled(
      authzs.filter((a) => a.status !== 'valid').map((a) => start(r, a, removers)),
    );
    const failed = started.flatMap((s) => (s.status === 'rejected' ? [(s.reason as Error).message] : []));
    if (failed.length > 0) throw new Error(failed.join('; '));
    let wait = r.poll.minMs;
    for (;;) {
      const now = await r.client.getAuthorizations(order);
      const bad = now.filter((a) => a.status !== 'valid' && a.status !== 'pending');
      if (bad.length > 0) throw new Error(bad.map(authzProblem).join('; '));
      const pending = now.filter((a) => a.status === 'pending');
      if (pending.length === 0) return;
      const names = pending.map((a) => a.identifier.value).join(', ');
      wait = await pause(r, wait, deadline, `validation of ${names} still pending`);
    }
  } finally {
    for (const remove of removers) remove();
  }
}

/** Serves one authorization's challenge and tells the CA it is ready. */
async function start(r: OrderRequest, authz: Authorization, removers: Array<() => void>): Promise<void> {
  const domain = authz.identifier.value;
  const challenge = authz.challenges.find((c) => c.type === r.challenge);
  if (challenge === undefined) {
    const offered = authz.challenges.map((c) => c.type).join(', ') || 'none';
    const hint = authz.wildcard === true ? '; a wildcard needs DNS-01, which baton does not do' : '';
    throw new Error(`${domain}: the CA offers no ${r.challenge} challenge (offered: ${offered}${hint})`);
  }
  const keyAuthorization = await r.client.getChallengeKeyAuthorization(challenge);
  if (challenge.type === 'http-01') {
    removers.push(r.board.addHttp(challenge.token, keyAuthorization));
  } else {
    const alpnKey = await acme.crypto.createPrivateEcdsaKey('P-256');
    const [, cert] = await acme.crypto.createAlpnCertificate(authz, keyAuthorization, alpnKey);
    removers.push(r.board.addAlpn(domain, cert.toString(), alpnKey.toString()));
  }
  try {
    await r.client.completeChallenge(challenge);
  } catch (err) {
    throw new Error(`${domain}: ${(err as Error).message}`, { cause: err });
  }
}

/** Sleeps `wait` ms (abortable); throws when the order's time is up. Returns the next wait. */
async function pause(r: OrderRequest, wait: number, deadline: number, what: string): Promise<number> {
  if (Date.now() + wait > deadline) throw new Error(`timed out after ${r.poll.timeoutMs} ms: ${what}`);
  await sleep(wait, r.signal);
  if (r.signal.aborted) throw r.signal.reason ?? new Error('aborted');
  return Math.min(wait * 2, r.poll.maxMs);
}

function authzProblem(a: Authorization): string {
  const failed = a.challenges.find((c) => c.error !== undefined);
  return `${a.identifier.value}: authorization ${a.status}${failed !== undefined ? `: ${problem(failed.error)}` : ''}`;
}

/** An RFC 7807 problem document as one line: its detail, with its type's last part. */
export function problem(error: unknown): string {
  if (typeof error !== 'object' || error === null) return 'no reason given';
  const e = error as { type?: unknown; detail?: unknown };
  const type = typeof e.type === 'string' ? e.type.replace(/^urn:ietf:params:acme:error:/, '') : '';
  const detail = typeof e.detail === 'string' ? e.detail : JSON.stringify(error);
  return type !== '' ? `${type}: ${detail}` : detail;
}
