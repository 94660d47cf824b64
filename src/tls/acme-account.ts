// A resolver's ACME account: its key is made once per CA and kept in storage, and the first order of each process
// registers it (newAccount with that key answers with the existing account, so a CA that forgot it, or a changed
// email, is taken care of); the account URL the CA answers with is stored too. The Terms of Service are agreed to.
import acme from 'acme-client';
import type { Client } from 'acme-client';
import type { Logger } from 'pino';
import type { AcmeConfig } from '../config/tls-schema.ts';
import type { StoredResolver } from './acme-storage.ts';

export interface AccountOptions {
  resolver: string;
  config: AcmeConfig;
  stored: StoredResolver;
  /** writes the storage file (a failure is the caller's to log) */
  save: () => void;
  log: Logger;
}

/** A client registered with the CA (called inside the resolver's transport). */
export async function registeredClient(o: AccountOptions): Promise<Client> {
  const ca = o.config.caServer;
  const email = o.config.email ?? null;
  let account = o.stored.accounts[ca];
  if (account === undefined) {
    const keyPem = (await acme.crypto.createPrivateEcdsaKey('P-256')).toString();
    account = { keyPem, url: null, email, createdAt: new Date().toISOString() };
    o.stored.accounts[ca] = account;
    o.save(); // the key first: a registration whose answer is lost is found again with it
  }
  // backoffAttempts 1: acme-client's own status polling (unused here) would sleep on timers nothing cancels
  const client = new acme.Client({ directoryUrl: ca, accountKey: account.keyPem, backoffAttempts: 1 });
  await client.createAccount({
    termsOfServiceAgreed: true,
    ...(email !== null ? { contact: [`mailto:${email}`] } : {}),
  });
  const url = client.getAccountUrl();
  if (url !== account.url || email !== account.email) {
    account.url = url;
    account.email = email;
    o.save();
  }
  o.log.info({ resolver: o.resolver, caServer: ca, account: url }, 'ACME account ready');
  return client;
}
