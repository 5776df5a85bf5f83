/**
 * How a mailbox's settings become imapflow connection options, shared by the listener and `check` so
 * both connect the same way.
 */
import type { ImapFlowOptions } from 'imapflow';
import type { MailboxEntry } from '../directory/directory.js';

/**
 * `accessToken`: an OAuth2 mailbox logs in with it (imapflow uses AUTHENTICATE OAUTHBEARER when the
 * server offers it, otherwise XOAUTH2) instead of the password.
 */
export function imapConnectionOptions(
  mailbox: Pick<MailboxEntry, 'host' | 'port' | 'tls' | 'login' | 'password'>,
  tlsCa?: string,
  accessToken?: string,
): ImapFlowOptions {
  return {
    host: mailbox.host,
    port: mailbox.port,
    // tls: implicit TLS; starttls: upgrade required; none: plaintext, never upgraded
    secure: mailbox.tls === 'tls',
    doSTARTTLS: mailbox.tls === 'starttls' ? true : mailbox.tls === 'none' ? false : undefined,
    auth:
      accessToken !== undefined
        ? { user: mailbox.login, accessToken }
        : { user: mailbox.login, pass: mailbox.password ?? '' },
    logger: false,
    tls: { minVersion: 'TLSv1.2', ...(tlsCa ? { ca: tlsCa } : {}) },
  };
}
